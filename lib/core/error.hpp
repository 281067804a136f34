#pragma once
// The one error policy: lib/ throws these typed errors, cli/main.cpp catches them once and maps them to exit codes.
#include <stdexcept>
#include <string>

namespace cryptopipe {

/// Documented process exit codes (README "Exit codes"). 99 is never used: Airflow reads it as "skipped".
enum class ExitCode : int {
  ok = 0,
  other = 1,
  usage = 2,           // usage or configuration error: fix the command line / environment
  bad_data = 3,        // input data is malformed or fails validation
  remote_refused = 4,  // the remote side refused (auth, other 4xx): retrying will not help
  transient = 5,       // network, 5xx, 429 after retries: the scheduler should retry later
};

/// Base of all cryptopipe errors. what() is "<object>: <cause>", one line, never containing a secret.
class Error : public std::runtime_error {
 public:
  Error(ExitCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ExitCode code() const noexcept { return code_; }

 private:
  ExitCode code_;
};

struct UsageError : Error {
  explicit UsageError(const std::string& m) : Error(ExitCode::usage, m) {}
};
struct BadDataError : Error {
  explicit BadDataError(const std::string& m) : Error(ExitCode::bad_data, m) {}
};
struct RemoteRefusedError : Error {
  explicit RemoteRefusedError(const std::string& m) : Error(ExitCode::remote_refused, m) {}
};
struct TransientError : Error {
  explicit TransientError(const std::string& m) : Error(ExitCode::transient, m) {}
};

}  // namespace cryptopipe
