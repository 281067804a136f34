#pragma once
// Shared body of the provider page targets: the bytes are a response body; parse it the way extract does (a
// length-bounded DOM parse, numbers as exact text, UTF-8 validated) and hand the document to parse_page.
// (An earlier in-situ parse here, like transform's before the SAX rewrite, let rapidjson's UTF-8 validation read
// up to 3 bytes past the terminating NUL of a string cut inside a multi-byte sequence: fuzz/findings/.)
#include <rapidjson/document.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "candle/candle.hpp"
#include "core/error.hpp"
#include "providers/provider.hpp"

namespace cryptopipe::fuzz {

inline void parse_page_bytes(const char* provider_name, const std::uint8_t* data, std::size_t size) {
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseNumbersAsStringsFlag | rapidjson::kParseValidateEncodingFlag>(
      reinterpret_cast<const char*>(data), size);
  if (doc.HasParseError()) return;
  const Provider& provider = provider_by_name(provider_name);
  static const Period period = period_from_id("5MIN");
  ParsedPage page;
  try {
    page = provider.parse_page(doc, "BITSTAMP_SPOT_BTC_USD", period);
  } catch (const BadDataError&) {
    return;  // a body that is not the page shape: the documented failure
  }
  // Every accepted candle must be valid and serialisable; a reject must say why.
  std::string row;
  for (const Candle& c : page.candles) {
    if (!validate_candle(c, period.seconds).empty()) std::abort();
    row.clear();
    append_csv_row(c, row);
    if (row.empty() || row.back() != '\n') std::abort();
  }
  for (const RejectedCandle& r : page.rejects)
    if (r.reason.empty()) std::abort();
  if (page.candles.size() + page.rejects.size() > page.entries) std::abort();
}

}  // namespace cryptopipe::fuzz
