// cryptopipe copy-redshift: an exported day in S3 (or a file:// lake) into the warehouse table, idempotently.
// Redshift COPYs from S3 itself; a PostgreSQL warehouse (local runs, tests) gets the bytes from this tool.
#include <cstdio>
#include <cstdlib>

#include <fmt/format.h>

#include "command.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "pg/ohlcv_table.hpp"
#include "redshift/postgres_target.hpp"
#include "redshift/redshift_sql.hpp"
#include "redshift/redshift_target.hpp"
#include "s3/object_store.hpp"

namespace cryptopipe::cli {
namespace {

enum class Target { auto_detect, redshift, postgres };

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string env_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

class CopyRedshift final : public Command {
 public:
  void declare(cxxopts::Options& o) override {
    o.add_options()("s3-uri", "s3://bucket/key or file:///path of the CSV (or of the manifest)",
                    cxxopts::value<std::string>())(
        "manifest", "--s3-uri is a Redshift manifest listing the parts")(
        "gzip", "Redshift: the object(s) are gzip'd (implied by a .gz URI; pass it for a manifest of .gz parts; the PostgreSQL target detects gzip itself)")(
        "dsn", "libpq conninfo of the warehouse (default: PG* environment variables)",
        cxxopts::value<std::string>()->default_value(""))(
        "table", "target table", cxxopts::value<std::string>()->default_value("ohlcv"))(
        "schema", "target schema", cxxopts::value<std::string>()->default_value("public"))(
        "iam-role", "IAM role ARN for Redshift's COPY (default: the AWS credentials as ACCESS_KEY_ID/SECRET_ACCESS_KEY/SESSION_TOKEN)",
        cxxopts::value<std::string>()->default_value(""))(
        "region", "bucket region for COPY's REGION (default: AWS_REGION, AWS_DEFAULT_REGION)",
        cxxopts::value<std::string>()->default_value(""))(
        "mode", "upsert, append or replace (the staged window per symbol and period)",
        cxxopts::value<std::string>()->default_value("upsert"))(
        "max-error", "COPY MAXERROR: rows Redshift may skip", cxxopts::value<int>())(
        "target", "auto (SELECT version()), redshift or postgres", cxxopts::value<std::string>()->default_value("auto"))(
        "dry-run", "print the SQL (secrets as ***) and connect to nothing")(
        "endpoint-url", "S3 endpoint for the PostgreSQL target's own GET", cxxopts::value<std::string>()->default_value(""))(
        "ca-file", "CA bundle for the S3 endpoint", cxxopts::value<std::string>()->default_value(""));
  }

  void setup(const cxxopts::ParseResult& a) override {
    uri_ = required(a, "s3-uri");
    parse_object_uri(uri_);  // usage error now rather than after connecting
    manifest_ = a.count("manifest") > 0;
    gzip_ = a.count("gzip") > 0 || ends_with(uri_, ".gz");
    dsn_ = a["dsn"].as<std::string>();
    table_ = make_table_name(a["schema"].as<std::string>(), a["table"].as<std::string>());
    iam_role_ = a["iam-role"].as<std::string>();
    region_ = a["region"].as<std::string>();
    const std::string mode = a["mode"].as<std::string>();
    if (mode == "upsert") mode_ = MergeMode::upsert;
    else if (mode == "append") mode_ = MergeMode::append;
    else if (mode == "replace") mode_ = MergeMode::replace;
    else throw UsageError("--mode \"" + mode + "\": must be upsert, append or replace");
    if (a.count("max-error")) max_error_ = a["max-error"].as<int>();
    const std::string target = a["target"].as<std::string>();
    if (target == "auto") target_ = Target::auto_detect;
    else if (target == "redshift") target_ = Target::redshift;
    else if (target == "postgres") target_ = Target::postgres;
    else throw UsageError("--target \"" + target + "\": must be auto, redshift or postgres");
    dry_run_ = a.count("dry-run") > 0;
    endpoint_ = a["endpoint-url"].as<std::string>();
    ca_file_ = a["ca-file"].as<std::string>();
  }

