#pragma once
// copy-redshift's PostgreSQL target (local runs, tests): the tool fetches the object(s) itself, gunzips them and
// streams them into the same staging table and merge as load-postgres, all in one transaction.
#include <string>
#include <string_view>
#include <vector>

#include "pg/ohlcv_table.hpp"
#include "s3/object_store.hpp"

namespace cryptopipe {

/// One COPY into the stage fed by several canonical CSV inputs pushed in chunks (each with its header, which is
/// checked and dropped). Construction opens the transaction; finish() merges and commits; destruction without
/// finish() rolls back.
class CanonicalCopyIn {
 public:
  CanonicalCopyIn(PgConnection& db, const TableName& t);
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
  std::vector<Input> inputs_;
  std::string header_;  // bytes of the current input's header so far
  bool in_header_ = false, last_was_newline_ = true, open_ = false;
  std::int64_t copy_lines_ = 0;
};

/// The objects one --s3-uri names: itself, or every entry of the manifest it points at (non-mandatory entries
/// that do not exist are skipped). Throws BadDataError for a malformed manifest.
std::vector<ObjectUri> objects_to_load(const ObjectUri& uri, bool manifest, const S3Settings& s3);

/// Loads `objects` (plain or gzip CSV, detected by the gzip magic) into `t` in one transaction with `mode`.
MergeCounts copy_objects_into_postgres(PgConnection& db, const TableName& t, const std::vector<ObjectUri>& objects,
                                       const S3Settings& s3, MergeMode mode);

}  // namespace cryptopipe
