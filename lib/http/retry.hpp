#pragma once
// Retries with exponential backoff and full jitter on 429/5xx/network errors, honouring Retry-After,
// bounded by attempts and by a total deadline.
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "core/clock.hpp"
#include "http/http.hpp"

namespace cryptopipe {

struct RetryPolicy {
  int max_attempts = 6;
  std::chrono::milliseconds base_delay{500};
  std::chrono::milliseconds max_delay{30000};
  std::chrono::milliseconds deadline{300000};  // total time budget across all attempts
};

/// Parses a Retry-After value (delta-seconds or HTTP-date) relative to `now_us`; nullopt if unparseable.
std::optional<std::chrono::milliseconds> parse_retry_after(const std::string& value, std::int64_t now_us);

/// Sends `request` until it gets a response that is not retryable. Returns 2xx/3xx responses. Throws
/// RemoteRefusedError for other 4xx (status and the API's message), TransientError when attempts or the deadline
/// run out on 429/5xx/network errors. `jitter` maps [0, cap] to the delay actually slept (default: uniform random).
HttpResponse send_with_retry(HttpClient& client, const HttpRequest& request, const RetryPolicy& policy, Clock& clock,
                             const std::function<std::int64_t(std::int64_t)>& jitter = {});

/// Extracts a short human message from an API error body (JSON "error"/"message"/"reason" or the first text).
std::string api_error_message(const std::string& body);

}  // namespace cryptopipe
