#include "core/error.hpp"

#include <fmt/format.h>

namespace cryptopipe {

void rethrow_with_context(const Error& e, const std::string& context) {
  throw Error(e.code(), fmt::format("{}: {}", context, e.what()));
}

}  // namespace cryptopipe
