#include "redshift/redshift_target.hpp"

#include <fmt/format.h>

#include <cstdlib>
#include <string>

#include "core/error.hpp"
#include "core/log.hpp"

namespace cryptopipe {
namespace {

std::int64_t single_count(const PgResult& r) { return std::atoll(PQgetvalue(r.get(), 0, 0)); }

std::string value_or_empty(const PGresult* r, int row, int col) {
  return PQgetisnull(r, row, col) ? std::string() : std::string(PQgetvalue(r, row, col));
}

/// Reads why the COPY failed; returns a one-line summary of the first error row (empty if none are visible).
std::string explain_copy_failure(PgConnection& db) {
  for (bool sys_view : {true, false}) {
    try {
      auto r = db.exec(redshift::load_errors_sql(sys_view), sys_view ? "sys_load_error_detail" : "stl_load_errors");
      std::string first;
      for (int i = 0; i < PQntuples(r.get()); ++i) {
        std::string row = fmt::format("line {}, column {}, value \"{}\": {}", value_or_empty(r.get(), i, 0),
                                      value_or_empty(r.get(), i, 1), value_or_empty(r.get(), i, 2),
                                      value_or_empty(r.get(), i, 3));
        std::string file = value_or_empty(r.get(), i, 4);
        log::warn("load error: {}{}", row, file.empty() ? "" : " (" + file + ")");
        if (first.empty()) first = file.empty() ? row : file + ": " + row;
      }
      return first;
    } catch (const Error& e) {
      log::debug("{}", e.what());  // the view does not exist on this cluster type: try the other one
    }
  }
  return {};
}

}  // namespace

bool is_redshift(PgConnection& db) {
  auto r = db.exec("SELECT version()", "SELECT version()");
  return std::string(PQgetvalue(r.get(), 0, 0)).find("Redshift") != std::string::npos;
}

MergeCounts run_redshift_plan(PgConnection& db, const std::vector<redshift::Statement>& plan, const TableName& t) {
  using redshift::Step;
  MergeCounts counts;
  std::int64_t staged = 0;
  bool in_transaction = false;
  try {
    for (const auto& s : plan) {
      switch (s.step) {
        case Step::copy:
          try {
            db.exec(s.sql, "COPY from S3");
          } catch (const Error& e) {
            db.exec("ROLLBACK", "ROLLBACK");
            in_transaction = false;
            std::string why = explain_copy_failure(db);
            if (why.empty()) throw;
            throw BadDataError(fmt::format("table \"{}\": COPY failed: {}", t.table, why));
          }
          break;
        case Step::count_staged:
          staged = single_count(db.exec(s.sql, "count staged rows"));
          break;
        case Step::find_duplicate: {
          auto r = db.exec(s.sql, "check duplicate keys");
          if (PQntuples(r.get()) > 0)
            throw BadDataError(fmt::format("table \"{}\": duplicate key ({}, {}, {}) in the input", t.table,
                                           PQgetvalue(r.get(), 0, 0), PQgetvalue(r.get(), 0, 1),
                                           PQgetvalue(r.get(), 0, 2)));
          break;
        }
        case Step::drop_unchanged:
          counts.unchanged = std::atoll(PQcmdTuples(db.exec(s.sql, "drop unchanged rows").get()));
          break;
        case Step::count_new:
          counts.inserted = single_count(db.exec(s.sql, "count new rows"));
          counts.updated = staged - counts.unchanged - counts.inserted;
          break;
        case Step::delete_window:
          counts.deleted = std::atoll(PQcmdTuples(db.exec(s.sql, "replace window in " + t.shown()).get()));
          break;
        case Step::insert:
          counts.inserted = staged;
          db.exec(s.sql, "insert into " + t.shown());
          break;
        case Step::begin:
          db.exec(s.sql, "BEGIN");
          in_transaction = true;
          break;
        case Step::commit:
          db.exec(s.sql, "COMMIT");
          in_transaction = false;
          break;
        default:
          db.exec(s.sql, s.step == Step::merge ? "merge into " + t.shown() : "prepare " + t.shown());
      }
    }
  } catch (...) {
    if (in_transaction) PQclear(PQexec(db.raw(), "ROLLBACK"));
    throw;
  }
  return counts;
}

}  // namespace cryptopipe
