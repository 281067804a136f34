// Bitstamp public REST v2: GET /api/v2/ohlc/{pair}/?step=&limit=&start=. No key. Every value is a JSON string;
// `timestamp` is the period start in Unix seconds; there is no trades count or open/close time.
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "core/error.hpp"
#include "providers/provider.hpp"

namespace cryptopipe {
namespace {

constexpr std::size_t kBitstampPageLimit = 1000;

/// BITSTAMP_SPOT_BTC_USD → btcusd.
std::string bitstamp_pair(const std::string& symbol_id) {
  const std::string prefix = "BITSTAMP_SPOT_";
  if (symbol_id.rfind(prefix, 0) != 0)
    throw UsageError(fmt::format("symbol \"{}\": Bitstamp symbols look like BITSTAMP_SPOT_BTC_USD", symbol_id));
  std::string rest = symbol_id.substr(prefix.size());
  auto us = rest.find('_');
  if (us == std::string::npos || us == 0 || us + 1 == rest.size() || rest.find('_', us + 1) != std::string::npos)
    throw UsageError(fmt::format("symbol \"{}\": Bitstamp symbols look like BITSTAMP_SPOT_BTC_USD", symbol_id));
  std::string pair = rest.substr(0, us) + rest.substr(us + 1);
  for (char& ch : pair) {
    if (!std::isalnum(static_cast<unsigned char>(ch)))
      throw UsageError(fmt::format("symbol \"{}\": Bitstamp symbols look like BITSTAMP_SPOT_BTC_USD", symbol_id));
    ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  }
  return pair;
}

class Bitstamp final : public Provider {
 public:
  std::string_view name() const override { return "bitstamp"; }
  std::string default_base_url() const override { return "https://www.bitstamp.net"; }
  std::size_t page_limit() const override { return kBitstampPageLimit; }

  void validate(const ExtractWindow& w) const override {
    bitstamp_pair(w.symbol_id);
    static const std::int64_t steps[] = {60, 180, 300, 900, 1800, 3600, 7200, 14400, 21600, 43200, 86400, 259200};
    if (std::find(std::begin(steps), std::end(steps), w.period.seconds) == std::end(steps))
      throw UsageError(fmt::format("period \"{}\": not offered by Bitstamp", w.period.id));
  }

  HttpRequest page_request(const std::string& base, const ExtractWindow& w, UnixMicros from) const override {
    // Only start+limit: when both start and end are given Bitstamp anchors the page at end instead.
    std::int64_t step_us = w.period.seconds * 1000000;
    std::int64_t remaining = (w.end - from + step_us - 1) / step_us;
    std::size_t limit = static_cast<std::size_t>(std::clamp<std::int64_t>(remaining, 1, kBitstampPageLimit));
    HttpRequest r;
    r.url = fmt::format("{}/api/v2/ohlc/{}/?step={}&limit={}&start={}", base, bitstamp_pair(w.symbol_id),
                        w.period.seconds, limit, from / 1000000);
    r.headers.emplace_back("Accept", "application/json");
    return r;
  }

  std::vector<std::string_view> candle_array_path() const override { return {"data", "ohlc"}; }
  std::string_view page_shape() const override { return "an object with a data.ohlc array"; }

  std::string parse_candle(const CandleFields& raw, const std::string& symbol_id, const Period& period,
                           Candle& c) const override {
    c.symbol_id = symbol_id;
    c.period_id = period.id;
    c.source = "bitstamp";
    c.time_open.reset();  // Bitstamp sends neither open/close times nor a trade count
    c.time_close.reset();
    c.trades_count.reset();
    std::optional<std::int64_t> secs;
    std::string error = read_integer_field(raw, "timestamp", secs);
    if (!error.empty()) return error;
    if (!secs) return "timestamp: missing";
    if (*secs < 0 || *secs > 253402300799LL) return fmt::format("timestamp: {} is out of range", *secs);
    c.time_period_start = *secs * 1000000;
    c.time_period_end = c.time_period_start + period.seconds * 1000000;
    if (!(error = read_decimal_field(raw, "open", false, c.price_open)).empty()) return error;
    if (!(error = read_decimal_field(raw, "high", false, c.price_high)).empty()) return error;
    if (!(error = read_decimal_field(raw, "low", false, c.price_low)).empty()) return error;
    if (!(error = read_decimal_field(raw, "close", false, c.price_close)).empty()) return error;
    if (!(error = read_decimal_field(raw, "volume", false, c.volume_traded)).empty()) return error;
    return validate_candle(c, period.seconds);
  }
};

}  // namespace

const Provider& bitstamp_provider() {
  static Bitstamp p;
  return p;
}

}  // namespace cryptopipe
