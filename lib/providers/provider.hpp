#pragma once
// A provider maps one API's wire format to the canonical candle. Adding one is one new file plus one line in
// registry.cpp; pagination, retries and the raw zone are shared (pipeline/extract.cpp).
#include <rapidjson/document.h>

#include <functional>
#include <memory>
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

/// A candle the provider could not turn into a valid canonical candle, with the reason.
struct RejectedCandle {
  const rapidjson::Value* raw;
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
  /// The most candles one page can return for this request size.
  virtual std::size_t page_limit() const = 0;
  /// Parses a response body. Throws BadDataError (cause only) when the body is not this API's page shape; a
  /// single bad candle becomes a reject. `window.start/end` are not applied here.
  virtual ParsedPage parse_page(const rapidjson::Value& body, const std::string& symbol_id, const Period& period) const = 0;
};

/// The provider named `name`; throws UsageError listing the known names.
const Provider& provider_by_name(std::string_view name);

/// Reads a decimal field of a JSON object (number or string) into plain decimal text; null/absent → empty when
/// `nullable`. Returns an error text naming the field, or empty on success.
std::string read_decimal_field(const rapidjson::Value& obj, const char* field, bool nullable, std::string& out);

}  // namespace cryptopipe
