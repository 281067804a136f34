#pragma once
// The SQL copy-redshift sends to Amazon Redshift, as pure functions of the options: golden-tested byte for byte
// (tests/golden/redshift/) and printed verbatim by --dry-run. Syntax follows AWS's Redshift reference for
// CREATE TABLE, CREATE TEMP TABLE ... (LIKE ...), COPY (CSV, IGNOREHEADER, GZIP, MANIFEST, MAXERROR, REGION,
// IAM_ROLE / ACCESS_KEY_ID+SECRET_ACCESS_KEY+SESSION_TOKEN), MERGE, DELETE ... USING and SYS_LOAD_ERROR_DETAIL.
#include <optional>
#include <string>
#include <vector>

#include "pg/ohlcv_table.hpp"

namespace cryptopipe::redshift {

/// How COPY authenticates to S3: an IAM role ARN (preferred), else the caller's session credentials.
struct CopyCredentials {
  std::string iam_role;
  std::string access_key_id, secret_access_key, session_token;
};

/// Everything the COPY statement depends on.
struct CopySpec {
  TableName target;
  std::string s3_uri;  // s3://bucket/key (the manifest's URI when manifest is set)
  CopyCredentials credentials;
  std::string region;  // empty: no REGION clause (the bucket is in the cluster's region)
  bool gzip = false;
  bool manifest = false;
  std::optional<int> max_error;
};

/// Whether secrets are written into the SQL (to run it) or replaced by *** (to show it).
enum class Secrets { reveal, mask };

/// What each statement of a load plan is for: the runner reads results of some of them.
enum class Step {
  create_schema,
  create_table,
  begin,
  create_stage,
  copy,
  count_staged,      // SELECT count(*) FROM stage
  find_duplicate,    // one duplicated key of the stage, if any (MERGE needs unique source keys)
  drop_unchanged,    // DELETE from stage the rows identical to the target's: their count is "unchanged"
  count_new,         // SELECT count(*) of stage keys absent from the target: "inserted"
  merge,             // MERGE (upsert)
  create_window,     // replace: per symbol and period, the staged min..max start
  delete_window,     // replace: DELETE the window from the target: "deleted"
  insert,            // append / replace: INSERT all staged rows
  commit,
};

struct Statement {
  Step step;
  std::string sql;
};

/// Checks the values that end up inside SQL string literals (s3 URI, role ARN, region, keys); throws UsageError
/// naming the option (never echoing a secret). After this no literal needs escaping.
void validate_copy_spec(const CopySpec& spec);

/// CREATE TABLE IF NOT EXISTS with Redshift types: DECIMAL(38,18), TIMESTAMPTZ, DISTKEY(symbol_id),
/// SORTKEY(symbol_id, time_period_start).
std::string redshift_ddl(const TableName& t);

/// The COPY of the object(s) into the temp table `stage`.
std::string copy_sql(const CopySpec& spec, Secrets secrets);

/// Every statement of one load in order, from CREATE SCHEMA to COMMIT (BEGIN .. COMMIT is one transaction).
/// `spec` must have passed validate_copy_spec.
std::vector<Statement> load_plan(const CopySpec& spec, MergeMode mode, Secrets secrets);

/// The plan as one SQL script (statements terminated by ";\n"), as --dry-run prints it.
std::string plan_script(const std::vector<Statement>& plan);

/// First rows of the load errors of this session's last failed COPY: line, column, value, reason.
/// `sys_view` selects SYS_LOAD_ERROR_DETAIL (Serverless and provisioned); false is the STL_LOAD_ERRORS fallback.
std::string load_errors_sql(bool sys_view, int limit = 10);

}  // namespace cryptopipe::redshift
