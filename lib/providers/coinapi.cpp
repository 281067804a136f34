// CoinAPI market data REST: GET /v1/ohlcv/{symbol_id}/history. Numbers are JSON numbers, times carry 7
// fractional digits, prices may be null, pagination moves time_start forward.
#include <fmt/format.h>

#include <charconv>
#include <cstdlib>

#include "core/error.hpp"
#include "providers/provider.hpp"

namespace cryptopipe {
namespace {

constexpr std::size_t kCoinApiPageLimit = 100000;

std::string coinapi_time(UnixMicros t) {
  std::string s = format_rfc3339(t);  // 2024-01-01T00:00:00Z: CoinAPI reads ISO 8601 UTC
  return s.substr(0, s.size() - 1);   // documented form has no zone suffix and means UTC
}

bool read_time(const rapidjson::Value& obj, const char* field, bool nullable, std::optional<UnixMicros>& out,
               std::string& error) {
  auto it = obj.FindMember(field);
  if (it == obj.MemberEnd() || it->value.IsNull()) {
    if (!nullable) error = fmt::format("{}: missing", field);
    out.reset();
    return nullable;
  }
  if (!it->value.IsString()) {
    error = fmt::format("{}: not a string", field);
    return false;
  }
  out = parse_timestamp(std::string_view(it->value.GetString(), it->value.GetStringLength()));
  if (!out) error = fmt::format("{}: \"{}\" is not a timestamp", field, std::string(it->value.GetString()).substr(0, 40));
  return out.has_value();
}

class CoinApi final : public Provider {
 public:
  std::string_view name() const override { return "coinapi"; }
  std::string default_base_url() const override { return "https://rest.coinapi.io"; }
  std::size_t page_limit() const override { return kCoinApiPageLimit; }

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

  ParsedPage parse_page(const rapidjson::Value& body, const std::string& symbol_id, const Period& period) const override {
    if (!body.IsArray()) throw BadDataError("body: expected a JSON array of candles");
    ParsedPage page;
    page.entries = body.Size();
    page.candles.reserve(body.Size());
    for (const auto& raw : body.GetArray()) {
      if (!raw.IsObject()) {
        page.rejects.push_back({&raw, "candle: not a JSON object"});
        continue;
      }
      Candle c;
      c.symbol_id = symbol_id;
      c.period_id = period.id;
      c.source = "coinapi";
      std::string error;
      std::optional<UnixMicros> start, end;
      bool ok = read_time(raw, "time_period_start", false, start, error) &&
                read_time(raw, "time_period_end", false, end, error) &&
                read_time(raw, "time_open", true, c.time_open, error) &&
                read_time(raw, "time_close", true, c.time_close, error);
      if (ok) {
        c.time_period_start = *start;
        c.time_period_end = *end;
        for (auto [field, dst] : {std::pair{"price_open", &c.price_open}, std::pair{"price_high", &c.price_high},
                                  std::pair{"price_low", &c.price_low}, std::pair{"price_close", &c.price_close},
                                  std::pair{"volume_traded", &c.volume_traded}}) {
          error = read_decimal_field(raw, field, field != std::string_view("volume_traded"), *dst);
          if (!error.empty()) break;
        }
      }
      if (error.empty()) {
        auto it = raw.FindMember("trades_count");
        if (it != raw.MemberEnd() && !it->value.IsNull()) {
          // Number text is not NUL-terminated when parsed in situ: always use the length.
          std::string_view text = it->value.IsString() ? std::string_view(it->value.GetString(), it->value.GetStringLength())
                                                       : std::string_view();
          long long n = 0;
          auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
          if (text.empty() || ec != std::errc() || ptr != text.data() + text.size()) error = "trades_count: not an integer";
          else c.trades_count = n;
        }
      }
      if (error.empty()) error = validate_candle(c, period.seconds);
      if (!error.empty()) {
        page.rejects.push_back({&raw, std::move(error)});
        continue;
      }
      if (!page.last_start || c.time_period_start > *page.last_start) page.last_start = c.time_period_start;
      page.candles.push_back(std::move(c));
    }
    return page;
  }
};

}  // namespace

const Provider& coinapi_provider() {
  static CoinApi p;
  return p;
}

}  // namespace cryptopipe
