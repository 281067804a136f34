#include "redshift/redshift_sql.hpp"

#include <fmt/format.h>

#include <regex>

#include "core/error.hpp"
#include "core/identifier.hpp"

namespace cryptopipe::redshift {
namespace {

const char* const kKeyColumns[] = {"symbol_id", "period_id", "time_period_start"};
// Value columns with whether they may be NULL (NULL-safe comparison needs the longer form).
struct ValueColumn {
  const char* name;
  bool nullable;
};
const ValueColumn kValueColumns[] = {
    {"time_period_end", false}, {"time_open", true},     {"time_close", true},    {"price_open", true},
    {"price_high", true},       {"price_low", true},     {"price_close", true},   {"volume_traded", true},
    {"trades_count", true},     {"source", false},
};

/// Values inside SQL literals: no quote, no backslash (Redshift treats it as an escape), printable ASCII only.
bool literal_safe(const std::string& s) {
  if (s.empty()) return false;
  for (unsigned char c : s)
    if (c < 0x20 || c > 0x7e || c == '\'' || c == '\\') return false;
  return true;
}

std::string key_match(const std::string& a, const std::string& b) {
  std::string out;
  for (const char* c : kKeyColumns) out += fmt::format("{}{}.{} = {}.{}", out.empty() ? "" : "\n  AND ", a, c, b, c);
  return out;
}

std::string prefixed_columns(const std::string& prefix) {
  std::string out;
  for (const char* c : kKeyColumns) out += fmt::format("{}{}{}", out.empty() ? "" : ", ", prefix, c);
  for (const auto& c : kValueColumns) out += fmt::format(", {}{}", prefix, c.name);
  return out;
}

}  // namespace

void validate_copy_spec(const CopySpec& spec) {
  static const std::regex s3_uri(R"(^s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]/.+$)");
  if (!std::regex_match(spec.s3_uri, s3_uri) || !literal_safe(spec.s3_uri))
    throw UsageError("--s3-uri: Redshift COPY needs s3://bucket/key (printable ASCII, no quote or backslash)");
  const auto& c = spec.credentials;
  if (!c.iam_role.empty()) {
    // A comma-separated chain of role ARNs is allowed by COPY (role chaining).
    static const std::regex role(
        R"(^arn:aws[a-z\-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/\-]+(,arn:aws[a-z\-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/\-]+)*$)");
    if (!std::regex_match(c.iam_role, role)) throw UsageError("--iam-role: not an IAM role ARN (arn:aws:iam::<account>:role/<name>)");
  } else {
    static const std::regex key_id("^[A-Za-z0-9]{1,128}$");
    if (!std::regex_match(c.access_key_id, key_id))
      throw UsageError("AWS credentials: no --iam-role and no usable access key id for COPY");
    if (!literal_safe(c.secret_access_key))
      throw UsageError("AWS credentials: the secret access key is empty or has characters COPY cannot take");
    if (!c.session_token.empty() && !literal_safe(c.session_token))
      throw UsageError("AWS credentials: the session token has characters COPY cannot take");
  }
  static const std::regex region("^[a-z]{2}(-[a-z]+)+-[0-9]+$");
  if (!spec.region.empty() && !std::regex_match(spec.region, region))
    throw UsageError("--region: not an AWS region name (e.g. us-east-1)");
  if (spec.max_error && (*spec.max_error < 0 || *spec.max_error > 100000))
    throw UsageError("--max-error: must be between 0 and 100000");
}

std::string redshift_ddl(const TableName& t) {
  return fmt::format(
      "CREATE TABLE IF NOT EXISTS {} (\n"
      "  symbol_id VARCHAR(64) NOT NULL,\n"
      "  period_id VARCHAR(16) NOT NULL,\n"
      "  time_period_start TIMESTAMPTZ NOT NULL,\n"
      "  time_period_end TIMESTAMPTZ NOT NULL,\n"
      "  time_open TIMESTAMPTZ,\n"
      "  time_close TIMESTAMPTZ,\n"
      "  price_open DECIMAL(38,18),\n"
      "  price_high DECIMAL(38,18),\n"
      "  price_low DECIMAL(38,18),\n"
      "  price_close DECIMAL(38,18),\n"
      "  volume_traded DECIMAL(38,18),\n"
      "  trades_count BIGINT,\n"
      "  source VARCHAR(64) NOT NULL,\n"
      "  loaded_at TIMESTAMPTZ NOT NULL DEFAULT GETDATE(),\n"
      "  PRIMARY KEY (symbol_id, period_id, time_period_start)\n"
      ")\n"
      "DISTKEY(symbol_id)\n"
      "SORTKEY(symbol_id, time_period_start)",
      t.qualified());
}

std::string copy_sql(const CopySpec& spec, Secrets secrets) {
  auto secret = [&](const std::string& s) { return secrets == Secrets::mask ? std::string("***") : s; };
  std::string sql = fmt::format("COPY stage ({})\nFROM '{}'\n", prefixed_columns(""), spec.s3_uri);
  const auto& c = spec.credentials;
  if (!c.iam_role.empty()) {
    sql += fmt::format("IAM_ROLE '{}'\n", c.iam_role);
  } else {
    sql += fmt::format("ACCESS_KEY_ID '{}'\nSECRET_ACCESS_KEY '{}'\n", c.access_key_id, secret(c.secret_access_key));
    if (!c.session_token.empty()) sql += fmt::format("SESSION_TOKEN '{}'\n", secret(c.session_token));
  }
  sql += "FORMAT AS CSV\nIGNOREHEADER 1\n";
  if (spec.gzip) sql += "GZIP\n";
  sql += "TIMEFORMAT 'auto'";
  if (!spec.region.empty()) sql += fmt::format("\nREGION '{}'", spec.region);
  if (spec.manifest) sql += "\nMANIFEST";
  if (spec.max_error) sql += fmt::format("\nMAXERROR {}", *spec.max_error);
  return sql;
}

std::vector<Statement> load_plan(const CopySpec& spec, MergeMode mode, Secrets secrets) {
  const TableName& t = spec.target;
  const std::string target = t.qualified();
  const std::string columns = prefixed_columns("");
  std::vector<Statement> plan;
  plan.push_back({Step::create_schema, "CREATE SCHEMA IF NOT EXISTS " + quote_identifier(t.schema, "schema")});
  plan.push_back({Step::create_table, redshift_ddl(t)});
  plan.push_back({Step::begin, "BEGIN"});
  // INCLUDING DEFAULTS: LIKE copies NOT NULL, and loaded_at is not in the COPY column list.
  plan.push_back({Step::create_stage, fmt::format("CREATE TEMP TABLE stage (LIKE {} INCLUDING DEFAULTS)", target)});
  plan.push_back({Step::copy, copy_sql(spec, secrets)});
  plan.push_back({Step::count_staged, "SELECT COUNT(*) FROM stage"});
  // MERGE fails on a target row matched by several source rows; replace/append would store duplicates.
  plan.push_back({Step::find_duplicate,
                  "SELECT symbol_id, period_id, time_period_start FROM stage\n"
                  "GROUP BY symbol_id, period_id, time_period_start\n"
                  "HAVING COUNT(*) > 1\n"
                  "LIMIT 1"});
  switch (mode) {
    case MergeMode::upsert: {
      // Redshift MERGE has no WHEN MATCHED AND <condition>: identical rows leave the stage first, so a rerun
      // rewrites nothing and the counts say what changed.
      std::string same = key_match(target, "stage");
      for (const auto& c : kValueColumns) {
        if (c.nullable)
          same += fmt::format("\n  AND ({0}.{1} = stage.{1} OR ({0}.{1} IS NULL AND stage.{1} IS NULL))", target, c.name);
        else
          same += fmt::format("\n  AND {0}.{1} = stage.{1}", target, c.name);
      }
      plan.push_back({Step::drop_unchanged, fmt::format("DELETE FROM stage\nUSING {}\nWHERE {}", target, same)});
      plan.push_back({Step::count_new, fmt::format("SELECT COUNT(*) FROM stage\nWHERE NOT EXISTS (\n  SELECT 1 FROM {}\n"
                                                   "  WHERE {})",
                                                   target, key_match(target, "stage"))});
      std::string set_list;
      for (const auto& c : kValueColumns) set_list += fmt::format("{} = s.{}, ", c.name, c.name);
      plan.push_back({Step::merge, fmt::format("MERGE INTO {0}\nUSING stage AS s\nON {1}\n"
                                               "WHEN MATCHED THEN UPDATE SET {2}loaded_at = GETDATE()\n"
                                               "WHEN NOT MATCHED THEN INSERT ({3}, loaded_at)\n"
                                               "VALUES ({4}, GETDATE())",
                                               target, key_match(target, "s"), set_list, columns,
                                               prefixed_columns("s."))});
      break;
    }
    case MergeMode::append:
      plan.push_back({Step::insert, fmt::format("INSERT INTO {} ({})\nSELECT {} FROM stage", target, columns, columns)});
      break;
    case MergeMode::replace:
      plan.push_back({Step::create_window,
                      "CREATE TEMP TABLE stage_window AS\n"
                      "SELECT symbol_id, period_id, MIN(time_period_start) AS lo, MAX(time_period_start) AS hi\n"
                      "FROM stage GROUP BY symbol_id, period_id"});
      plan.push_back({Step::delete_window,
                      fmt::format("DELETE FROM {0}\nUSING stage_window\nWHERE {0}.symbol_id = stage_window.symbol_id\n"
                                  "  AND {0}.period_id = stage_window.period_id\n"
                                  "  AND {0}.time_period_start BETWEEN stage_window.lo AND stage_window.hi",
                                  target)});
      plan.push_back({Step::insert, fmt::format("INSERT INTO {} ({})\nSELECT {} FROM stage", target, columns, columns)});
      break;
  }
  plan.push_back({Step::commit, "COMMIT"});
  return plan;
}

std::string plan_script(const std::vector<Statement>& plan) {
  std::string out;
  for (const auto& s : plan) out += s.sql + ";\n";
  return out;
}

std::string load_errors_sql(bool sys_view, int limit) {
  if (sys_view)
    return fmt::format(
        "SELECT line_number, TRIM(column_name), NULL, TRIM(error_message), TRIM(file_name)\n"
        "FROM sys_load_error_detail\n"
        "WHERE query_id = (SELECT MAX(query_id) FROM sys_load_error_detail WHERE session_id = PG_BACKEND_PID())\n"
        "ORDER BY line_number\n"
        "LIMIT {}",
        limit);
  return fmt::format(
      "SELECT line_number, TRIM(colname), TRIM(raw_field_value), TRIM(err_reason), TRIM(filename)\n"
      "FROM stl_load_errors\n"
      "WHERE query = (SELECT MAX(query) FROM stl_load_errors WHERE session = PG_BACKEND_PID())\n"
      "ORDER BY line_number\n"
      "LIMIT {}",
      limit);
}

}  // namespace cryptopipe::redshift
