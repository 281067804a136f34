#include "providers/provider.hpp"

#include <fmt/format.h>

#include "candle/decimal.hpp"
#include "core/error.hpp"

namespace cryptopipe {

const Provider& coinapi_provider();
const Provider& bitstamp_provider();

const Provider& provider_by_name(std::string_view name) {
  // The registry: one line per provider.
  static const Provider* const all[] = {&coinapi_provider(), &bitstamp_provider()};
  for (const Provider* p : all)
    if (p->name() == name) return *p;
  throw UsageError(fmt::format("provider \"{}\": unknown (use coinapi or bitstamp)", name));
}

std::string read_decimal_field(const rapidjson::Value& obj, const char* field, bool nullable, std::string& out) {
  auto it = obj.FindMember(field);
  if (it == obj.MemberEnd() || it->value.IsNull()) {
    if (nullable) {
      out.clear();
      return {};
    }
    return fmt::format("{}: missing", field);
  }
  // Parsed with kParseNumbersAsStringsFlag, so JSON numbers arrive here as their exact text.
  if (!it->value.IsString()) return fmt::format("{}: not a number", field);
  std::string_view text(it->value.GetString(), it->value.GetStringLength());
  auto plain = normalize_decimal(text);
  if (!plain) return fmt::format("{}: \"{}\" is not a decimal number", field, text.substr(0, 60));
  out = std::move(*plain);
  return {};
}

}  // namespace cryptopipe
