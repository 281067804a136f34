// libFuzzer target: Bitstamp /api/v2/ohlc/{pair}/ response bodies through the Bitstamp page parser.
#include "fuzz_page_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  cryptopipe::fuzz::parse_page_bytes("bitstamp", data, size);
  return 0;
}
