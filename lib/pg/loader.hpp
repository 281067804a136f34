#pragma once
// The one way canonical CSV gets into PostgreSQL: COPY into a temp stage, then the idempotent merge, in one
// transaction. Used by load-postgres (one input) and copy-redshift's PostgreSQL target (manifest parts).
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "pg/ohlcv_table.hpp"

namespace cryptopipe {

/// One COPY into the stage fed by several canonical CSV inputs pushed in chunks (each with its header, which is
/// checked and dropped). Construction opens the transaction; finish() merges and commits; destruction without
/// finish() rolls back.
class CanonicalCopyIn {
 public:
  /// Where the rows go: the temp stage, merged by finish(), or straight into the table (insert only: a key
  /// already present fails the COPY with SQLSTATE 23505).
  enum class Into { stage, table };
  CanonicalCopyIn(PgConnection& db, const TableName& t, Into into = Into::stage);
  ~CanonicalCopyIn();
  CanonicalCopyIn(const CanonicalCopyIn&) = delete;
  CanonicalCopyIn& operator=(const CanonicalCopyIn&) = delete;
  /// Starts the next input, named `name` in messages.
  void begin_input(const std::string& name);
  void write(std::string_view chunk);
  /// Ends the current input; throws BadDataError if it had no canonical header.
  void end_input();
  /// Ends the COPY, merges with `mode` and commits. Bad rows → BadDataError naming the input and its line.
  MergeCounts finish(MergeMode mode);

 private:
  void send(std::string_view data);
  struct Input {
    std::string name;
    std::int64_t first_copy_line = 0;  // 1-based line number in the combined COPY stream of its first data row
    std::int64_t lines = 0;
  };
  PgConnection& db_;
  TableName table_;
  Into into_;
  std::vector<Input> inputs_;
  std::string header_;  // bytes of the current input's header so far
  bool in_header_ = false, last_was_newline_ = true, open_ = false;
  std::int64_t copy_lines_ = 0;
};

/// Streams canonical CSV from `in` (named `in_name` in messages) into `t` in one transaction with `mode`. A rerun
/// of the same input changes nothing. An upsert of only new keys is a plain COPY into the table; otherwise the
/// input is re-read (seek, or a temp-file spool for pipes) through the stage. Throws BadDataError naming the input line and field for bad rows or a
/// wrong header; nothing is written then.
MergeCounts load_canonical_csv(PgConnection& db, const TableName& t, std::FILE* in, const std::string& in_name,
                               MergeMode mode = MergeMode::upsert);

}  // namespace cryptopipe
