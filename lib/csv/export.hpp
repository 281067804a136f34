#pragma once
// export-csv: one UTC day (or window) of candles from PostgreSQL to canonical CSV files, byte-identical to what
// transform writes for the same candles, streamed (memory stays flat), optionally gzip'd and split into parts
// listed in a Redshift manifest.
#include <cstdint>
#include <string>
#include <vector>

#include "candle/timestamp.hpp"
#include "pg/connection.hpp"
#include "pg/ohlcv_table.hpp"

namespace cryptopipe {

struct ExportRequest {
  TableName table;
  UnixMicros start = 0, end = 0;     // [start, end)
  std::vector<std::string> symbols;  // empty: all
  std::string output;                // file path (the parts and manifest are named after it)
  bool gzip = false;
  std::uint64_t max_rows_per_file = 0;  // 0: one file, no manifest
  std::string manifest_url_prefix;      // e.g. s3://bucket/prefix/; empty: the parts' file:// URIs
};

struct ExportedFile {
  std::string path;
  std::uint64_t rows = 0;   // data rows (header excluded)
  std::uint64_t bytes = 0;  // bytes in the file (compressed size when gzip)
  std::string sha256;
};

struct ExportResult {
  std::vector<ExportedFile> files;  // the CSV file, or the parts in order
  std::string manifest_path;        // empty unless split
  std::uint64_t rows = 0;
};

/// Checks a --symbol value against ^[A-Z0-9_]+$ (it becomes a SQL literal); throws UsageError.
void validate_symbol_id(const std::string& symbol);

/// The COPY ... TO STDOUT statement of the export: canonical columns, timestamps as `YYYY-MM-DD HH:MM:SS+00`
/// (`.ffffff` only when the microseconds are non-zero), numerics as stored, NULL empty, sorted like transform
/// (byte order of symbol_id, period_id, then time). Only validated values become literals.
std::string export_copy_sql(const TableName& t, UnixMicros start, UnixMicros end,
                            const std::vector<std::string>& symbols);

/// The name of part `index` of `output` ("day.csv.gz" → "day.part0000.csv.gz") and of its manifest
/// ("day.manifest").
std::string part_path(const std::string& output, bool gzip, std::size_t index);
std::string manifest_path(const std::string& output);

struct ManifestEntry {
  std::string url;
  std::uint64_t content_length = 0;
};

/// A Redshift COPY manifest: {"entries":[{"url":...,"mandatory":true,"meta":{"content_length":N}},...]}.
std::string redshift_manifest_json(const std::vector<ManifestEntry>& entries);

/// The URLs listed in a manifest (every entry; "mandatory" is returned alongside). Throws BadDataError naming
/// `name` when the JSON is not a manifest.
struct ManifestUrl {
  std::string url;
  bool mandatory = false;
};
std::vector<ManifestUrl> parse_manifest(const std::string& json, const std::string& name);

/// Runs the export. Every file is written atomically; on failure the parts already written are removed, so
/// nothing partial stays behind. An empty window gives a header-only file.
ExportResult run_export(PgConnection& db, const ExportRequest& request);

}  // namespace cryptopipe
