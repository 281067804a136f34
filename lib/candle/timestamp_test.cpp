#include "candle/timestamp.hpp"

#include <gtest/gtest.h>

using namespace cryptopipe;

TEST(Timestamp, KeepsSevenDigitFractionsAsMicroseconds) {
  auto t = parse_timestamp("2024-01-01T00:05:00.1234567Z");
  ASSERT_TRUE(t);
  EXPECT_EQ(format_timestamp(*t), "2024-01-01 00:05:00.123456+00");
  EXPECT_EQ(format_timestamp(*parse_timestamp("2024-01-01T00:00:00.0000000Z")), "2024-01-01 00:00:00+00");
}

TEST(Timestamp, AcceptsRfc3339OffsetsDatesAndPostgresOutput) {
  EXPECT_EQ(*parse_timestamp("2024-01-01"), 1704067200LL * 1000000);
  EXPECT_EQ(*parse_timestamp("2024-01-01T01:00:00+01:00"), 1704067200LL * 1000000);
  EXPECT_EQ(*parse_timestamp("2024-01-01 00:00:00+00"), 1704067200LL * 1000000);
  EXPECT_EQ(format_rfc3339(1704067200LL * 1000000), "2024-01-01T00:00:00Z");
}

TEST(Timestamp, RefusesAmbiguousOrInvalidText) {
  for (const char* bad : {"2024-01-01T00:00:00", "2024-02-30", "2024-13-01", "20240101", "2024-01-01T25:00:00Z",
                          "2024-01-01T00:00:00.Z", "yesterday", ""}) {
    EXPECT_FALSE(parse_timestamp(bad).has_value()) << bad;
  }
}

TEST(Timestamp, LeapDayAndPreEpochRoundTrip) {
  auto t = parse_timestamp("2024-02-29T23:59:59.999999Z");
  ASSERT_TRUE(t);
  EXPECT_EQ(format_timestamp(*t), "2024-02-29 23:59:59.999999+00");
  EXPECT_EQ(format_timestamp(*parse_timestamp("1969-12-31T23:59:59.5Z")), "1969-12-31 23:59:59.500000+00");
}

TEST(Timestamp, RefusesAnOffsetThatLeavesYears1To9999) {
  EXPECT_FALSE(parse_timestamp("9999-12-31T23:00:00-05:00").has_value());
  EXPECT_FALSE(parse_timestamp("0001-01-01T00:00:00+01:00").has_value());
  EXPECT_FALSE(parse_timestamp("0000-02-05").has_value());  // fuzz_timestamp, CI seed 1
  EXPECT_TRUE(parse_timestamp("9999-12-31T23:59:59Z").has_value());
}

TEST(Timestamp, RefusesATruncatedTimeWithoutReadingPastTheEnd) {
  std::string text = "2024-01-01T02:00:00Z";
  for (std::size_t n = 11; n < 19; ++n) {
    std::string cut = text.substr(0, n);  // its own allocation: ASan flags any read past it
    EXPECT_FALSE(parse_timestamp(std::string_view(cut.data(), cut.size())).has_value()) << cut;
  }
}
