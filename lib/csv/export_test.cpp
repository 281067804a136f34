#include "csv/export.hpp"

#include <gtest/gtest.h>

#include "core/error.hpp"
#include "redshift/golden.hpp"

namespace cryptopipe {
namespace {

TEST(ExportCsv, CopyStatementMatchesGolden) {
  auto t = make_table_name("public", "ohlcv");
  UnixMicros day = *parse_timestamp("2024-01-01");
  testing::expect_golden("export/copy_day.sql", export_copy_sql(t, day, day + 86400000000LL, {}) + "\n");
  testing::expect_golden("export/copy_symbols.sql",
                         export_copy_sql(t, day, day + 3600000000LL, {"BITSTAMP_SPOT_BTC_USD", "BITSTAMP_SPOT_ETH_USD"}) +
                             "\n");
}

TEST(ExportCsv, SymbolIdsThatCouldCarrySqlAreRejected) {
  EXPECT_NO_THROW(validate_symbol_id("BITSTAMP_SPOT_BTC_USD"));
  EXPECT_THROW(validate_symbol_id("BTC'); DROP TABLE ohlcv; --"), UsageError);
  EXPECT_THROW(validate_symbol_id("bitstamp_spot_btc_usd"), UsageError);
  EXPECT_THROW(validate_symbol_id(""), UsageError);
  auto t = make_table_name("public", "ohlcv");
  EXPECT_THROW(export_copy_sql(t, 0, 1, {"X'Y"}), UsageError);
}

TEST(ExportCsv, PartsAndManifestAreNamedAfterTheOutput) {
  EXPECT_EQ(part_path("/x/day.csv.gz", true, 0), "/x/day.part0000.csv.gz");
  EXPECT_EQ(part_path("/x/day.csv", false, 12), "/x/day.part0012.csv");
  EXPECT_EQ(part_path("day.csv", true, 1), "day.part0001.csv.gz");
  EXPECT_EQ(manifest_path("/x/day.csv.gz"), "/x/day.manifest");
  EXPECT_EQ(manifest_path("/x/day"), "/x/day.manifest");
}

TEST(ExportCsv, ManifestIsRedshiftShapedAndReadsBack) {
  std::string json = redshift_manifest_json({{"s3://b/p/day.part0000.csv.gz", 123}, {"s3://b/p/day.part0001.csv.gz", 45}});
  testing::expect_golden("export/manifest.json", json);
  auto urls = parse_manifest(json, "m");
  ASSERT_EQ(urls.size(), 2u);
  EXPECT_EQ(urls[1].url, "s3://b/p/day.part0001.csv.gz");
  EXPECT_TRUE(urls[0].mandatory);
  EXPECT_THROW(parse_manifest("{\"files\":[]}", "m"), BadDataError);
  EXPECT_THROW(parse_manifest("not json", "m"), BadDataError);
}

}  // namespace
}  // namespace cryptopipe
