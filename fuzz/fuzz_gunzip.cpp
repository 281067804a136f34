// libFuzzer target: MaybeGunzip (lib/csv/gunzip.hpp), which inflates objects copy-redshift streams from S3.
// Two properties: arbitrary bytes fed in arbitrary chunks either pass through / inflate or throw BadDataError;
// and the input gzip-compressed by zlib comes back byte for byte whatever the chunking.
#include <zlib.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "csv/gunzip.hpp"

namespace {

std::string feed(std::string_view bytes, std::size_t chunk) {
  std::string out;
  cryptopipe::MaybeGunzip g("fuzz", [&](std::string_view s) { out.append(s); });
  for (std::size_t i = 0; i < bytes.size(); i += chunk) g.write(bytes.substr(i, chunk));
  g.finish();
  return out;
}

std::string gzip(std::string_view in) {
  z_stream zs{};
  if (deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) std::abort();
  std::string out(deflateBound(&zs, in.size()) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  if (deflate(&zs, Z_FINISH) != Z_STREAM_END) std::abort();
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t chunk = 1 + data[0] % 64;
  std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    std::string out = feed(bytes, chunk);
    // Not gzip: passed through untouched.
    if (!(bytes.size() >= 2 && static_cast<unsigned char>(bytes[0]) == 0x1f &&
          static_cast<unsigned char>(bytes[1]) == 0x8b) &&
        out != bytes)
      std::abort();
  } catch (const cryptopipe::BadDataError&) {
  }
  if (feed(gzip(bytes), chunk) != bytes) std::abort();
  return 0;
}
