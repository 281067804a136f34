// CoinAPI market data REST: GET /v1/ohlcv/{symbol_id}/history. Numbers are JSON numbers, times carry 7
// fractional digits, prices may be null, pagination moves time_start forward.
#include <fmt/format.h>

#include <cstdlib>

#include "core/error.hpp"
#include "providers/provider.hpp"

namespace cryptopipe {
namespace {

constexpr std::size_t kCoinApiPageLimit = 100000;

std::string coinapi_time(UnixMicros t) {
  std::string s = format_rfc3339(t);  // 2024-01-01T00:00:00Z
  return s.substr(0, s.size() - 1);   // the documented form has no zone suffix and means UTC
}

class CoinApi final : public Provider {
 public:
  std::string_view name() const override { return "coinapi"; }
  std::string default_base_url() const override { return "https://rest.coinapi.io"; }
  std::size_t page_limit() const override { return kCoinApiPageLimit; }
  std::vector<std::string_view> candle_array_path() const override { return {}; }
  std::string_view page_shape() const override { return "a JSON array of candles"; }

  void validate(const ExtractWindow& w) const override {
    const char* key = std::getenv("COINAPI_KEY");
    if (!key || !*key) throw UsageError("COINAPI_KEY: not set (the CoinAPI key is read from the environment only)");
    if (w.symbol_id.empty() || w.symbol_id.find_first_of("/?#&% ") != std::string::npos)
      throw UsageError(fmt::format("symbol \"{}\": not a CoinAPI symbol_id", w.symbol_id));
  }

  HttpRequest page_request(const std::string& base, const ExtractWindow& w, UnixMicros from) const override {
    HttpRequest r;
    r.url = fmt::format("{}/v1/ohlcv/{}/history?period_id={}&time_start={}&time_end={}&limit={}", base, w.symbol_id,
                        w.period.id, coinapi_time(from), coinapi_time(w.end), kCoinApiPageLimit);
    const char* key = std::getenv("COINAPI_KEY");
    r.headers.emplace_back("X-CoinAPI-Key", key ? key : "");
    r.headers.emplace_back("Accept", "application/json");
    return r;
  }

  std::string parse_candle(const CandleFields& raw, const std::string& symbol_id, const Period& period,
                           Candle& c) const override {
    c.symbol_id = symbol_id;
    c.period_id = period.id;
    c.source = "coinapi";
    std::optional<UnixMicros> start, end;
    std::string error;
    if (!(error = read_time_field(raw, "time_period_start", false, start)).empty()) return error;
    if (!(error = read_time_field(raw, "time_period_end", false, end)).empty()) return error;
    if (!(error = read_time_field(raw, "time_open", true, c.time_open)).empty()) return error;
    if (!(error = read_time_field(raw, "time_close", true, c.time_close)).empty()) return error;
    c.time_period_start = *start;
    c.time_period_end = *end;
    // Prices are null for periods without trades; volume is always sent.
    if (!(error = read_decimal_field(raw, "price_open", true, c.price_open)).empty()) return error;
    if (!(error = read_decimal_field(raw, "price_high", true, c.price_high)).empty()) return error;
    if (!(error = read_decimal_field(raw, "price_low", true, c.price_low)).empty()) return error;
    if (!(error = read_decimal_field(raw, "price_close", true, c.price_close)).empty()) return error;
    if (!(error = read_decimal_field(raw, "volume_traded", false, c.volume_traded)).empty()) return error;
    if (!(error = read_integer_field(raw, "trades_count", c.trades_count)).empty()) return error;
    return validate_candle(c, period.seconds);
  }
};

}  // namespace

const Provider& coinapi_provider() {
  static CoinApi p;
  return p;
}

}  // namespace cryptopipe