  int run() override {
    if (dry_run_) {
      std::fputs(target_ == Target::postgres ? postgres_dry_run().c_str()
                                             : redshift::plan_script(redshift_plan(redshift::Secrets::mask)).c_str(),
                 stdout);
      return 0;
    }
    PgConnection db(dsn_);
    const bool redshift = target_ == Target::redshift || (target_ == Target::auto_detect && is_redshift(db));
    log::info("{}: target {} is {}", db.describe(), table_.shown(), redshift ? "Redshift" : "PostgreSQL");
    MergeCounts c = redshift ? run_redshift_plan(db, redshift_plan(redshift::Secrets::reveal), table_)
                             : load_into_postgres(db);
    std::string summary = fmt::format("inserted {}, updated {}, unchanged {}", c.inserted, c.updated, c.unchanged);
    if (mode_ == MergeMode::replace) summary += fmt::format(", deleted {}", c.deleted);
    std::printf("%s\n", summary.c_str());
    return 0;
  }

 private:
  std::vector<redshift::Statement> redshift_plan(redshift::Secrets secrets) {
    if (parse_object_uri(uri_).scheme != "s3")
      throw UsageError("--s3-uri: Redshift can only COPY from s3:// (use --target postgres for a file:// lake)");
    redshift::CopySpec spec;
    spec.target = table_;
    spec.s3_uri = uri_;
    spec.gzip = gzip_;
    spec.manifest = manifest_;
    spec.max_error = max_error_;
    spec.region = !region_.empty() ? region_ : !env_or_empty("AWS_REGION").empty() ? env_or_empty("AWS_REGION")
                                                                                      : env_or_empty("AWS_DEFAULT_REGION");
    spec.credentials.iam_role = iam_role_;
    if (iam_role_.empty()) {
      AwsCredentials creds = resolve_aws_credentials();
      spec.credentials.access_key_id = creds.access_key_id;
      spec.credentials.secret_access_key = creds.secret_access_key;
      spec.credentials.session_token = creds.session_token;
    }
    redshift::validate_copy_spec(spec);
    return redshift::load_plan(spec, mode_, secrets);
  }

  MergeCounts load_into_postgres(PgConnection& db) {
    S3Settings s3 = resolve_s3_settings(region_, endpoint_);
    if (!ca_file_.empty()) s3.ca_file = ca_file_;
    ensure_table(db, table_);
    auto objects = objects_to_load(parse_object_uri(uri_), manifest_, s3);
    return copy_objects_into_postgres(db, table_, objects, s3, mode_);
  }

  std::string postgres_dry_run() const {
    static const char* const kModes[] = {"upsert", "append", "replace"};
    return fmt::format(
        "-- target postgres: cryptopipe GETs {}{} itself, gunzips it and streams it into the stage\n"
        "{};\nBEGIN;\nCREATE TEMP TABLE stage (LIKE {} INCLUDING DEFAULTS) ON COMMIT DROP;\n"
        "COPY stage ({}) FROM STDIN (FORMAT csv);\n-- merge stage into {} ({}, as load-postgres)\nCOMMIT;\n",
        uri_, manifest_ ? " (a manifest: every entry)" : "", postgres_ddl(table_), table_.qualified(),
        kCanonicalColumns, table_.qualified(), kModes[static_cast<int>(mode_)]);
  }

  std::string uri_, dsn_, iam_role_, region_, endpoint_, ca_file_;
  bool manifest_ = false, gzip_ = false, dry_run_ = false;
  TableName table_;
  MergeMode mode_ = MergeMode::upsert;
  std::optional<int> max_error_;
  Target target_ = Target::auto_detect;
};

}  // namespace

std::unique_ptr<Command> make_copy_redshift() { return std::make_unique<CopyRedshift>(); }

}  // namespace cryptopipe::cli
