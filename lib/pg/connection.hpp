#pragma once
// A thin RAII layer over libpq: connection from a conninfo string and/or the PG* environment (libpq's own
// rules), errors mapped onto the error policy by SQLSTATE, COPY in and out streamed in chunks.
#include <libpq-fe.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace cryptopipe {

/// Owns a PGresult.
using PgResult = std::unique_ptr<PGresult, decltype(&PQclear)>;

class PgConnection {
 public:
  /// Connects with `conninfo` (empty: PG* env vars only). Throws TransientError when the server cannot be
  /// reached, RemoteRefusedError when authentication fails. Messages never contain the password.
  explicit PgConnection(const std::string& conninfo);
  ~PgConnection();
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  /// Runs one or more statements without parameters; returns the last result. Throws a typed Error
  /// ("<what>: <server message>") on failure.
  PgResult exec(const std::string& sql, std::string_view what = "query");
  /// Runs one statement with text parameters.
  PgResult exec_params(const std::string& sql, const std::vector<std::string>& params, std::string_view what = "query");

  /// Starts `COPY ... FROM STDIN`; then put_copy_data() any number of times and end_copy().
  void begin_copy_in(const std::string& copy_sql);
  void put_copy_data(std::string_view data);
  /// Ends the COPY; throws a typed Error with the server's message and context (line, column) on failure.
  /// Returns the number of rows copied.
  std::int64_t end_copy(std::string_view what = "COPY");
  /// Aborts a COPY in progress (the transaction is then failed and must be rolled back).
  void abort_copy(const std::string& reason);

  /// Runs `COPY (...) TO STDOUT` and passes each chunk of rows to `sink` as it arrives (memory stays flat).
  /// Returns the number of rows.
  std::size_t copy_out(const std::string& copy_sql, const std::function<void(std::string_view)>& sink,
                       std::string_view what = "COPY");

  /// SQLSTATE of the last failed command ("" if none or the connection broke).
  const std::string& last_sqlstate() const { return last_sqlstate_; }
  /// "host:port/dbname" for messages (no user, no password).
  const std::string& describe() const { return description_; }
  PGconn* raw() { return conn_; }

 private:
  [[noreturn]] void throw_result_error(const PGresult* r, std::string_view what);
  PGconn* conn_ = nullptr;
  std::string description_;
  std::string last_sqlstate_;
};

/// Maps a SQLSTATE to the error policy's exit code class (3 bad data, 5 transient, 4 refused, 1 other).
int exit_code_for_sqlstate(std::string_view sqlstate);

}  // namespace cryptopipe
