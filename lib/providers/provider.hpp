#pragma once
// A provider maps one API's wire format to the canonical candle. Adding one is one new file plus one line in
// provider.cpp's registry; pagination, retries, the raw zone and JSON parsing are shared.
#include <rapidjson/document.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "candle/candle.hpp"
#include "http/http.hpp"

namespace cryptopipe {

/// What to fetch: one symbol and period over the half-open window [start, end).
struct ExtractWindow {
  std::string symbol_id;
  Period period;
  UnixMicros start = 0;
  UnixMicros end = 0;
};

/// The scalar members of one raw candle object, as the exact text that was sent (numbers unparsed).
struct CandleFields {
  enum class Kind { string, number, null, boolean, other };
  struct Field {
    std::string_view name;
    std::string_view text;
    Kind kind;
  };
  std::vector<Field> fields;
  const Field* find(std::string_view name) const {
    for (const auto& f : fields)
      if (f.name == name) return &f;
    return nullptr;
  }
  /// The candle back as compact JSON (for the rejects file).
  std::string to_json() const;
};

/// A candle the provider could not turn into a valid canonical candle, with the reason.
struct RejectedCandle {
  std::string raw_json;
  std::string reason;
};

struct ParsedPage {
  std::vector<Candle> candles;
  std::vector<RejectedCandle> rejects;
  std::size_t entries = 0;  // raw candles in the page, valid or not (drives pagination)
  std::optional<UnixMicros> last_start;
};

class Provider {
 public:
  virtual ~Provider() = default;
  virtual std::string_view name() const = 0;
  /// The real API's base URL.
  virtual std::string default_base_url() const = 0;
  /// Checks the symbol/period/environment; throws UsageError. Called in setup, before any network.
  virtual void validate(const ExtractWindow& window) const = 0;
  /// The request for the page of `window` that starts at `from` (URL without secrets, secrets only in headers).
  virtual HttpRequest page_request(const std::string& base_url, const ExtractWindow& window, UnixMicros from) const = 0;
  /// The most candles one page can return.
  virtual std::size_t page_limit() const = 0;
  /// Member names leading from the response body to the array of candles (empty: the body is the array).
  virtual std::vector<std::string_view> candle_array_path() const = 0;
  /// Human description of the page shape, for errors ("a JSON array of candles").
  virtual std::string_view page_shape() const = 0;
  /// Maps one raw candle to `out`; returns the reason ("field: cause") when it cannot, else empty.
  virtual std::string parse_candle(const CandleFields& raw, const std::string& symbol_id, const Period& period,
                                   Candle& out) const = 0;

  /// Parses a whole response body (a DOM parsed with kParseNumbersAsStringsFlag). Throws BadDataError (cause only)
  /// when the body does not have this API's page shape; a single bad candle becomes a reject.
  ParsedPage parse_page(const rapidjson::Value& body, const std::string& symbol_id, const Period& period) const;
};

/// The provider named `name`; throws UsageError listing the known names.
const Provider& provider_by_name(std::string_view name);

/// Reads a decimal member into plain decimal text; null/absent → empty when `nullable`. Returns the error
/// ("field: cause") or empty.
std::string read_decimal_field(const CandleFields& raw, std::string_view field, bool nullable, std::string& out);

/// Reads a timestamp member (RFC 3339 string); null/absent → nullopt when `nullable`. Returns the error or empty.
std::string read_time_field(const CandleFields& raw, std::string_view field, bool nullable,
                            std::optional<UnixMicros>& out);

/// Reads an integer member (JSON number or string of digits); null/absent → nullopt. Returns the error or empty.
std::string read_integer_field(const CandleFields& raw, std::string_view field, std::optional<std::int64_t>& out);

}  // namespace cryptopipe
