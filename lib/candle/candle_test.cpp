#include "candle/candle.hpp"

#include <gtest/gtest.h>

using namespace cryptopipe;

namespace {
Candle good() {
  Candle c;
  c.symbol_id = "BITSTAMP_SPOT_BTC_USD";
  c.period_id = "5MIN";
  c.time_period_start = *parse_timestamp("2024-01-01T00:00:00Z");
  c.time_period_end = *parse_timestamp("2024-01-01T00:05:00Z");
  c.price_open = "100.10";
  c.price_high = "101";
  c.price_low = "99.5";
  c.price_close = "100.2";
  c.volume_traded = "0.00000015";
  c.trades_count = 3;
  c.source = "bitstamp";
  return c;
}
}  // namespace

TEST(ValidateCandle, AcceptsAConsistentCandle) { EXPECT_EQ(validate_candle(good(), 300), ""); }

TEST(ValidateCandle, NamesTheFieldThatBreaksARule) {
  auto c = good();
  c.price_low = "102";
  EXPECT_NE(validate_candle(c, 300).find("price_low"), std::string::npos);
  c = good();
  c.volume_traded = "-1";
  EXPECT_NE(validate_candle(c, 300).find("volume_traded"), std::string::npos);
  c = good();
  c.time_period_end += 1;
  EXPECT_NE(validate_candle(c, 300).find("time_period_end"), std::string::npos);
  c = good();
  c.price_close = "101.01";
  EXPECT_NE(validate_candle(c, 300).find("price_close"), std::string::npos);
}

TEST(ValidateCandle, NullPricesAreAllowed) {
  auto c = good();
  c.price_open = c.price_high = c.price_low = c.price_close = "";
  EXPECT_EQ(validate_candle(c, 300), "");
}

TEST(CanonicalCsv, WritesTheRowInHeaderOrderWithEmptyNulls) {
  auto c = good();
  c.trades_count.reset();
  std::string row;
  append_csv_row(c, row);
  EXPECT_EQ(row,
            "BITSTAMP_SPOT_BTC_USD,5MIN,2024-01-01 00:00:00+00,2024-01-01 00:05:00+00,,,100.10,101,99.5,100.2,"
            "0.00000015,,bitstamp\n");
}
