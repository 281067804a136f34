#pragma once
// The canonical candle: the contract between stages, whatever provider it came from.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "candle/timestamp.hpp"

namespace cryptopipe {

/// One of 1MIN 5MIN 15MIN 1HRS 1DAY with its length.
struct Period {
  std::string id;
  std::int64_t seconds;
};

/// Returns the period for `id`; throws UsageError listing the valid ids otherwise.
Period period_from_id(std::string_view id);

struct Candle {
  std::string symbol_id;  // CoinAPI form EXCHANGE_SPOT_BASE_QUOTE
  std::string period_id;
  UnixMicros time_period_start = 0;
  UnixMicros time_period_end = 0;
  std::optional<UnixMicros> time_open;
  std::optional<UnixMicros> time_close;
  // Plain decimal text (normalize_decimal); empty = null.
  std::string price_open, price_high, price_low, price_close, volume_traded;
  std::optional<std::int64_t> trades_count;
  std::string source;
};

/// The canonical CSV header line, without the newline.
inline constexpr std::string_view kCanonicalHeader =
    "symbol_id,period_id,time_period_start,time_period_end,time_open,time_close,price_open,price_high,price_low,"
    "price_close,volume_traded,trades_count,source";

/// True for a symbol id the canonical CSV can carry unquoted: ^[A-Z0-9_]{1,100}$ (CoinAPI's form).
bool valid_symbol_id(std::string_view id);

/// Returns why `c` is not a valid candle for `period_seconds` (empty string when valid): end = start + period,
/// low <= open, close <= high, volume >= 0, trades >= 0.
std::string validate_candle(const Candle& c, std::int64_t period_seconds);

/// Appends `c` as one canonical CSV row (with the trailing newline) to `out`.
void append_csv_row(const Candle& c, std::string& out);

}  // namespace cryptopipe
