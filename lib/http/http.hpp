#pragma once
// HTTP behind a small interface: the real client is libcurl; unit tests use a fake.
#include <string>
#include <utility>
#include <vector>

namespace cryptopipe {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  HttpHeaders headers;
  std::string body;
};

struct HttpResponse {
  long status = 0;
  HttpHeaders headers;  // names lower-cased
  std::string body;
  /// Value of header `name` (lower-case), or empty.
  std::string header(const std::string& name) const;
};

class HttpClient {
 public:
  virtual ~HttpClient() = default;
  /// Performs one request. Throws TransientError on network-level failure (refused, reset, timeout, truncated);
  /// any HTTP status, including 4xx/5xx, is returned, not thrown.
  virtual HttpResponse send(const HttpRequest& request) = 0;
};

struct CurlOptions {
  long connect_timeout_ms = 10000;
  long total_timeout_ms = 60000;
  std::string ca_file;  // empty: libcurl's default bundle (or CURL_CA_BUNDLE)
  std::string user_agent = "cryptopipe/" CRYPTOPIPE_VERSION;
};

/// A libcurl client that reuses one easy handle (keep-alive) and accepts gzip/deflate.
class CurlHttpClient final : public HttpClient {
 public:
  explicit CurlHttpClient(CurlOptions options = {});
  ~CurlHttpClient() override;
  CurlHttpClient(const CurlHttpClient&) = delete;
  CurlHttpClient& operator=(const CurlHttpClient&) = delete;
  HttpResponse send(const HttpRequest& request) override;

 private:
  void* curl_;
  CurlOptions options_;
};

/// libcurl CURLOPT_HEADERFUNCTION that collects response headers (names lower-cased) into the HttpHeaders
/// passed as CURLOPT_HEADERDATA; a new status line (redirect, 100-continue) starts the list afresh.
std::size_t curl_collect_header(char* data, std::size_t size, std::size_t n, void* headers);

/// Returns `url` with the values of query parameters that could carry secrets removed (for logs and errors).
std::string redact_url(const std::string& url);

}  // namespace cryptopipe
