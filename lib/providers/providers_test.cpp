#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <cstdlib>

#include "core/error.hpp"
#include "providers/provider.hpp"

using namespace cryptopipe;

namespace {
rapidjson::Document parse(std::string& text) {
  rapidjson::Document d;
  d.ParseInsitu<rapidjson::kParseNumbersAsStringsFlag>(text.data());
  EXPECT_FALSE(d.HasParseError());
  return d;
}
const Period five{"5MIN", 300};
}  // namespace

TEST(CoinApiParser, KeepsSevenDigitFractionsAsMicrosecondsAndExactNumberText) {
  std::string body = R"([{"time_period_start":"2024-01-01T00:00:00.0000000Z","time_period_end":"2024-01-01T00:05:00.0000000Z",
    "time_open":"2024-01-01T00:00:01.1234567Z","time_close":"2024-01-01T00:04:59.9000000Z",
    "price_open":42123.45000,"price_high":42200.1,"price_low":42000,"price_close":42150.55,
    "volume_traded":1.5E-07,"trades_count":12}])";
  auto d = parse(body);
  auto page = provider_by_name("coinapi").parse_page(d, "COINBASE_SPOT_BTC_USD", five);
  ASSERT_EQ(page.candles.size(), 1u) << (page.rejects.empty() ? "" : page.rejects[0].reason);
  const auto& c = page.candles[0];
  EXPECT_EQ(format_timestamp(*c.time_open), "2024-01-01 00:00:01.123456+00");
  EXPECT_EQ(c.price_open, "42123.45000");
  EXPECT_EQ(c.price_low, "42000");
  EXPECT_EQ(c.volume_traded, "0.00000015");
  EXPECT_EQ(*c.trades_count, 12);
  EXPECT_EQ(c.source, "coinapi");
}

TEST(CoinApiParser, NullPricesBecomeEmptyAndBadCandlesAreRejectedWithTheField) {
  std::string body = R"([
    {"time_period_start":"2024-01-01T00:00:00.0000000Z","time_period_end":"2024-01-01T00:05:00.0000000Z",
     "price_open":null,"price_high":null,"price_low":null,"price_close":null,"volume_traded":0,"trades_count":0},
    {"time_period_start":"2024-01-01T00:05:00.0000000Z","time_period_end":"2024-01-01T00:10:00.0000000Z",
     "price_open":"NaN","price_high":1,"price_low":1,"price_close":1,"volume_traded":0,"trades_count":0},
    {"time_period_start":"2024-01-01T00:10:00.0000000Z","time_period_end":"2024-01-01T00:15:00.0000000Z",
     "price_open":1,"price_high":1,"price_low":2,"price_close":1,"volume_traded":0,"trades_count":0}])";
  auto d = parse(body);
  auto page = provider_by_name("coinapi").parse_page(d, "X_SPOT_A_B", five);
  ASSERT_EQ(page.candles.size(), 1u);
  EXPECT_EQ(page.candles[0].price_open, "");
  ASSERT_EQ(page.rejects.size(), 2u);
  EXPECT_NE(page.rejects[0].reason.find("price_open"), std::string::npos);
  EXPECT_NE(page.rejects[1].reason.find("price_low"), std::string::npos);
  EXPECT_EQ(page.entries, 3u);
}

TEST(CoinApiParser, RefusesABodyThatIsNotAnArray) {
  std::string body = R"({"error":"Invalid API key"})";
  auto d = parse(body);
  EXPECT_THROW(provider_by_name("coinapi").parse_page(d, "X", five), BadDataError);
}

TEST(CoinApi, KeyTravelsOnlyInTheHeaderAndIsRequired) {
  ExtractWindow w{"BITSTAMP_SPOT_BTC_USD", five, *parse_timestamp("2024-01-01"), *parse_timestamp("2024-01-02")};
  ::unsetenv("COINAPI_KEY");
  EXPECT_THROW(provider_by_name("coinapi").validate(w), UsageError);
  ::setenv("COINAPI_KEY", "sekrit-key", 1);
  auto r = provider_by_name("coinapi").page_request("http://h", w, w.start);
  EXPECT_EQ(r.url,
            "http://h/v1/ohlcv/BITSTAMP_SPOT_BTC_USD/history?period_id=5MIN&time_start=2024-01-01T00:00:00"
            "&time_end=2024-01-02T00:00:00&limit=100000");
  EXPECT_EQ(r.url.find("sekrit"), std::string::npos);
  ASSERT_FALSE(r.headers.empty());
  EXPECT_EQ(r.headers[0], (std::pair<std::string, std::string>{"X-CoinAPI-Key", "sekrit-key"}));
  ::unsetenv("COINAPI_KEY");
}

TEST(BitstampParser, MapsStringsToCanonicalCandles) {
  std::string body = R"({"data":{"pair":"BTC/USD","ohlc":[
    {"timestamp":"1704067200","open":"42000.00","high":"42100.5","low":"41999","close":"42050","volume":"1.23456789"}]}})";
  auto d = parse(body);
  auto page = provider_by_name("bitstamp").parse_page(d, "BITSTAMP_SPOT_BTC_USD", five);
  ASSERT_EQ(page.candles.size(), 1u);
  std::string row;
  append_csv_row(page.candles[0], row);
  EXPECT_EQ(row,
            "BITSTAMP_SPOT_BTC_USD,5MIN,2024-01-01 00:00:00+00,2024-01-01 00:05:00+00,,,42000.00,42100.5,41999,42050,"
            "1.23456789,,bitstamp\n");
}

TEST(Bitstamp, MapsSymbolToPairAndPagesWithStartAndLimit) {
  ExtractWindow w{"BITSTAMP_SPOT_ETH_USD", five, *parse_timestamp("2024-01-01"), *parse_timestamp("2024-01-01T01:00:00Z")};
  auto r = provider_by_name("bitstamp").page_request("http://h", w, w.start);
  EXPECT_EQ(r.url, "http://h/api/v2/ohlc/ethusd/?step=300&limit=12&start=1704067200");
  w.symbol_id = "COINBASE_SPOT_BTC_USD";
  EXPECT_THROW(provider_by_name("bitstamp").validate(w), UsageError);
}

TEST(ProviderRegistry, UnknownProviderIsAUsageError) { EXPECT_THROW(provider_by_name("kraken"), UsageError); }
