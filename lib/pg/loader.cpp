#include "pg/loader.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <memory>
#include <vector>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <regex>

#include "candle/candle.hpp"
#include "core/error.hpp"
#include "core/log.hpp"

namespace cryptopipe {

CanonicalCopyIn::CanonicalCopyIn(PgConnection& db, const TableName& t, Into into) : db_(db), table_(t), into_(into) {
  db_.exec("BEGIN", "BEGIN");
  open_ = true;
  if (into_ == Into::stage) {
    create_stage(db_, table_);
    db_.begin_copy_in(fmt::format("COPY stage ({}) FROM STDIN (FORMAT csv)", kCanonicalColumns));
  } else {
    // The same lock as the merge: concurrent loaders of overlapping windows take turns instead of deadlocking.
    lock_for_merge(db_, table_);
    db_.begin_copy_in(fmt::format("COPY {} ({}) FROM STDIN (FORMAT csv)", table_.qualified(), kCanonicalColumns));
  }
}

CanonicalCopyIn::~CanonicalCopyIn() {
  if (!open_) return;
  db_.abort_copy("cryptopipe: aborted");
  PQclear(PQexec(db_.raw(), "ROLLBACK"));
}

void CanonicalCopyIn::begin_input(const std::string& name) {
  inputs_.push_back({name, copy_lines_ + 1, 0});
  header_.clear();
  in_header_ = true;
}

void CanonicalCopyIn::send(std::string_view data) {
  if (data.empty()) return;
  for (char c : data)
    if (c == '\n') ++inputs_.back().lines;
  last_was_newline_ = data.back() == '\n';
  db_.put_copy_data(data);
}

void CanonicalCopyIn::write(std::string_view chunk) {
  if (in_header_) {
    auto nl = chunk.find('\n');
    header_.append(chunk.substr(0, nl));
    if (nl == std::string_view::npos) {
      if (header_.size() > 4096) end_input();  // reports the bad header
      return;
    }
    if (header_ != kCanonicalHeader) {
      std::string shown = header_.substr(0, 120);
      for (char& c : shown)
        if (static_cast<unsigned char>(c) < 0x20) c = '?';
      throw BadDataError(fmt::format("{}: line 1: header is not the canonical one (expected \"{}\", got \"{}\")",
                                     inputs_.back().name, kCanonicalHeader, shown));
    }
    in_header_ = false;
    last_was_newline_ = true;
    chunk.remove_prefix(nl + 1);
  }
  send(chunk);
}

void CanonicalCopyIn::end_input() {
  if (in_header_) {
    if (header_ == kCanonicalHeader) {  // header-only file without a final newline
      in_header_ = false;
    } else {
      throw BadDataError(fmt::format("{}: line 1: {}", inputs_.back().name,
                                     header_.empty() ? "empty input, expected the canonical CSV header"
                                                     : "header is not the canonical one"));
    }
  }
  // A last row without its newline would otherwise run into the next input's first row.
  if (!last_was_newline_) send("\n");
  copy_lines_ = inputs_.back().first_copy_line - 1 + inputs_.back().lines;
  last_was_newline_ = true;
}

MergeCounts CanonicalCopyIn::finish(MergeMode mode) {
  std::int64_t rows = 0;
  try {
    rows = db_.end_copy("COPY into stage");
  } catch (const Error& e) {
    std::string message = e.what();
    message = message.substr(message.find(": ") + 2);
    // The server counts lines of the combined stream; report them against the input and its own line (header = 1).
    static const std::regex copy_line(R"(COPY \w+, line (\d+)(, column (\w+))?)");
    std::smatch m;
    std::string where = inputs_.empty() ? table_.shown() : inputs_.front().name;
    if (std::regex_search(message, m, copy_line)) {
      std::int64_t line = std::atoll(m[1].str().c_str());
      for (const auto& in : inputs_)
        if (line >= in.first_copy_line && line < in.first_copy_line + std::max<std::int64_t>(in.lines, 1))
          where = fmt::format("{}: line {}", in.name, line - in.first_copy_line + 2);
      if (m[3].matched) where += fmt::format(", field {}", m[3].str());
    }
    open_ = false;
    PQclear(PQexec(db_.raw(), "ROLLBACK"));
    throw Error(e.code(), fmt::format("{}: {}", where, message));
  }
  MergeCounts counts;
  try {
    if (into_ == Into::table) {
      counts.inserted = rows;
    } else if (inputs_.size() == 1) {
      try {
        counts = merge_stage(db_, table_, mode, rows);
      } catch (const BadDataError& e) {
        throw BadDataError(fmt::format("{}: {}", inputs_.front().name, e.what()));
      }
    } else {
      counts = merge_stage(db_, table_, mode, rows);
    }
    db_.exec("COMMIT", "COMMIT");
  } catch (...) {
    open_ = false;
    PQclear(PQexec(db_.raw(), "ROLLBACK"));
    throw;
  }
  open_ = false;
  return counts;
}

namespace {

MergeCounts copy_file(PgConnection& db, const TableName& t, CanonicalCopyIn::Into into, std::FILE* in,
                      const std::string& in_name, MergeMode mode, std::FILE* tee) {
  std::vector<char> buffer(1 << 20);
  CanonicalCopyIn copy(db, t, into);
  copy.begin_input(in_name);
  for (;;) {
    std::size_t n = std::fread(buffer.data(), 1, buffer.size(), in);
    if (n == 0) {
      if (std::ferror(in)) throw Error(ExitCode::other, fmt::format("{}: read error: {}", in_name, std::strerror(errno)));
      break;
    }
    if (tee && std::fwrite(buffer.data(), 1, n, tee) != n)
      throw Error(ExitCode::other, fmt::format("{}: cannot spool input to a temp file: {}", in_name, std::strerror(errno)));
    copy.write(std::string_view(buffer.data(), n));
  }
  copy.end_input();
  return copy.finish(mode);
}

}  // namespace

MergeCounts load_canonical_csv(PgConnection& db, const TableName& t, std::FILE* in, const std::string& in_name,
                               MergeMode mode) {
  if (mode != MergeMode::upsert) return copy_file(db, t, CanonicalCopyIn::Into::stage, in, in_name, mode, nullptr);
  // Most loads bring only candles the table has never seen (the next five minutes), and then a COPY straight into
  // the table is all the work there is. If any key already exists the COPY fails as a whole, and the input is
  // loaded again through the stage and the upsert. A pipe cannot be re-read, so its bytes are spooled meanwhile.
  const off_t start = ::ftello(in);
  const bool seekable = start >= 0;
  std::unique_ptr<std::FILE, decltype(&std::fclose)> spool(seekable ? nullptr : std::tmpfile(), &std::fclose);
  if (!seekable && !spool)
    throw Error(ExitCode::other, fmt::format("cannot create a temp file to spool {}: {}", in_name, std::strerror(errno)));
  try {
    return copy_file(db, t, CanonicalCopyIn::Into::table, in, in_name, mode, spool.get());
  } catch (const Error&) {
    if (db.last_sqlstate() != "23505") throw;  // only "key already present" sends us to the upsert
    log::debug("{}: keys already in {}: loading again through the stage and the upsert", in_name, t.shown());
  }
  std::FILE* again = in;
  if (seekable) {
    if (::fseeko(in, start, SEEK_SET) != 0)
      throw Error(ExitCode::other, fmt::format("{}: cannot re-read: {}", in_name, std::strerror(errno)));
  } else {
    // Whatever the direct COPY did not read yet is still in the pipe: spool it too, then replay the whole input.
    std::vector<char> buffer(1 << 20);
    std::size_t n;
    while ((n = std::fread(buffer.data(), 1, buffer.size(), in)) > 0)
      if (std::fwrite(buffer.data(), 1, n, spool.get()) != n)
        throw Error(ExitCode::other, fmt::format("{}: cannot spool input to a temp file: {}", in_name, std::strerror(errno)));
    std::rewind(spool.get());
    again = spool.get();
  }
  return copy_file(db, t, CanonicalCopyIn::Into::stage, again, in_name, mode, nullptr);
}

}  // namespace cryptopipe
