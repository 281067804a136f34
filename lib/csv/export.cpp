#include "csv/export.hpp"

#include <fmt/format.h>
#include <rapidjson/document.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <regex>

#include "candle/candle.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "io/files.hpp"

namespace cryptopipe {
namespace {

/// PostgreSQL's own timestamptz text (ISO, UTC: the session is set so) is canonical for whole seconds, which
/// most are, and cheap; it trims trailing zeros of a fraction ("…:00.5+00"), so only those are rebuilt with six
/// digits. to_char on every value would cost the server more than the whole COPY.
std::string canonical_time(const std::string& column) {
  return fmt::format(
      "CASE WHEN date_trunc('second', t.{0}) = t.{0} THEN t.{0}::text "
      "ELSE left(t.{0}::text, 19) || to_char(t.{0} AT TIME ZONE 'UTC', '.US') || '+00' END",
      column);
}

/// "dir/day.csv.gz" → "dir/day"; the parts and the manifest hang off this stem.
std::string output_stem(const std::string& output) {
  std::string stem = output;
  auto strip = [&](std::string_view suffix) {
    if (stem.size() > suffix.size() && stem.compare(stem.size() - suffix.size(), suffix.size(), suffix) == 0)
      stem.resize(stem.size() - suffix.size());
  };
  strip(".gz");
  strip(".csv");
  return stem;
}

std::string file_uri_prefix(const std::string& path) {
  std::filesystem::path dir = std::filesystem::absolute(std::filesystem::path(path)).parent_path();
  std::string s = dir.lexically_normal().string();
  if (s.empty() || s.back() != '/') s += '/';
  return "file://" + s;
}

std::string basename_of(const std::string& path) { return std::filesystem::path(path).filename().string(); }

}  // namespace

void validate_symbol_id(const std::string& symbol) {
  static const std::regex id("^[A-Z0-9_]{1,64}$");
  if (!std::regex_match(symbol, id))
    throw UsageError(fmt::format("--symbol: \"{}\": not a symbol id (A-Z, 0-9, _)", log::json_escape(symbol.substr(0, 80))));
}

std::string export_copy_sql(const TableName& t, UnixMicros start, UnixMicros end,
                            const std::vector<std::string>& symbols) {
  std::string where = fmt::format("t.time_period_start >= '{}'::timestamptz AND t.time_period_start < '{}'::timestamptz",
                                  format_timestamp(start), format_timestamp(end));
  if (!symbols.empty()) {
    std::string list;
    for (const auto& s : symbols) {
      validate_symbol_id(s);
      list += fmt::format("{}'{}'", list.empty() ? "" : ", ", s);
    }
    where += fmt::format(" AND t.symbol_id IN ({})", list);
  }
  return fmt::format(
      "COPY (SELECT t.symbol_id, t.period_id, {}, {}, {}, {}, t.price_open, t.price_high, t.price_low, "
      "t.price_close, t.volume_traded, t.trades_count, t.source FROM {} AS t WHERE {} "
      "ORDER BY t.symbol_id COLLATE \"C\", t.period_id COLLATE \"C\", t.time_period_start) TO STDOUT (FORMAT csv)",
      canonical_time("time_period_start"), canonical_time("time_period_end"), canonical_time("time_open"),
      canonical_time("time_close"), t.qualified(), where);
}

std::string part_path(const std::string& output, bool gzip, std::size_t index) {
  return fmt::format("{}.part{:04}.csv{}", output_stem(output), index, gzip ? ".gz" : "");
}

std::string manifest_path(const std::string& output) { return output_stem(output) + ".manifest"; }

std::string redshift_manifest_json(const std::vector<ManifestEntry>& entries) {
  std::string out = "{\"entries\":[";
  for (std::size_t i = 0; i < entries.size(); ++i)
    out += fmt::format("{}\n  {{\"url\":\"{}\",\"mandatory\":true,\"meta\":{{\"content_length\":{}}}}}",
                       i ? "," : "", log::json_escape(entries[i].url), entries[i].content_length);
  out += "\n]}\n";
  return out;
}

std::vector<ManifestUrl> parse_manifest(const std::string& json, const std::string& name) {
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("entries") || !doc["entries"].IsArray())
    throw BadDataError(name + ": not a Redshift manifest (expected {\"entries\": [...]})");
  std::vector<ManifestUrl> urls;
  for (const auto& e : doc["entries"].GetArray()) {
    if (!e.IsObject() || !e.HasMember("url") || !e["url"].IsString())
      throw BadDataError(fmt::format("{}: entry {}: no \"url\"", name, urls.size() + 1));
    ManifestUrl u;
    u.url = e["url"].GetString();
    u.mandatory = e.HasMember("mandatory") && e["mandatory"].IsBool() && e["mandatory"].GetBool();
    urls.push_back(std::move(u));
  }
  return urls;
}

ExportResult run_export(PgConnection& db, const ExportRequest& rq) {
  ExportResult result;
  const bool split = rq.max_rows_per_file > 0;
  std::unique_ptr<OutputSink> sink;
  std::uint64_t rows_in_file = 0;
  std::vector<std::string> committed;

  auto open_next = [&] {
    std::string path = split ? part_path(rq.output, rq.gzip, result.files.size()) : rq.output;
    sink = std::make_unique<OutputSink>(path, rq.gzip);
    sink->write(kCanonicalHeader);
    sink->write("\n");
    rows_in_file = 0;
  };
  auto close_current = [&] {
    sink->commit();
    committed.push_back(sink->path());
    result.files.push_back({sink->path(), rows_in_file, sink->bytes_out(), sink->sha256_hex()});
    sink.reset();
  };

  try {
    open_next();
    const std::string sql = export_copy_sql(rq.table, rq.start, rq.end, rq.symbols);
    result.rows = db.copy_out(sql, [&](std::string_view row) {
      if (split && rows_in_file == rq.max_rows_per_file) {
        close_current();
        open_next();
      }
      sink->write(row);
      ++rows_in_file;
    }, "export from " + rq.table.shown());
    close_current();
    if (split) {
      std::string prefix = rq.manifest_url_prefix.empty() ? file_uri_prefix(rq.output) : rq.manifest_url_prefix;
      if (prefix.back() != '/') prefix += '/';
      std::vector<ManifestEntry> entries;
      for (const auto& f : result.files) entries.push_back({prefix + basename_of(f.path), f.bytes});
      result.manifest_path = manifest_path(rq.output);
      OutputSink manifest(result.manifest_path);
      manifest.write(redshift_manifest_json(entries));
      manifest.commit();
    }
  } catch (...) {
    // A half-written set of parts would load as a short day; leave nothing instead.
    sink.reset();
    for (const auto& p : committed) std::remove(p.c_str());
    throw;
  }
  return result;
}

}  // namespace cryptopipe
