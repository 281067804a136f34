#include "providers/provider.hpp"

#include <fmt/format.h>

#include <charconv>

#include "candle/decimal.hpp"
#include "core/error.hpp"
#include "core/log.hpp"

namespace cryptopipe {

const Provider& coinapi_provider();
const Provider& bitstamp_provider();

const Provider& provider_by_name(std::string_view name) {
  // The registry: one line per provider.
  static const Provider* const all[] = {&coinapi_provider(), &bitstamp_provider()};
  for (const Provider* p : all)
    if (p->name() == name) return *p;
  throw UsageError(fmt::format("provider \"{}\": unknown (use coinapi or bitstamp)", name));
}

std::string CandleFields::to_json() const {
  std::string out = "{";
  for (const auto& f : fields) {
    if (out.size() > 1) out += ',';
    out += '"';
    out += log::json_escape(f.name);
    out += "\":";
    switch (f.kind) {
      case Kind::string: out += '"' + log::json_escape(f.text) + '"'; break;
      case Kind::number:
      case Kind::boolean: out += f.text; break;
      case Kind::null: out += "null"; break;
      case Kind::other: out += "\"(nested value)\""; break;
    }
  }
  return out + "}";
}

namespace {

std::string shown(std::string_view text) {
  std::string s(text.substr(0, 60));
  for (char& c : s)
    if (static_cast<unsigned char>(c) < 0x20) c = '?';
  return s;
}

/// A DOM member parsed with kParseNumbersAsStringsFlag: numbers and strings are both strings there.
CandleFields fields_of(const rapidjson::Value& obj) {
  CandleFields f;
  for (const auto& m : obj.GetObject()) {
    CandleFields::Field field{std::string_view(m.name.GetString(), m.name.GetStringLength()), {}, CandleFields::Kind::other};
    if (m.value.IsString()) {
      field.text = std::string_view(m.value.GetString(), m.value.GetStringLength());
      field.kind = CandleFields::Kind::string;
    } else if (m.value.IsNull()) {
      field.kind = CandleFields::Kind::null;
    } else if (m.value.IsBool()) {
      field.text = m.value.IsTrue() ? "true" : "false";
      field.kind = CandleFields::Kind::boolean;
    }
    f.fields.push_back(field);
  }
  return f;
}

}  // namespace

ParsedPage Provider::parse_page(const rapidjson::Value& body, const std::string& symbol_id, const Period& period) const {
  const rapidjson::Value* array = &body;
  for (std::string_view member : candle_array_path()) {
    if (!array->IsObject()) throw BadDataError(fmt::format("body: expected {}", page_shape()));
    auto it = array->FindMember(rapidjson::Value(rapidjson::StringRef(member.data(), member.size())));
    if (it == array->MemberEnd()) throw BadDataError(fmt::format("body: expected {}", page_shape()));
    array = &it->value;
  }
  if (!array->IsArray()) throw BadDataError(fmt::format("body: expected {}", page_shape()));
  ParsedPage page;
  page.entries = array->Size();
  page.candles.reserve(page.entries);
  for (const auto& raw : array->GetArray()) {
    if (!raw.IsObject()) {
      page.rejects.push_back({"null", "candle: not a JSON object"});
      continue;
    }
    CandleFields fields = fields_of(raw);
    Candle c;
    std::string reason = parse_candle(fields, symbol_id, period, c);
    if (!reason.empty()) {
      page.rejects.push_back({fields.to_json(), std::move(reason)});
      continue;
    }
    if (!page.last_start || c.time_period_start > *page.last_start) page.last_start = c.time_period_start;
    page.candles.push_back(std::move(c));
  }
  return page;
}

std::string read_decimal_field(const CandleFields& raw, std::string_view field, bool nullable, std::string& out) {
  const auto* f = raw.find(field);
  if (!f || f->kind == CandleFields::Kind::null) {
    if (nullable) {
      out.clear();
      return {};
    }
    return fmt::format("{}: missing", field);
  }
  if (f->kind != CandleFields::Kind::number && f->kind != CandleFields::Kind::string)
    return fmt::format("{}: not a number", field);
  if (!normalize_decimal_into(f->text, out))
    return fmt::format("{}: \"{}\" is not a decimal number", field, shown(f->text));
  return {};
}

std::string read_time_field(const CandleFields& raw, std::string_view field, bool nullable,
                            std::optional<UnixMicros>& out) {
  out.reset();
  const auto* f = raw.find(field);
  if (!f || f->kind == CandleFields::Kind::null) return nullable ? std::string() : fmt::format("{}: missing", field);
  if (f->kind != CandleFields::Kind::string) return fmt::format("{}: not a timestamp string", field);
  out = parse_timestamp(f->text);
  if (!out) return fmt::format("{}: \"{}\" is not a timestamp", field, shown(f->text));
  return {};
}

std::string read_integer_field(const CandleFields& raw, std::string_view field, std::optional<std::int64_t>& out) {
  out.reset();
  const auto* f = raw.find(field);
  if (!f || f->kind == CandleFields::Kind::null) return {};
  long long n = 0;
  auto [ptr, ec] = std::from_chars(f->text.data(), f->text.data() + f->text.size(), n);
  if ((f->kind != CandleFields::Kind::number && f->kind != CandleFields::Kind::string) || f->text.empty() ||
      ec != std::errc() || ptr != f->text.data() + f->text.size())
    return fmt::format("{}: \"{}\" is not an integer", field, shown(f->text));
  out = n;
  return {};
}

}  // namespace cryptopipe
