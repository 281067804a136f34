#pragma once
// Time is a side effect like any other: behind an interface so retry/backoff tests run on a fake clock.
#include <chrono>
#include <cstdint>

namespace cryptopipe {

class Clock {
 public:
  virtual ~Clock() = default;
  /// Wall-clock time as microseconds since the Unix epoch (UTC).
  virtual std::int64_t now_us() = 0;
  /// Blocks for `d` (a fake clock just advances).
  virtual void sleep_for(std::chrono::milliseconds d) = 0;
};

/// The process-wide real clock.
Clock& system_clock();

}  // namespace cryptopipe
