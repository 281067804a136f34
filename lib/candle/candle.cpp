#include "candle/candle.hpp"

#include <fmt/format.h>

#include <charconv>

#include "candle/decimal.hpp"
#include "core/error.hpp"

namespace cryptopipe {

Period period_from_id(std::string_view id) {
  static const Period periods[] = {
      {"1MIN", 60}, {"5MIN", 300}, {"15MIN", 900}, {"1HRS", 3600}, {"1DAY", 86400}};
  for (const auto& p : periods)
    if (p.id == id) return p;
  throw UsageError(fmt::format("period \"{}\": unknown (use 1MIN, 5MIN, 15MIN, 1HRS or 1DAY)", id));
}

bool valid_symbol_id(std::string_view id) {
  if (id.empty() || id.size() > 100) return false;
  for (char c : id)
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return false;
  return true;
}

std::string validate_candle(const Candle& c, std::int64_t period_seconds) {
  if (c.symbol_id.empty()) return "symbol_id: missing";
  if (c.time_period_end - c.time_period_start != period_seconds * 1000000)
    return fmt::format("time_period_end: {} is not time_period_start + {}s", format_timestamp(c.time_period_end),
                       period_seconds);
  auto check_range = [&](const std::string& v, const char* name) -> std::string {
    if (v.empty()) return {};
    if (!c.price_low.empty() && compare_decimal(v, c.price_low) < 0)
      return fmt::format("{}: {} is below price_low {}", name, v, c.price_low);
    if (!c.price_high.empty() && compare_decimal(v, c.price_high) > 0)
      return fmt::format("{}: {} is above price_high {}", name, v, c.price_high);
    return {};
  };
  if (!c.price_low.empty() && !c.price_high.empty() && compare_decimal(c.price_low, c.price_high) > 0)
    return fmt::format("price_low: {} is above price_high {}", c.price_low, c.price_high);
  if (auto r = check_range(c.price_open, "price_open"); !r.empty()) return r;
  if (auto r = check_range(c.price_close, "price_close"); !r.empty()) return r;
  for (const auto* p : {&c.price_open, &c.price_high, &c.price_low, &c.price_close})
    if (!p->empty() && decimal_is_negative(*p)) return fmt::format("price: {} is negative", *p);
  if (!c.volume_traded.empty() && decimal_is_negative(c.volume_traded))
    return fmt::format("volume_traded: {} is negative", c.volume_traded);
  if (c.trades_count && *c.trades_count < 0) return fmt::format("trades_count: {} is negative", *c.trades_count);
  return {};
}

void append_csv_row(const Candle& c, std::string& out) {
  // Every field is drawn from a closed alphabet (validated ids, digits, timestamps): none ever needs quoting.
  out += c.symbol_id;
  out += ',';
  out += c.period_id;
  out += ',';
  append_timestamp(c.time_period_start, out);
  out += ',';
  append_timestamp(c.time_period_end, out);
  out += ',';
  if (c.time_open) append_timestamp(*c.time_open, out);
  out += ',';
  if (c.time_close) append_timestamp(*c.time_close, out);
  for (const auto* p : {&c.price_open, &c.price_high, &c.price_low, &c.price_close, &c.volume_traded}) {
    out += ',';
    out += *p;
  }
  out += ',';
  if (c.trades_count) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, *c.trades_count);
    out.append(buf, r.ptr);
  }
  out += ',';
  out += c.source;
  out += '\n';
}

}  // namespace cryptopipe
