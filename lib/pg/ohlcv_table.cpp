#include "pg/ohlcv_table.hpp"

#include <fmt/format.h>

#include <cstdlib>

#include "core/error.hpp"
#include "core/identifier.hpp"

namespace cryptopipe {

const char* const kCanonicalColumns =
    "symbol_id,period_id,time_period_start,time_period_end,time_open,time_close,price_open,price_high,price_low,"
    "price_close,volume_traded,trades_count,source";

namespace {
const char* const kValueColumns[] = {"time_period_end", "time_open",   "time_close",    "price_open",
                                     "price_high",      "price_low",   "price_close",   "volume_traded",
                                     "trades_count",    "source"};
}  // namespace

std::string TableName::qualified() const { return quote_identifier(schema, "schema") + "." + quote_identifier(table, "table"); }

TableName make_table_name(const std::string& schema, const std::string& table) {
  quote_identifier(schema, "schema");
  quote_identifier(table, "table");
  return {schema, table};
}

std::string postgres_ddl(const TableName& t) {
  return fmt::format(
      "CREATE TABLE IF NOT EXISTS {} (\n"
      "  symbol_id text NOT NULL,\n"
      "  period_id text NOT NULL,\n"
      "  time_period_start timestamptz NOT NULL,\n"
      "  time_period_end timestamptz NOT NULL,\n"
      "  time_open timestamptz,\n"
      "  time_close timestamptz,\n"
      "  price_open numeric,\n"
      "  price_high numeric,\n"
      "  price_low numeric,\n"
      "  price_close numeric,\n"
      "  volume_traded numeric,\n"
      "  trades_count bigint,\n"
      "  source text NOT NULL,\n"
      "  loaded_at timestamptz NOT NULL DEFAULT now(),\n"
      "  PRIMARY KEY (symbol_id, period_id, time_period_start),\n"
      // The same rules transform applies, so a hand-made CSV cannot load what transform would reject; each
      // constraint is named after the field it guards, which then appears in the one-line error.
      "  CONSTRAINT period_id_known CHECK (period_id IN ('1MIN', '5MIN', '15MIN', '1HRS', '1DAY')),\n"
      "  CONSTRAINT time_period_end_is_start_plus_period CHECK (time_period_end - time_period_start = CASE period_id\n"
      "    WHEN '1MIN' THEN interval '1 minute' WHEN '5MIN' THEN interval '5 minutes'\n"
      "    WHEN '15MIN' THEN interval '15 minutes' WHEN '1HRS' THEN interval '1 hour' WHEN '1DAY' THEN interval '1 day' END),\n"
      "  CONSTRAINT time_period_start_finite CHECK (isfinite(time_period_start)),\n"
      "  CONSTRAINT time_open_finite CHECK (isfinite(time_open)),\n"
      "  CONSTRAINT time_close_finite CHECK (isfinite(time_close)),\n"
      "  CONSTRAINT price_open_finite CHECK (price_open > '-Infinity' AND price_open < 'Infinity'),\n"
      "  CONSTRAINT price_high_finite CHECK (price_high > '-Infinity' AND price_high < 'Infinity'),\n"
      "  CONSTRAINT price_low_finite CHECK (price_low > '-Infinity' AND price_low < 'Infinity'),\n"
      "  CONSTRAINT price_close_finite CHECK (price_close > '-Infinity' AND price_close < 'Infinity'),\n"
      "  CONSTRAINT price_low_not_above_price_high CHECK (price_low <= price_high),\n"
      "  CONSTRAINT price_open_within_low_high CHECK (price_open BETWEEN price_low AND price_high),\n"
      "  CONSTRAINT price_close_within_low_high CHECK (price_close BETWEEN price_low AND price_high),\n"
      "  CONSTRAINT volume_traded_not_negative CHECK (volume_traded >= 0 AND volume_traded < 'Infinity'),\n"
      "  CONSTRAINT trades_count_not_negative CHECK (trades_count >= 0)\n"
      ")",
      t.qualified());
}

void ensure_table(PgConnection& db, const TableName& t) {
  db.exec("BEGIN", "BEGIN");
  db.exec_params("SELECT pg_advisory_xact_lock(hashtext($1))", {"cryptopipe:ddl:" + t.shown()}, "lock");
  db.exec(fmt::format("CREATE SCHEMA IF NOT EXISTS {}", quote_identifier(t.schema, "schema")), "create schema");
  db.exec(postgres_ddl(t), "create table " + t.shown());
  db.exec("COMMIT", "COMMIT");
}

void lock_for_merge(PgConnection& db, const TableName& t) {
  // Concurrent loads of overlapping windows would otherwise lock the same keys in different orders.
  db.exec_params("SELECT pg_advisory_xact_lock(hashtext($1))", {"cryptopipe:merge:" + t.shown()}, "lock");
}

void create_stage(PgConnection& db, const TableName& t) {
  // Constraints too, so a bad row fails the COPY itself, which names its line and column.
  db.exec(fmt::format("CREATE TEMP TABLE stage (LIKE {} INCLUDING DEFAULTS INCLUDING CONSTRAINTS) ON COMMIT DROP",
                      t.qualified()),
          "create staging table");
}

MergeCounts merge_stage(PgConnection& db, const TableName& t, MergeMode mode, std::int64_t staged_rows) {
  MergeCounts counts;
  const std::string target = t.qualified();
  lock_for_merge(db, t);
  if (mode == MergeMode::replace) {
    auto r = db.exec(fmt::format(
                         "DELETE FROM {0} AS t USING (SELECT symbol_id, period_id, min(time_period_start) AS lo, "
                         "max(time_period_start) AS hi FROM stage GROUP BY symbol_id, period_id) AS w "
                         "WHERE t.symbol_id = w.symbol_id AND t.period_id = w.period_id "
                         "AND t.time_period_start BETWEEN w.lo AND w.hi",
                         target),
                     "replace window in " + t.shown());
    counts.deleted = std::atoll(PQcmdTuples(r.get()));
  }
  std::string set_list, old_row, new_row;
  for (const char* c : kValueColumns) {
    set_list += fmt::format("{}{} = EXCLUDED.{}", set_list.empty() ? "" : ", ", c, c);
    // Compare the text of numbers so a provider correcting 100.1 to 100.10 is stored exactly as sent.
    old_row += fmt::format("{}t.{}::text", old_row.empty() ? "" : ", ", c);
    new_row += fmt::format("{}EXCLUDED.{}::text", new_row.empty() ? "" : ", ", c);
  }
  std::string conflict = mode == MergeMode::upsert
                             ? fmt::format(" ON CONFLICT (symbol_id, period_id, time_period_start) DO UPDATE SET {}, "
                                           "loaded_at = now() WHERE ({}) IS DISTINCT FROM ({})",
                                           set_list, old_row, new_row)
                             : std::string();
  std::string sql = fmt::format(
      "WITH merged AS (INSERT INTO {0} AS t ({1}) SELECT {1} FROM stage{2} RETURNING (xmax = 0) AS inserted) "
      "SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM merged",
      target, kCanonicalColumns, conflict);
  db.exec("SAVEPOINT merge", "SAVEPOINT");
  try {
    auto r = db.exec(sql, "merge into " + t.shown());
    counts.inserted = std::atoll(PQgetvalue(r.get(), 0, 0));
    counts.updated = std::atoll(PQgetvalue(r.get(), 0, 1));
  } catch (const BadDataError&) {
    // Name the first duplicated key and its input line (stage rows keep input order; line 1 is the header).
    db.exec("ROLLBACK TO SAVEPOINT merge", "ROLLBACK TO SAVEPOINT");
    auto dup = db.exec(
        "SELECT symbol_id, period_id, time_period_start::text, line FROM (SELECT symbol_id, period_id, "
        "time_period_start, row_number() OVER (ORDER BY ctid) + 1 AS line, count(*) OVER (PARTITION BY symbol_id, "
        "period_id, time_period_start) AS n FROM stage) s WHERE n > 1 ORDER BY line OFFSET 1 LIMIT 1",
        "find duplicate");
    if (PQntuples(dup.get()) == 1)
      throw BadDataError(fmt::format("table \"{}\": duplicate key ({}, {}, {}) in input at line {}", t.table,
                                     PQgetvalue(dup.get(), 0, 0), PQgetvalue(dup.get(), 0, 1),
                                     PQgetvalue(dup.get(), 0, 2), PQgetvalue(dup.get(), 0, 3)));
    throw;
  }
  counts.unchanged = staged_rows - counts.inserted - counts.updated;
  if (mode != MergeMode::upsert) counts.unchanged = 0;
  return counts;
}

}  // namespace cryptopipe
