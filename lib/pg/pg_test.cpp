#include <gtest/gtest.h>

#include "core/error.hpp"
#include "pg/ohlcv_table.hpp"

using namespace cryptopipe;

TEST(PostgresDdl, QuotesValidatedNamesAndKeysOnSymbolPeriodStart) {
  auto ddl = postgres_ddl(make_table_name("public", "ohlcv"));
  EXPECT_EQ(ddl.rfind("CREATE TABLE IF NOT EXISTS \"public\".\"ohlcv\" (", 0), 0u);
  EXPECT_NE(ddl.find("PRIMARY KEY (symbol_id, period_id, time_period_start)"), std::string::npos);
  EXPECT_NE(ddl.find("price_open numeric"), std::string::npos);
  EXPECT_NE(ddl.find("loaded_at timestamptz NOT NULL DEFAULT now()"), std::string::npos);
}

TEST(PostgresDdl, RefusesATableNameCarryingSql) {
  EXPECT_THROW(make_table_name("public", "ohlcv\"; DROP TABLE ohlcv; --"), UsageError);
}

TEST(SqlState, MapsToTheErrorPolicy) {
  EXPECT_EQ(exit_code_for_sqlstate("22P02"), 3);  // invalid text representation
  EXPECT_EQ(exit_code_for_sqlstate("23505"), 3);
  EXPECT_EQ(exit_code_for_sqlstate("57P01"), 5);  // admin shutdown
  EXPECT_EQ(exit_code_for_sqlstate("40P01"), 5);  // deadlock
  EXPECT_EQ(exit_code_for_sqlstate("28P01"), 4);
  EXPECT_EQ(exit_code_for_sqlstate(""), 5);
  EXPECT_EQ(exit_code_for_sqlstate("42P01"), 1);
}
