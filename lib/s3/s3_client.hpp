#pragma once
// S3 over libcurl with our SigV4 signer: single PUT, parallel multipart upload (aborted on failure or SIGTERM),
// streaming GET, HEAD. Path-style addressing for a custom endpoint (moto, MinIO), virtual-hosted for AWS.
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/clock.hpp"
#include "http/http.hpp"
#include "s3/object_store.hpp"
#include "s3/sigv4.hpp"

namespace cryptopipe {

/// The parts of an S3 XML error body (<Error><Code>…</Code><Message>…</Message></Error>); empty when absent.
struct S3ErrorBody {
  std::string code, message;
};
/// Parses an S3 error document; never throws (a non-XML body gives an empty code and its first line as message).
S3ErrorBody parse_s3_error(const std::string& body);
/// Text of the first <tag>…</tag> in `xml`, entities decoded; empty if missing.
std::string xml_text(const std::string& xml, const std::string& tag);
/// One-line "HTTP 403 AccessDenied: Access Denied" for a failed response.
std::string describe_s3_failure(long status, const std::string& body);

/// The part size for a multipart upload of `size` bytes: `requested`, or grown (whole MiB) so the upload stays
/// within S3's 10000 parts. Throws UsageError past S3's object size limit.
std::uint64_t effective_part_size(std::uint64_t size, std::uint64_t requested);

/// Where a request for bucket/key goes: the URL and what SigV4 signs (host header and encoded path).
struct S3Address {
  std::string url, host, path;
};
/// Path-style under `endpoint_url` when set (http[s]://host[:port]), else virtual-hosted on AWS for `region`
/// (path-style there too for bucket names with dots, which break TLS wildcard certificates).
S3Address s3_address(const S3Settings& settings, const std::string& bucket, const std::string& key);

/// A request body: bytes in memory, or a byte range of an open file streamed with pread (memory stays flat
/// however large the part).
struct RequestBody {
  std::string_view bytes;
  int fd = -1;
  std::uint64_t offset = 0, length = 0;
  std::uint64_t size() const { return fd >= 0 ? length : bytes.size(); }
};
/// Digests of a body in one pass (a file range is read in 1 MiB chunks). Throws Error if the file read fails.
struct BodyDigests {
  std::string sha256_hex, md5_hex, md5_base64;
};
BodyDigests digest_body(const RequestBody& body);

/// Receives a 2xx response body chunk by chunk, with the response so far (status 200 or 206, headers).
using BodySink = std::function<void(const HttpResponse& response, std::string_view chunk)>;

/// One connection's worth of S3 HTTP (one per thread). The real one is libcurl; unit tests use an in-memory fake.
class S3Transport {
 public:
  virtual ~S3Transport() = default;
  /// Performs one request. 2xx bodies go to `sink` when given; error bodies are kept in the response.
  /// Throws TransientError on network failures, Error (interrupted) on cancellation when `cancellable`.
  virtual HttpResponse perform(const std::string& method, const std::string& url, const HttpHeaders& headers,
                               const RequestBody& body, const BodySink* sink, bool cancellable) = 0;
};

/// Makes a transport; called once per S3Client and once per multipart worker thread.
using S3TransportFactory = std::function<std::unique_ptr<S3Transport>()>;

/// libcurl easy handle: keep-alive, streams GET bodies to a sink, aborts transfers on the cancel flag.
class CurlS3Transport final : public S3Transport {
 public:
  explicit CurlS3Transport(const S3Settings& settings);
  ~CurlS3Transport() override;
  CurlS3Transport(const CurlS3Transport&) = delete;
  CurlS3Transport& operator=(const CurlS3Transport&) = delete;
  HttpResponse perform(const std::string& method, const std::string& url, const HttpHeaders& headers,
                       const RequestBody& body, const BodySink* sink, bool cancellable) override;

 private:
  void* curl_;
  S3Settings settings_;
};

class S3Client final : public ObjectStore {
 public:
  /// `make_transport` empty: libcurl transports.
  S3Client(S3Settings settings, AwsCredentials credentials, Clock& clock = system_clock(),
           S3TransportFactory make_transport = {});
  PutResult put_file(const std::string& local_path, const ObjectUri& dest, const PutOptions& options) override;
  std::uint64_t get_object(const ObjectUri& src, const std::function<void(std::string_view)>& sink) override;
  bool exists(const ObjectUri& uri) override;

 private:
  using Query = std::vector<std::pair<std::string, std::string>>;
  /// Signs and sends with retries on network errors, 5xx, 429 and S3's retryable 400s; returns the first
  /// response that is not retryable (any status). Throws TransientError when attempts run out.
  /// `payload_hash` empty: computed from the (in-memory) body.
  HttpResponse call(S3Transport& transport, const std::string& method, const ObjectUri& uri, const Query& query,
                    const HttpHeaders& headers, const RequestBody& body, const std::string& payload_hash = {},
                    const BodySink* sink = nullptr, bool cancellable = true,
                    const std::function<void(HttpHeaders&)>& before_attempt = {}, int max_attempts = 0);
  PutResult put_single(int fd, std::uint64_t size, const ObjectUri& dest, const PutOptions& options);
  PutResult put_multipart(int fd, std::uint64_t size, const ObjectUri& dest, const PutOptions& options);
  void abort_multipart(const ObjectUri& dest, const std::string& upload_id);

  S3Settings settings_;
  SigV4Signer signer_;
  Clock& clock_;
  S3TransportFactory make_transport_;
  std::unique_ptr<S3Transport> transport_;  // the calling thread's; multipart workers make their own
};

}  // namespace cryptopipe
