#pragma once
// Timestamps are integer microseconds since the Unix epoch, UTC: exact, cheap to compare, no time zones.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace cryptopipe {

using UnixMicros = std::int64_t;

/// Parses RFC 3339 (`2024-01-01T00:00:00.0000000Z`, `+00:00` offsets, space instead of T, `+00` as PostgreSQL
/// prints) or a bare `YYYY-MM-DD` (midnight UTC). Fractions beyond microseconds are truncated (CoinAPI sends 7
/// digits). Returns nullopt when the text is not such a timestamp.
std::optional<UnixMicros> parse_timestamp(std::string_view text);

/// Canonical text `YYYY-MM-DD HH:MM:SS[.ffffff]+00` (fraction only when non-zero).
std::string format_timestamp(UnixMicros t);
/// Appends format_timestamp(t) to `out` without a temporary (the transform hot path).
void append_timestamp(UnixMicros t, std::string& out);

/// RFC 3339 with a `Z` suffix and no fraction when whole seconds (for API query strings).
std::string format_rfc3339(UnixMicros t);

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
std::int64_t days_from_civil(int y, unsigned m, unsigned d);

}  // namespace cryptopipe
