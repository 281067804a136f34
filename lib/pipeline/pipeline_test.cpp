#include <fmt/format.h>
#include <gtest/gtest.h>

#include <deque>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.hpp"
#include "pipeline/extract.hpp"
#include "pipeline/transform.hpp"

using namespace cryptopipe;
namespace fs = std::filesystem;

namespace {
class FakeClock : public Clock {
 public:
  std::int64_t now = *parse_timestamp("2024-06-01");
  std::int64_t now_us() override { return now; }
  void sleep_for(std::chrono::milliseconds d) override { now += d.count() * 1000; }
};

/// Serves Bitstamp pages from a fixed series of candles, honouring start and limit like the real API.
class FakeBitstamp : public HttpClient {
 public:
  std::vector<std::string> urls;
  std::int64_t first = 1704067200;
  int count = 2500;
  HttpResponse send(const HttpRequest& r) override {
    urls.push_back(r.url);
    auto param = [&](const std::string& k) {
      auto p = r.url.find(k + "=");
      return std::stoll(r.url.substr(p + k.size() + 1));
    };
    std::int64_t start = param("start"), limit = param("limit");
    std::string body = R"({"data":{"pair":"BTC/USD","ohlc":[)";
    bool comma = false;
    for (std::int64_t t = std::max(start, first), n = 0; t < first + count * 300 && n < limit; t += 300, ++n) {
      body += fmt::format(R"({}{{"timestamp":"{}","open":"1.0","high":"2.50","low":"0.5","close":"1","volume":"3E-2"}})",
                          comma ? "," : "", t);
      comma = true;
    }
    body += "]}}";
    HttpResponse resp;
    resp.status = 200;
    resp.body = body;
    return resp;
  }
};

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}
}  // namespace

TEST(Extract, FollowsBitstampPaginationUntilTheWindowIsCovered) {
  FakeBitstamp http;
  FakeClock clock;
  ExtractOptions o;
  o.provider = &provider_by_name("bitstamp");
  o.window.symbol_id = "BITSTAMP_SPOT_BTC_USD";
  o.window.period = period_from_id("5MIN");
  o.window.start = *parse_timestamp("2024-01-01");
  o.window.end = *parse_timestamp("2024-01-08");
  o.base_url = "http://replay";
  std::string out;
  auto stats = run_extract(o, http, clock, [&](std::string_view s) { out += s; });
  EXPECT_EQ(stats.candles, 2016u);  // 7 days of 5-minute candles
  ASSERT_EQ(http.urls.size(), 3u);
  EXPECT_EQ(http.urls[1], "http://replay/api/v2/ohlc/btcusd/?step=300&limit=1000&start=1704367200");
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 3);
  EXPECT_NE(out.find(R"("volume":"3E-2")"), std::string::npos);
}

TEST(Transform, WritesSortedCanonicalCsvKeepingTheLastDuplicateAcrossSpilledRuns) {
  auto dir = fs::temp_directory_path() / "cryptopipe_transform_test";
  fs::create_directories(dir);
  std::string page1 = R"({"data":{"ohlc":[{"timestamp":"1704067500","open":"1","high":"1","low":"1","close":"1","volume":"1"},)"
                      R"({"timestamp":"1704067200","open":"2","high":"2","low":"2","close":"2","volume":"2"}]}})";
  std::string page2 = R"({"data":{"ohlc":[{"timestamp":"1704067500","open":"3","high":"3","low":"3","close":"3","volume":"1.5E-07"}]}})";
  std::ofstream(dir / "raw.jsonl") << R"({"provider":"bitstamp","symbol_id":"BITSTAMP_SPOT_BTC_USD","period_id":"5MIN","body":)"
                                   << page1 << "}\n"
                                   << R"({"provider":"bitstamp","symbol_id":"BITSTAMP_SPOT_BTC_USD","period_id":"5MIN","body":)"
                                   << page2 << "}\n";
  LineReader in((dir / "raw.jsonl").string());
  OutputSink out((dir / "out.csv").string());
  TransformOptions opt;
  opt.spill_bytes = 1;  // force every row into its own run to exercise the merge
  auto stats = run_transform(in, out, nullptr, opt);
  out.commit();
  EXPECT_EQ(stats.rows, 2u);
  EXPECT_EQ(stats.duplicates, 1u);
  EXPECT_EQ(slurp(dir / "out.csv"),
            std::string(kCanonicalHeader) +
                "\nBITSTAMP_SPOT_BTC_USD,5MIN,2024-01-01 00:00:00+00,2024-01-01 00:05:00+00,,,2,2,2,2,2,,bitstamp\n"
                "BITSTAMP_SPOT_BTC_USD,5MIN,2024-01-01 00:05:00+00,2024-01-01 00:10:00+00,,,3,3,3,3,0.00000015,,bitstamp\n");
}

TEST(Transform, MalformedJsonNamesLineAndByteOffset) {
  auto dir = fs::temp_directory_path() / "cryptopipe_transform_test";
  fs::create_directories(dir);
  std::ofstream(dir / "bad.jsonl") << "{\"provider\":\"bitstamp\"}\n{\"provider\": tru\n";
  LineReader in((dir / "bad.jsonl").string());
  OutputSink out((dir / "never.csv").string());
  try {
    run_transform(in, out, nullptr, {});
    FAIL();
  } catch (const BadDataError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("bad.jsonl: line 1: field \"symbol_id\": missing"), std::string::npos) << m;
  }
  std::ofstream(dir / "bad2.jsonl") << "\n{\"provider\": tru\n";
  LineReader in3((dir / "bad2.jsonl").string());
  try {
    run_transform(in3, out, nullptr, {});
    FAIL();
  } catch (const BadDataError& e) {
    EXPECT_NE(std::string(e.what()).find("line 2, byte offset 17: malformed JSON"), std::string::npos) << e.what();
  }
}
