#include "pg/connection.hpp"

#include <fmt/format.h>

#include <cstdlib>

#include "core/error.hpp"
#include "core/log.hpp"

namespace cryptopipe {
namespace {

std::string one_line(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  for (char& c : s)
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  return s;
}

[[noreturn]] void throw_coded(int code, const std::string& message) {
  switch (code) {
    case 3: throw BadDataError(message);
    case 4: throw RemoteRefusedError(message);
    case 5: throw TransientError(message);
    default: throw Error(ExitCode::other, message);
  }
}

}  // namespace

int exit_code_for_sqlstate(std::string_view s) {
  if (s.size() != 5) return 5;  // no SQLSTATE: the connection broke mid-command
  std::string_view cls = s.substr(0, 2);
  if (cls == "22" || cls == "23" || s == "21000") return 3;  // data exception, integrity, row affected twice
  if (cls == "08" || cls == "40" || cls == "53" || cls == "57" || cls == "58") return 5;  // connection, deadlock, resources, shutdown
  if (cls == "28" || cls == "42") return cls == "28" ? 4 : 1;
  return 1;
}

PgConnection::PgConnection(const std::string& conninfo) {
  conn_ = PQconnectdb(conninfo.c_str());
  if (!conn_) throw Error(ExitCode::other, "postgres: out of memory");
  if (PQstatus(conn_) != CONNECTION_OK) {
    std::string msg = one_line(PQerrorMessage(conn_));
    const char* host = PQhost(conn_);
    const char* port = PQport(conn_);
    std::string target = fmt::format("postgres {}:{}", host ? host : "?", port ? port : "?");
    PQfinish(conn_);
    conn_ = nullptr;
    bool auth = msg.find("authentication failed") != std::string::npos ||
                msg.find("no password supplied") != std::string::npos ||
                msg.find("does not exist") != std::string::npos || msg.find("no pg_hba.conf") != std::string::npos;
    if (msg.find("invalid connection option") != std::string::npos ||
        msg.find("missing \"=\"") != std::string::npos || msg.find("invalid URI") != std::string::npos)
      throw UsageError(fmt::format("--dsn: {}", msg));
    if (auth) throw RemoteRefusedError(fmt::format("{}: {}", target, msg));
    throw TransientError(fmt::format("{}: cannot connect: {}", target, msg));
  }
  description_ = fmt::format("postgres {}:{}/{}", PQhost(conn_), PQport(conn_), PQdb(conn_));
  // Server notices ("relation already exists, skipping") are routine here: debug detail, not stderr noise.
  PQsetNoticeProcessor(
      conn_, [](void*, const char* message) { log::debug("postgres notice: {}", one_line(message)); }, nullptr);
  // Timestamps must come back in UTC and ISO form whatever the server or role default is.
  PQclear(PQexec(conn_, "SET TIME ZONE 'UTC'; SET DateStyle = 'ISO, YMD'"));
}

PgConnection::~PgConnection() {
  if (conn_) PQfinish(conn_);
}

void PgConnection::throw_result_error(const PGresult* r, std::string_view what) {
  const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  last_sqlstate_ = state ? state : "";
  std::string primary = r && PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY)
                            ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY)
                            : one_line(PQerrorMessage(conn_));
  std::string message = fmt::format("{}: {}: {}", describe(), what, one_line(primary));
  if (r) {
    if (const char* detail = PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL)) message += " (" + one_line(detail) + ")";
    if (const char* context = PQresultErrorField(r, PG_DIAG_CONTEXT)) message += " [" + one_line(context) + "]";
  }
  throw_coded(exit_code_for_sqlstate(state ? state : ""), message);
}

PgResult PgConnection::exec(const std::string& sql, std::string_view what) {
  PgResult r(PQexec(conn_, sql.c_str()), &PQclear);
  auto st = PQresultStatus(r.get());
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY) throw_result_error(r.get(), what);
  return r;
}

PgResult PgConnection::exec_params(const std::string& sql, const std::vector<std::string>& params, std::string_view what) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p.c_str());
  PgResult r(PQexecParams(conn_, sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(), nullptr, nullptr, 0),
             &PQclear);
  auto st = PQresultStatus(r.get());
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) throw_result_error(r.get(), what);
  return r;
}

void PgConnection::begin_copy_in(const std::string& copy_sql) {
  PgResult r(PQexec(conn_, copy_sql.c_str()), &PQclear);
  if (PQresultStatus(r.get()) != PGRES_COPY_IN) throw_result_error(r.get(), "COPY");
}

void PgConnection::put_copy_data(std::string_view data) {
  if (PQputCopyData(conn_, data.data(), static_cast<int>(data.size())) != 1)
    throw TransientError(fmt::format("{}: COPY: {}", describe(), one_line(PQerrorMessage(conn_))));
}

std::int64_t PgConnection::end_copy(std::string_view what) {
  if (PQputCopyEnd(conn_, nullptr) != 1)
    throw TransientError(fmt::format("{}: {}: {}", describe(), what, one_line(PQerrorMessage(conn_))));
  PgResult r(PQgetResult(conn_), &PQclear);
  if (PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
    // Drain so the connection is usable for ROLLBACK.
    while (PGresult* extra = PQgetResult(conn_)) PQclear(extra);
    throw_result_error(r.get(), what);
  }
  std::int64_t rows = std::atoll(PQcmdTuples(r.get()));
  while (PGresult* extra = PQgetResult(conn_)) PQclear(extra);
  return rows;
}

void PgConnection::abort_copy(const std::string& reason) {
  PQputCopyEnd(conn_, reason.c_str());
  while (PGresult* r = PQgetResult(conn_)) PQclear(r);
}

std::size_t PgConnection::copy_out(const std::string& copy_sql, const std::function<void(std::string_view)>& sink,
                                   std::string_view what) {
  PgResult start(PQexec(conn_, copy_sql.c_str()), &PQclear);
  if (PQresultStatus(start.get()) != PGRES_COPY_OUT) throw_result_error(start.get(), what);
  std::size_t rows = 0;
  for (;;) {
    char* buf = nullptr;
    int n = PQgetCopyData(conn_, &buf, 0);
    if (n > 0) {
      ++rows;  // libpq hands over exactly one row per call
      try {
        sink(std::string_view(buf, static_cast<std::size_t>(n)));
      } catch (...) {
        PQfreemem(buf);
        throw;
      }
      PQfreemem(buf);
      continue;
    }
    if (n == -1) break;
    throw TransientError(fmt::format("{}: {}: {}", describe(), what, one_line(PQerrorMessage(conn_))));
  }
  PgResult r(PQgetResult(conn_), &PQclear);
  if (PQresultStatus(r.get()) != PGRES_COMMAND_OK) throw_result_error(r.get(), what);
  while (PGresult* extra = PQgetResult(conn_)) PQclear(extra);
  return rows;
}

}  // namespace cryptopipe
