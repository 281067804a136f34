// cryptopipe export-csv: one UTC day (or window) from PostgreSQL to canonical CSV, optionally gzip'd and split
// into parts with a Redshift manifest.
#include <cstdio>

#include <fmt/format.h>

#include "command.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "csv/export.hpp"
#include "options.hpp"

namespace cryptopipe::cli {
namespace {

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

class ExportCsv final : public Command {
 public:
  void declare(cxxopts::Options& o) override {
    o.add_options()("dsn", "libpq conninfo or URI (default: PG* environment variables)",
                    cxxopts::value<std::string>()->default_value(""))(
        "table", "source table", cxxopts::value<std::string>()->default_value("ohlcv"))(
        "schema", "source schema", cxxopts::value<std::string>()->default_value("public"))(
        "date", "the UTC day YYYY-MM-DD (or --start/--end)", cxxopts::value<std::string>())(
        "start", "window start, inclusive (RFC 3339 or YYYY-MM-DD)", cxxopts::value<std::string>())(
        "end", "window end, exclusive", cxxopts::value<std::string>())(
        "symbol", "only this symbol id (repeatable)", cxxopts::value<std::vector<std::string>>())(
        "o,output", "output file (written atomically)", cxxopts::value<std::string>())(
        "gzip", "gzip the output (implied by a .gz suffix)")(
        "max-rows-per-file", "split into NAME.partNNNN.csv[.gz] files of at most N rows plus NAME.manifest",
        cxxopts::value<std::uint64_t>()->default_value("0"))(
        "manifest-url-prefix",
        "URL prefix of the parts in the manifest, e.g. s3://bucket/prefix/ (default: the parts' file:// URIs)",
        cxxopts::value<std::string>()->default_value(""));
  }

  void setup(const cxxopts::ParseResult& a) override {
    rq_.table = make_table_name(a["schema"].as<std::string>(), a["table"].as<std::string>());
    dsn_ = a["dsn"].as<std::string>();
    if (a.count("date")) {
      if (a.count("start") || a.count("end")) throw UsageError("--date: use either --date or --start/--end");
      const std::string day = a["date"].as<std::string>();
      if (day.size() != 10) throw UsageError("--date \"" + day + "\": expected YYYY-MM-DD");
      rq_.start = parse_time_flag("date", day);
      rq_.end = rq_.start + 86400LL * 1000000;
    } else {
      rq_.start = parse_time_flag("start", required(a, "start"));
      rq_.end = parse_time_flag("end", required(a, "end"));
    }
    if (rq_.end <= rq_.start) throw UsageError("--end: must be after --start");
    if (a.count("symbol")) rq_.symbols = a["symbol"].as<std::vector<std::string>>();
    for (const auto& s : rq_.symbols) validate_symbol_id(s);
    rq_.output = required(a, "output");
    if (rq_.output == "-" || rq_.output.empty()) throw UsageError("--output: a file path is required (stdout carries the summary)");
    rq_.gzip = a.count("gzip") > 0 || ends_with(rq_.output, ".gz");
    rq_.max_rows_per_file = a["max-rows-per-file"].as<std::uint64_t>();
    rq_.manifest_url_prefix = a["manifest-url-prefix"].as<std::string>();
    if (!rq_.manifest_url_prefix.empty() && rq_.max_rows_per_file == 0)
      throw UsageError("--manifest-url-prefix: only with --max-rows-per-file");
    if (!rq_.manifest_url_prefix.empty() && rq_.manifest_url_prefix.rfind("s3://", 0) != 0 &&
        rq_.manifest_url_prefix.rfind("file://", 0) != 0)
      throw UsageError("--manifest-url-prefix: must start with s3:// or file://");
  }

  int run() override {
    PgConnection db(dsn_);
    ExportResult r = run_export(db, rq_);
    if (r.rows == 0)
      log::info("{}: no candles in [{}, {}): wrote a header-only file", rq_.table.shown(), format_timestamp(rq_.start),
                format_timestamp(rq_.end));
    for (const auto& f : r.files)
      std::printf("%s: rows %llu, bytes %llu, sha256 %s\n", f.path.c_str(), static_cast<unsigned long long>(f.rows),
                  static_cast<unsigned long long>(f.bytes), f.sha256.c_str());
    if (!r.manifest_path.empty())
      std::printf("%s: manifest of %zu part(s), rows %llu\n", r.manifest_path.c_str(), r.files.size(),
                  static_cast<unsigned long long>(r.rows));
    log::info("{}: exported {} rows into {} file(s)", rq_.table.shown(), r.rows, r.files.size());
    return 0;
  }

 private:
  ExportRequest rq_;
  std::string dsn_;
};

}  // namespace

std::unique_ptr<Command> make_export_csv() { return std::make_unique<ExportCsv>(); }

}  // namespace cryptopipe::cli
