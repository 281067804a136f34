#include "redshift/redshift_sql.hpp"

#include <gtest/gtest.h>

#include "core/error.hpp"
#include "redshift/golden.hpp"

namespace cryptopipe::redshift {
namespace {

using cryptopipe::testing::expect_golden;

const char* const kSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const char* const kToken = "FwoGZXIvYXdzEXAMPLETOKEN+abc/def==";

CopySpec iam_spec() {
  CopySpec s;
  s.target = make_table_name("public", "ohlcv");
  s.s3_uri = "s3://crypto-exports/ohlcv/period=5MIN/date=2024-01-01/ohlcv.csv.gz";
  s.credentials.iam_role = "arn:aws:iam::123456789012:role/cryptopipe-copy";
  s.region = "eu-west-1";
  s.gzip = true;
  return s;
}

CopySpec keys_spec() {
  CopySpec s;
  s.target = make_table_name("warehouse", "candles");
  s.s3_uri = "s3://crypto-exports/ohlcv/date=2024-01-01/ohlcv.manifest";
  s.credentials.access_key_id = "AKIAIOSFODNN7EXAMPLE";
  s.credentials.secret_access_key = kSecret;
  s.credentials.session_token = kToken;
  s.manifest = true;
  s.gzip = true;
  s.max_error = 10;
  s.region = "us-east-1";
  return s;
}

TEST(RedshiftSql, DdlUsesRedshiftTypesDistAndSortKeys) { expect_golden("redshift/ddl.sql", redshift_ddl(make_table_name("public", "ohlcv")) + "\n"); }

TEST(RedshiftSql, UpsertWithIamRoleGzipRegionMatchesGolden) {
  CopySpec s = iam_spec();
  validate_copy_spec(s);
  expect_golden("redshift/upsert_iam_gzip_region.sql", plan_script(load_plan(s, MergeMode::upsert, Secrets::mask)));
}

TEST(RedshiftSql, UpsertWithSessionKeysManifestMaxErrorMatchesGolden) {
  CopySpec s = keys_spec();
  validate_copy_spec(s);
  expect_golden("redshift/upsert_keys_token_manifest_maxerror.sql",
                plan_script(load_plan(s, MergeMode::upsert, Secrets::mask)));
}

TEST(RedshiftSql, AppendWithIamRolePlainCsvNoRegionMatchesGolden) {
  CopySpec s = iam_spec();
  s.gzip = false;
  s.region.clear();
  s.s3_uri = "s3://crypto-exports/ohlcv/day.csv";
  validate_copy_spec(s);
  expect_golden("redshift/append_iam_plain.sql", plan_script(load_plan(s, MergeMode::append, Secrets::mask)));
}

TEST(RedshiftSql, ReplaceWithKeysWithoutTokenMatchesGolden) {
  CopySpec s = keys_spec();
  s.credentials.session_token.clear();
  s.manifest = false;
  s.max_error.reset();
  s.s3_uri = "s3://crypto-exports/ohlcv/day.csv.gz";
  validate_copy_spec(s);
  expect_golden("redshift/replace_keys_gzip.sql", plan_script(load_plan(s, MergeMode::replace, Secrets::mask)));
}

TEST(RedshiftSql, ReplaceWithIamManifestMaxErrorZeroMatchesGolden) {
  CopySpec s = iam_spec();
  s.manifest = true;
  s.max_error = 0;
  s.s3_uri = "s3://crypto-exports/ohlcv/day.manifest";
  validate_copy_spec(s);
  expect_golden("redshift/replace_iam_manifest_maxerror0.sql",
                plan_script(load_plan(s, MergeMode::replace, Secrets::mask)));
}

TEST(RedshiftSql, LoadErrorQueriesMatchGolden) {
  expect_golden("redshift/load_errors_sys.sql", load_errors_sql(true) + "\n");
  expect_golden("redshift/load_errors_stl.sql", load_errors_sql(false) + "\n");
}

TEST(RedshiftSql, MaskedPlanNeverContainsTheSecretOrToken) {
  for (MergeMode mode : {MergeMode::upsert, MergeMode::append, MergeMode::replace}) {
    std::string script = plan_script(load_plan(keys_spec(), mode, Secrets::mask));
    EXPECT_EQ(script.find(kSecret), std::string::npos);
    EXPECT_EQ(script.find(kToken), std::string::npos);
    EXPECT_NE(script.find("SECRET_ACCESS_KEY '***'"), std::string::npos);
    EXPECT_NE(script.find("SESSION_TOKEN '***'"), std::string::npos);
  }
}

TEST(RedshiftSql, RevealedCopyCarriesTheCredentials) {
  std::string sql = copy_sql(keys_spec(), Secrets::reveal);
  EXPECT_NE(sql.find(std::string("SECRET_ACCESS_KEY '") + kSecret + "'"), std::string::npos);
  EXPECT_NE(sql.find(std::string("SESSION_TOKEN '") + kToken + "'"), std::string::npos);
}

TEST(RedshiftSql, ValidationRejectsValuesThatWouldEscapeALiteral) {
  CopySpec s = iam_spec();
  s.s3_uri = "s3://bucket/key' IAM_ROLE 'x";
  EXPECT_THROW(validate_copy_spec(s), UsageError);
  s = iam_spec();
  s.credentials.iam_role = "arn:aws:iam::123456789012:role/x'--";
  EXPECT_THROW(validate_copy_spec(s), UsageError);
  s = iam_spec();
  s.region = "us-east-1'";
  EXPECT_THROW(validate_copy_spec(s), UsageError);
  s = keys_spec();
  s.credentials.secret_access_key = "abc'def";
  try {
    validate_copy_spec(s);
    FAIL() << "expected UsageError";
  } catch (const UsageError& e) {
    EXPECT_EQ(std::string(e.what()).find("abc'def"), std::string::npos) << "the secret must not be echoed";
  }
  s = keys_spec();
  s.max_error = -1;
  EXPECT_THROW(validate_copy_spec(s), UsageError);
}

TEST(RedshiftSql, UpsertCountsComeBeforeTheMergeInsideOneTransaction) {
  auto plan = load_plan(iam_spec(), MergeMode::upsert, Secrets::reveal);
  std::vector<Step> steps;
  for (const auto& s : plan) steps.push_back(s.step);
  std::vector<Step> expected = {Step::create_schema, Step::create_table,   Step::begin,          Step::create_stage,
                                Step::copy,          Step::count_staged,   Step::find_duplicate, Step::drop_unchanged,
                                Step::count_new,     Step::merge,          Step::commit};
  EXPECT_EQ(steps, expected);
}

}  // namespace
}  // namespace cryptopipe::redshift
