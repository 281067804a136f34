#pragma once
// The candle table in PostgreSQL: DDL, staging and the idempotent merge, shared by load-postgres and
// copy-redshift's PostgreSQL target so both land rows the same way.
#include <cstdint>
#include <string>

#include "pg/connection.hpp"

namespace cryptopipe {

/// Schema-qualified, quoted table name after identifier validation (throws UsageError).
struct TableName {
  std::string schema, table;
  /// "schema"."table"
  std::string qualified() const;
  /// schema.table, for messages
  std::string shown() const { return schema + "." + table; }
};
TableName make_table_name(const std::string& schema, const std::string& table);

/// The canonical columns in CSV order, comma-separated (unquoted: all are plain identifiers).
extern const char* const kCanonicalColumns;

/// CREATE TABLE IF NOT EXISTS for the candle table (PostgreSQL types: numeric, timestamptz, PK on the key).
std::string postgres_ddl(const TableName& t);

enum class MergeMode { upsert, append, replace };

struct MergeCounts {
  std::int64_t inserted = 0, updated = 0, unchanged = 0, deleted = 0;
};

/// Creates the table if missing, serialised with an advisory lock so concurrent first runs do not collide.
void ensure_table(PgConnection& db, const TableName& t);

/// Inside an open transaction: takes the per-table lock that merges (and direct loads) hold until commit.
void lock_for_merge(PgConnection& db, const TableName& t);

/// Inside an open transaction: creates temp table `stage` shaped like `t` (dropped at commit).
void create_stage(PgConnection& db, const TableName& t);

/// Inside the same transaction: merges `stage` into `t` and returns the counts. upsert inserts new keys and
/// updates changed rows only (IS DISTINCT FROM); append inserts all; replace deletes the staged window
/// (per symbol and period, min..max start) first. Duplicate keys in the stage → BadDataError naming the key.
MergeCounts merge_stage(PgConnection& db, const TableName& t, MergeMode mode, std::int64_t staged_rows);

}  // namespace cryptopipe
