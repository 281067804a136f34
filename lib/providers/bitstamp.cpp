// Bitstamp public REST v2: GET /api/v2/ohlc/{pair}/?step=&limit=&start=. No key. Every value is a JSON string;
// `timestamp` is the period start in Unix seconds; there is no trades count or open/close time.
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
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

  ParsedPage parse_page(const rapidjson::Value& body, const std::string& symbol_id, const Period& period) const override {
    if (!body.IsObject()) throw BadDataError("body: expected a JSON object");
    auto data = body.FindMember("data");
    if (data == body.MemberEnd() || !data->value.IsObject()) throw BadDataError("body: no \"data\" object");
    auto ohlc = data->value.FindMember("ohlc");
    if (ohlc == data->value.MemberEnd() || !ohlc->value.IsArray()) throw BadDataError("data: no \"ohlc\" array");
    ParsedPage page;
    page.entries = ohlc->value.Size();
    page.candles.reserve(page.entries);
    for (const auto& raw : ohlc->value.GetArray()) {
      if (!raw.IsObject()) {
        page.rejects.push_back({&raw, "candle: not a JSON object"});
        continue;
      }
      Candle c;
      c.symbol_id = symbol_id;
      c.period_id = period.id;
      c.source = "bitstamp";
      std::string error;
      auto ts = raw.FindMember("timestamp");
      if (ts == raw.MemberEnd() || !ts->value.IsString()) {
        error = "timestamp: missing";
      } else {
        std::string_view s(ts->value.GetString(), ts->value.GetStringLength());
        long long secs = -1;
        auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), secs);
        if (ec != std::errc() || ptr != s.data() + s.size()) secs = -1;
        if (secs < 0 || secs > 253402300799LL) {
          error = fmt::format("timestamp: \"{}\" is not Unix seconds", s.substr(0, 40));
        } else {
          c.time_period_start = secs * 1000000;
          c.time_period_end = c.time_period_start + period.seconds * 1000000;
        }
      }
      for (auto [field, dst] : {std::pair{"open", &c.price_open}, std::pair{"high", &c.price_high},
                                std::pair{"low", &c.price_low}, std::pair{"close", &c.price_close},
                                std::pair{"volume", &c.volume_traded}}) {
        if (!error.empty()) break;
        error = read_decimal_field(raw, field, false, *dst);
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

const Provider& bitstamp_provider() {
  static Bitstamp p;
  return p;
}

}  // namespace cryptopipe
