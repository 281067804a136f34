// libFuzzer target: normalize_decimal on arbitrary text. Properties: the output is a plain decimal
// (-?digits[.digits]), normalizing it again changes nothing, it compares equal to itself, and its sign agrees
// with decimal_is_negative.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "candle/decimal.hpp"

namespace {
bool is_plain(std::string_view s) {
  std::size_t i = 0;
  if (i < s.size() && s[i] == '-') ++i;
  std::size_t digits = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i, ++digits;
  if (i < s.size() && s[i] == '.') {
    ++i;
    std::size_t frac = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i, ++frac;
    if (frac == 0) return false;
  }
  return digits > 0 && i == s.size();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace cryptopipe;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto plain = normalize_decimal(text);
  if (!plain) return 0;
  if (!is_plain(*plain)) std::abort();
  auto twice = normalize_decimal(*plain);
  if (!twice || *twice != *plain) std::abort();
  if (compare_decimal(*plain, *plain) != 0) std::abort();
  bool negative = decimal_is_negative(*plain);
  if (negative && compare_decimal(*plain, "0") >= 0) std::abort();
  if (!negative && compare_decimal(*plain, "0") < 0) std::abort();
  return 0;
}
