#include "csv/gunzip.hpp"

#include <gtest/gtest.h>
#include <zlib.h>

#include "core/error.hpp"

namespace cryptopipe {
namespace {

std::string gzip_bytes(const std::string& text) {
  z_stream zs{};
  deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&zs, text.size()) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  zs.avail_in = static_cast<uInt>(text.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

std::string run(const std::string& input, std::size_t chunk) {
  std::string got;
  MaybeGunzip g("obj", [&](std::string_view d) { got.append(d); });
  for (std::size_t i = 0; i < input.size(); i += chunk) g.write(std::string_view(input).substr(i, chunk));
  g.finish();
  return got;
}

TEST(MaybeGunzip, PassesPlainBytesThrough) {
  EXPECT_EQ(run("a,b\n1,2\n", 1), "a,b\n1,2\n");
  EXPECT_EQ(run("x", 7), "x");
}

TEST(MaybeGunzip, InflatesGzipFedInAnyChunkSize) {
  std::string text;
  for (int i = 0; i < 20000; ++i) text += "BITSTAMP_SPOT_BTC_USD,5MIN," + std::to_string(i * 7919) + "\n";
  std::string gz = gzip_bytes(text);
  for (std::size_t chunk : {1u, 2u, 100u, 65536u, 1u << 22}) EXPECT_EQ(run(gz, chunk), text) << chunk;
}

TEST(MaybeGunzip, InflatesConcatenatedMembersLikeGunzip) {
  EXPECT_EQ(run(gzip_bytes("first\n") + gzip_bytes("second\n"), 3), "first\nsecond\n");
}

TEST(MaybeGunzip, TruncatedOrCorruptGzipIsBadData) {
  std::string gz = gzip_bytes(std::string(1000, 'x'));
  EXPECT_THROW(run(gz.substr(0, gz.size() - 10), 64), BadDataError);
  std::string bad = gz;
  bad[12] ^= 0x55;
  bad[13] ^= 0x55;
  EXPECT_THROW(run(bad, 64), BadDataError);
}

}  // namespace
}  // namespace cryptopipe
