#include "core/identifier.hpp"

#include <gtest/gtest.h>

#include "core/error.hpp"

using cryptopipe::quote_identifier;

TEST(QuoteIdentifier, QuotesAValidName) { EXPECT_EQ(quote_identifier("ohlcv_5min", "table"), "\"ohlcv_5min\""); }

TEST(QuoteIdentifier, RefusesSqlInATableName) {
  try {
    quote_identifier("ohlcv; DROP TABLE x", "table");
    FAIL() << "expected UsageError";
  } catch (const cryptopipe::UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("table \"ohlcv; DROP TABLE x\""), std::string::npos);
    EXPECT_EQ(e.code(), cryptopipe::ExitCode::usage);
  }
}

TEST(QuoteIdentifier, RefusesQuotesUpperCaseLeadingDigitAndEmpty) {
  for (const char* bad : {"a\"b", "Ohlcv", "1abc", "", "a-b", "a b"}) {
    EXPECT_THROW(quote_identifier(bad, "table"), cryptopipe::UsageError) << bad;
  }
  EXPECT_THROW(quote_identifier(std::string(64, 'a'), "schema"), cryptopipe::UsageError);
}
