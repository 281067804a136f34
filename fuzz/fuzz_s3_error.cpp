// libFuzzer target: the S3 XML error parser (lib/s3/s3_client.hpp) on arbitrary response bodies. It must never
// throw, and the one-line failure description it feeds into error messages must stay one line.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "s3/s3_client.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace cryptopipe;
  const std::string body(reinterpret_cast<const char*>(data), size);
  S3ErrorBody e = parse_s3_error(body);
  (void)xml_text(body, "UploadId");
  (void)xml_text(body, "ETag");
  const std::string line = describe_s3_failure(500, body);
  if (line.find('\n') != std::string::npos || line.find('\r') != std::string::npos) std::abort();
  if (e.code.find('\n') != std::string::npos) std::abort();
  return 0;
}
