#include "pg/loader.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <regex>
#include <vector>

#include "candle/candle.hpp"
#include "core/error.hpp"

namespace cryptopipe {
namespace {

/// PostgreSQL counts COPY lines from the first data line; our files have a header line first.
std::string with_file_line(const std::string& message, const std::string& in_name) {
  static const std::regex copy_line(R"(COPY stage, line (\d+)(, column (\w+))?)");
  std::smatch m;
  if (!std::regex_search(message, m, copy_line)) return in_name + ": " + message;
  long line = std::atol(m[1].str().c_str()) + 1;
  std::string where = fmt::format("{}: line {}", in_name, line);
  if (m[3].matched) where += ", field " + m[3].str();
  return where + ": " + message;
}

}  // namespace

MergeCounts load_canonical_stream(PgConnection& db, const TableName& t, const std::string& in_name, MergeMode mode,
                                  const std::function<std::string_view()>& read) {
  // The header must be exactly ours: a reordered CSV would otherwise load prices into the wrong columns.
  std::string header;
  std::string_view chunk;
  std::string carry;
  while (header.empty()) {
    chunk = read();
    if (chunk.empty()) break;
    carry.append(chunk);
    auto nl = carry.find('\n');
    if (nl != std::string::npos) {
      header = carry.substr(0, nl);
      carry.erase(0, nl + 1);
    } else if (carry.size() > 4096) {
      break;
    }
  }
  if (header.empty() && carry.empty()) throw BadDataError(in_name + ": line 1: empty input, expected the canonical CSV header");
  if (header != kCanonicalHeader) {
    std::string shown = (header.empty() ? carry : header).substr(0, 120);
    for (char& c : shown)
      if (static_cast<unsigned char>(c) < 0x20) c = '?';
    throw BadDataError(fmt::format("{}: line 1: header is not the canonical one (expected \"{}\", got \"{}\")", in_name,
                                   kCanonicalHeader, shown));
  }
  db.exec("BEGIN", "BEGIN");
  create_stage(db, t);
  db.begin_copy_in(fmt::format("COPY stage ({}) FROM STDIN (FORMAT csv)", kCanonicalColumns));
  std::int64_t rows = 0;
  try {
    if (!carry.empty()) db.put_copy_data(carry);
    while (!(chunk = read()).empty()) db.put_copy_data(chunk);
    rows = db.end_copy("COPY into stage");
  } catch (const Error& e) {
    std::string message = e.what();
    // Reported against the input file: the staging table is ours, the line is the user's.
    auto code = e.code();
    db.exec("ROLLBACK", "ROLLBACK");
    throw Error(code, with_file_line(message.substr(message.find(": ") + 2), in_name));
  }
  MergeCounts counts;
  try {
    counts = merge_stage(db, t, mode, rows);
    db.exec("COMMIT", "COMMIT");
  } catch (...) {
    PQexec(db.raw(), "ROLLBACK");
    throw;
  }
  return counts;
}

MergeCounts load_canonical_csv(PgConnection& db, const TableName& t, std::FILE* in, const std::string& in_name,
                               MergeMode mode) {
  std::vector<char> buffer(1 << 20);
  return load_canonical_stream(db, t, in_name, mode, [&]() -> std::string_view {
    std::size_t n = std::fread(buffer.data(), 1, buffer.size(), in);
    if (n == 0 && std::ferror(in))
      throw Error(ExitCode::other, fmt::format("{}: read error: {}", in_name, std::strerror(errno)));
    return std::string_view(buffer.data(), n);
  });
}

}  // namespace cryptopipe
