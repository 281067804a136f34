#include "http/retry.hpp"

#include <curl/curl.h>
#include <fmt/format.h>
#include <rapidjson/document.h>

#include <algorithm>
#include <random>

#include "core/error.hpp"
#include "core/log.hpp"

namespace cryptopipe {

std::optional<std::chrono::milliseconds> parse_retry_after(const std::string& value, std::int64_t now_us) {
  if (value.empty()) return std::nullopt;
  if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    if (value.size() > 9) return std::nullopt;
    return std::chrono::milliseconds(std::stoll(value) * 1000);
  }
  time_t when = curl_getdate(value.c_str(), nullptr);  // RFC 7231 HTTP-date, as libcurl already parses them
  if (when < 0) return std::nullopt;
  std::int64_t delta_ms = static_cast<std::int64_t>(when) * 1000 - now_us / 1000;
  return std::chrono::milliseconds(std::max<std::int64_t>(0, delta_ms));
}

std::string api_error_message(const std::string& body) {
  rapidjson::Document d;
  d.Parse(body.c_str(), body.size());
  if (!d.HasParseError()) {
    if (d.IsObject()) {
      for (const char* k : {"error", "message", "reason", "detail"}) {
        auto it = d.FindMember(k);
        if (it != d.MemberEnd() && it->value.IsString()) return it->value.GetString();
        if (it != d.MemberEnd() && it->value.IsObject()) {
          for (auto& m : it->value.GetObject())
            if (m.value.IsString()) return std::string(m.name.GetString()) + ": " + m.value.GetString();
        }
      }
      auto errs = d.FindMember("errors");
      if (errs != d.MemberEnd() && errs->value.IsArray() && !errs->value.Empty() && errs->value[0].IsObject()) {
        auto m = errs->value[0].FindMember("message");
        if (m != errs->value[0].MemberEnd() && m->value.IsString()) return m->value.GetString();
      }
    }
  }
  std::string s = body.substr(0, 200);
  for (char& c : s)
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  return s.empty() ? "(empty body)" : s;
}

HttpResponse send_with_retry(HttpClient& client, const HttpRequest& request, const RetryPolicy& policy, Clock& clock,
                             const std::function<std::int64_t(std::int64_t)>& jitter) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  auto draw = [&](std::int64_t cap) {
    if (jitter) return jitter(cap);
    return std::uniform_int_distribution<std::int64_t>(0, cap)(rng);
  };
  const std::string where = redact_url(request.url);
  const std::int64_t started = clock.now_us();
  std::string last_problem;
  for (int attempt = 1;; ++attempt) {
    std::optional<std::chrono::milliseconds> server_delay;
    try {
      HttpResponse r = client.send(request);
      if (r.status < 400) return r;
      if (r.status != 429 && r.status < 500) {
        throw RemoteRefusedError(fmt::format("{}: HTTP {}: {}", where, r.status, api_error_message(r.body)));
      }
      last_problem = fmt::format("HTTP {}: {}", r.status, api_error_message(r.body));
      server_delay = parse_retry_after(r.header("retry-after"), clock.now_us());
    } catch (const TransientError& e) {
      last_problem = e.what();
      // The message already names the URL; keep only the cause for the final error.
      if (auto p = last_problem.find(where + ": "); p == 0) last_problem = last_problem.substr(where.size() + 2);
    }
    std::int64_t elapsed_ms = (clock.now_us() - started) / 1000;
    if (attempt >= policy.max_attempts)
      throw TransientError(fmt::format("{}: giving up after {} attempts: {}", where, attempt, last_problem));
    std::int64_t cap = std::min<std::int64_t>(policy.max_delay.count(),
                                              policy.base_delay.count() << std::min(attempt - 1, 20));
    std::int64_t delay = server_delay ? std::max<std::int64_t>(server_delay->count(), 0) : draw(cap);
    if (elapsed_ms + delay > policy.deadline.count())
      throw TransientError(fmt::format("{}: giving up after {} attempts (deadline {}s): {}", where, attempt,
                                       policy.deadline.count() / 1000, last_problem));
    log::warn("{}: {}; retry {}/{} in {} ms", where, last_problem, attempt, policy.max_attempts - 1, delay);
    clock.sleep_for(std::chrono::milliseconds(delay));
  }
}

}  // namespace cryptopipe
