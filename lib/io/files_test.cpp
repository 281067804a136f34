#include "io/files.hpp"

#include <gtest/gtest.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.hpp"

using namespace cryptopipe;
namespace fs = std::filesystem;

namespace {
fs::path temp_dir() {
  auto d = fs::temp_directory_path() / ("cryptopipe_io_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}
std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}
}  // namespace

TEST(OutputSink, NothingAppearsUntilCommitAndAbandonedTempIsRemoved) {
  auto d = temp_dir();
  {
    OutputSink sink((d / "a.csv").string());
    sink.write("hello\n");
    EXPECT_FALSE(fs::exists(d / "a.csv"));
  }
  EXPECT_TRUE(fs::is_empty(d));
  OutputSink sink((d / "a.csv").string());
  sink.write("hello\n");
  sink.commit();
  EXPECT_EQ(slurp(d / "a.csv"), "hello\n");
  EXPECT_EQ(sink.sha256_hex(), "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03");
}

TEST(OutputSink, GzipOutputDecompressesToTheInput) {
  auto d = temp_dir();
  std::string text;
  for (int i = 0; i < 20000; ++i) text += "BITSTAMP_SPOT_BTC_USD,5MIN," + std::to_string(i) + "\n";
  OutputSink sink((d / "a.csv.gz").string(), true);
  sink.write(text);
  sink.commit();
  gzFile gz = gzopen((d / "a.csv.gz").string().c_str(), "rb");
  std::string back(text.size() + 10, '\0');
  int n = gzread(gz, back.data(), static_cast<unsigned>(back.size()));
  gzclose(gz);
  back.resize(static_cast<size_t>(n));
  EXPECT_EQ(back, text);
  EXPECT_LT(sink.bytes_out(), text.size() / 4);
}

TEST(OutputSink, UnwritableDirectoryIsAClearError) {
  try {
    OutputSink sink("/nonexistent-dir/x.csv");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent-dir/x.csv: cannot create file"), std::string::npos);
  }
}

TEST(LineReader, ReadsLongLinesAndCountsOffsets) {
  auto d = temp_dir();
  std::string long_line(200000, 'x');
  std::ofstream(d / "in.txt") << "a\n" << long_line << "\nlast";
  LineReader r((d / "in.txt").string());
  std::string line;
  ASSERT_TRUE(r.next(line));
  EXPECT_EQ(line, "a");
  ASSERT_TRUE(r.next(line));
  EXPECT_EQ(line.size(), long_line.size());
  EXPECT_EQ(r.line_number(), 2u);
  EXPECT_EQ(r.line_offset(), 2u);
  ASSERT_TRUE(r.next(line));
  EXPECT_EQ(line, "last");
  EXPECT_FALSE(r.next(line));
}

TEST(OutputSink, TwoOpenSinksKeepTheirOwnBytes) {
  auto d = temp_dir();
  OutputSink a((d / "a.csv").string()), b((d / "b.jsonl").string());
  for (int i = 0; i < 5000; ++i) {
    a.write("aaaaaaaaaaaaaaaa\n");
    b.write("bbbb\n");
  }
  a.commit();
  b.commit();
  auto sa = slurp(d / "a.csv"), sb = slurp(d / "b.jsonl");
  EXPECT_EQ(sa.size(), 5000u * 17);
  EXPECT_EQ(sb.size(), 5000u * 5);
  EXPECT_EQ(sa.find('b'), std::string::npos);
  EXPECT_EQ(sb.find('a'), std::string::npos);
}
