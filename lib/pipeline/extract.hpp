#pragma once
#include <functional>
#include <string>
#include <string_view>

#include "core/clock.hpp"
#include "http/http.hpp"
#include "http/retry.hpp"
#include "providers/provider.hpp"

namespace cryptopipe {

struct ExtractOptions {
  const Provider* provider = nullptr;
  ExtractWindow window;
  std::string base_url;
  bool include_open = false;
  RetryPolicy retry;
};

struct ExtractStats {
  std::size_t pages = 0;
  std::size_t candles = 0;
};

/// Fetches every page of the window (following the provider's pagination) and passes each raw response to
/// `emit` as one JSON line (with "\n"). Throws TransientError / RemoteRefusedError / BadDataError with the URL.
ExtractStats run_extract(const ExtractOptions& options, HttpClient& http, Clock& clock,
                         const std::function<void(std::string_view)>& emit);

/// Re-serializes JSON `text` compactly on one line, keeping number text exactly; returns false (and the error
/// offset) if `text` is not valid JSON.
bool compact_json(std::string_view text, std::string& out, std::size_t& error_offset, std::string& error);

}  // namespace cryptopipe
