#include "pipeline/extract.hpp"

#include <fmt/format.h>
#include <rapidjson/error/en.h>
#include <rapidjson/reader.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "core/error.hpp"
#include "core/log.hpp"

namespace cryptopipe {
namespace {

/// rapidjson's Writer quotes RawNumber; this forwards numbers as raw values so their text survives untouched.
struct RawNumberWriter : rapidjson::Writer<rapidjson::StringBuffer> {
  using Base = rapidjson::Writer<rapidjson::StringBuffer>;
  using Base::Base;
  bool RawNumber(const char* str, rapidjson::SizeType length, bool) {
    return RawValue(str, length, rapidjson::kNumberType);
  }
};

std::string envelope(const ExtractOptions& o, const std::string& url, UnixMicros fetched_at, long status,
                     std::string_view body_json) {
  const auto& w = o.window;
  return fmt::format(
      R"({{"provider":"{}","symbol_id":"{}","period_id":"{}","url":"{}","fetched_at":"{}","status":{},)"
      R"("window_start":"{}","window_end":"{}","include_open":{},"body":{}}})"
      "\n",
      o.provider->name(), log::json_escape(w.symbol_id), w.period.id, log::json_escape(url), format_rfc3339(fetched_at),
      status, format_rfc3339(w.start), format_rfc3339(w.end), o.include_open ? "true" : "false", body_json);
}

}  // namespace

bool compact_json(std::string_view text, std::string& out, std::size_t& error_offset, std::string& error) {
  rapidjson::StringBuffer buffer;
  RawNumberWriter writer(buffer);
  rapidjson::Reader reader;
  rapidjson::MemoryStream ms(text.data(), text.size());
  rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream> is(ms);
  auto result = reader.Parse<rapidjson::kParseNumbersAsStringsFlag | rapidjson::kParseValidateEncodingFlag>(is, writer);
  if (result.IsError()) {
    error_offset = result.Offset();
    error = rapidjson::GetParseError_En(result.Code());
    return false;
  }
  out.assign(buffer.GetString(), buffer.GetSize());
  return true;
}

ExtractStats run_extract(const ExtractOptions& o, HttpClient& http, Clock& clock,
                         const std::function<void(std::string_view)>& emit) {
  ExtractStats stats;
  ExtractWindow w = o.window;
  const std::int64_t step = w.period.seconds * 1000000;
  if (!o.include_open) {
    // Only closed periods: never ask for a period whose end is still in the future.
    UnixMicros closed_end = clock.now_us() / step * step;
    if (w.end > closed_end) {
      log::info("window end {} is not closed yet; fetching up to {}", format_rfc3339(w.end), format_rfc3339(closed_end));
      w.end = closed_end;
    }
  }
  ExtractOptions effective = o;
  effective.window = w;
  UnixMicros from = w.start;
  while (from < w.end) {
    HttpRequest request = o.provider->page_request(o.base_url, w, from);
    const std::string shown_url = redact_url(request.url);
    std::string body_json;
    HttpResponse response;
    // A 200 whose body is not JSON (truncated transfer, HTML error page from a proxy) is as transient as a 502.
    for (int attempt = 1;; ++attempt) {
      response = send_with_retry(http, request, o.retry, clock);
      std::size_t offset = 0;
      std::string error;
      if (compact_json(response.body, body_json, offset, error)) break;
      std::string cause = fmt::format("HTTP {} body is not valid JSON at byte {}: {}", response.status, offset, error);
      if (attempt >= o.retry.max_attempts)
        throw TransientError(fmt::format("{}: giving up after {} attempts: {}", shown_url, attempt, cause));
      auto delay = std::min(o.retry.max_delay, o.retry.base_delay * (1 << std::min(attempt - 1, 16)));
      log::warn("{}: {}; retry {}/{} in {} ms", shown_url, cause, attempt, o.retry.max_attempts - 1, delay.count());
      clock.sleep_for(delay);
    }
    rapidjson::Document doc;
    doc.Parse<rapidjson::kParseNumbersAsStringsFlag>(body_json.data(), body_json.size());
    ParsedPage page;
    try {
      page = o.provider->parse_page(doc, w.symbol_id, w.period);
    } catch (const BadDataError& e) {
      std::string message = api_error_message(body_json);
      throw RemoteRefusedError(fmt::format("{}: HTTP {}: unexpected response ({}): {}", shown_url, response.status,
                                           e.what(), message));
    }
    emit(envelope(effective, shown_url, clock.now_us(), response.status, body_json));
    ++stats.pages;
    stats.candles += page.entries;
    log::debug("{}: {} candles", shown_url, page.entries);
    if (page.entries == 0 || !page.last_start) break;
    UnixMicros next = *page.last_start + step;
    // Keep paging until the window is covered: a server may cap pages below the limit we asked for, so a short
    // page alone does not prove the window is done; an empty page or one that does not advance does.
    if (next <= from) break;
    from = next;
  }
  return stats;
}

}  // namespace cryptopipe
