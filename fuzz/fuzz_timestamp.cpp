// libFuzzer target: parse_timestamp on arbitrary text. Property: whatever it accepts formats to canonical text
// (format_timestamp) and RFC 3339 (format_rfc3339) that parse back to the same instant.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "candle/timestamp.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace cryptopipe;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto t = parse_timestamp(text);
  if (!t) return 0;
  auto again = parse_timestamp(format_timestamp(*t));
  if (!again || *again != *t) std::abort();
  auto rfc = parse_timestamp(format_rfc3339(*t));
  if (!rfc || *rfc != *t) std::abort();
  return 0;
}
