#pragma once
// Small parsing helpers shared by the subcommands' setup steps.
#include <string>

#include "candle/timestamp.hpp"

namespace cryptopipe::cli {

/// Parses a --start/--end value (RFC 3339 or YYYY-MM-DD); throws UsageError naming the flag.
UnixMicros parse_time_flag(const std::string& flag, const std::string& value);

}  // namespace cryptopipe::cli
