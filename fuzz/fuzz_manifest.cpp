// libFuzzer target: parse_manifest (lib/csv/export.hpp), the Redshift manifest copy-redshift reads back from the
// object store. Arbitrary JSON must parse or throw a cryptopipe::Error, never crash.
#include <cstdint>
#include <string>

#include "core/error.hpp"
#include "csv/export.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string json(reinterpret_cast<const char*>(data), size);
  try {
    auto urls = cryptopipe::parse_manifest(json, "fuzz.manifest");
    (void)urls;
  } catch (const cryptopipe::Error&) {
  }
  return 0;
}
