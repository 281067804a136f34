// libFuzzer target: CoinAPI /v1/ohlcv/{symbol}/history response bodies through the CoinAPI page parser.
#include "fuzz_page_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  cryptopipe::fuzz::parse_page_bytes("coinapi", data, size);
  return 0;
}
