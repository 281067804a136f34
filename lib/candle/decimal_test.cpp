#include "candle/decimal.hpp"

#include <gtest/gtest.h>

using cryptopipe::compare_decimal;
using cryptopipe::normalize_decimal;

TEST(NormalizeDecimal, KeepsPlainTextExactlyIncludingTrailingZeros) {
  EXPECT_EQ(normalize_decimal("42123.45000"), "42123.45000");
  EXPECT_EQ(normalize_decimal("100.10"), "100.10");
  EXPECT_EQ(normalize_decimal("12345678901234567890.123456789012345678"), "12345678901234567890.123456789012345678");
  EXPECT_EQ(normalize_decimal("0"), "0");
  EXPECT_EQ(normalize_decimal("-0"), "-0");
  EXPECT_EQ(normalize_decimal(".5"), "0.5");
}

TEST(NormalizeDecimal, RewritesExponentNotationByMovingThePoint) {
  EXPECT_EQ(normalize_decimal("1.5E-07"), "0.00000015");
  EXPECT_EQ(normalize_decimal("1.5e-7"), "0.00000015");
  EXPECT_EQ(normalize_decimal("1.5E+3"), "1500");
  EXPECT_EQ(normalize_decimal("1.25E1"), "12.5");
  EXPECT_EQ(normalize_decimal("-2E-2"), "-0.02");
  EXPECT_EQ(normalize_decimal("123E0"), "123");
  EXPECT_EQ(normalize_decimal("0.0001E4"), "1");
}

TEST(NormalizeDecimal, RefusesWhatIsNotADecimal) {
  for (const char* bad : {"", "NaN", "Infinity", "-Infinity", "1,000.5", "1e400", "1.2.3", "abc", "1e", "--1", "0x10",
                          " 1", "1 "}) {
    EXPECT_FALSE(normalize_decimal(bad).has_value()) << bad;
  }
}

TEST(CompareDecimal, ComparesNumericallyNotTextually) {
  EXPECT_LT(compare_decimal("9.5", "10"), 0);
  EXPECT_EQ(compare_decimal("1.50", "1.5"), 0);
  EXPECT_EQ(compare_decimal("-0", "0"), 0);
  EXPECT_LT(compare_decimal("-2", "-1"), 0);
  EXPECT_GT(compare_decimal("0.00000016", "0.00000015"), 0);
  EXPECT_LT(compare_decimal("007", "8"), 0);
}
