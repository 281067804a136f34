#include "options.hpp"

#include "core/error.hpp"

namespace cryptopipe::cli {

UnixMicros parse_time_flag(const std::string& flag, const std::string& value) {
  auto t = parse_timestamp(value);
  if (!t) throw UsageError("--" + flag + " \"" + value + "\": expected RFC 3339 (2024-01-01T00:05:00Z) or YYYY-MM-DD");
  return *t;
}

}  // namespace cryptopipe::cli
