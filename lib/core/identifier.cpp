#include "core/identifier.hpp"

#include "core/error.hpp"

#include <fmt/format.h>

namespace cryptopipe {

std::string quote_identifier(std::string_view name, std::string_view what) {
  bool ok = !name.empty() && name.size() <= 63 && (name[0] == '_' || (name[0] >= 'a' && name[0] <= 'z'));
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) ok = false;
  }
  if (!ok) {
    // Show at most a short prefix: the value may be hostile, and the error must stay one line.
    std::string shown(name.substr(0, 40));
    for (char& c : shown)
      if (c == '\n' || c == '\r') c = ' ';
    throw UsageError(fmt::format(
        "{} \"{}\": not a valid identifier (lower-case letters, digits, _; at most 63; must not start with a digit)",
        what, shown));
  }
  return fmt::format("\"{}\"", name);
}

}  // namespace cryptopipe
