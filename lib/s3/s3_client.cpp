#include "s3/s3_client.hpp"

#include <curl/curl.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <random>
#include <thread>

#include "core/error.hpp"
#include "core/log.hpp"

namespace cryptopipe {
namespace {

constexpr std::uint64_t kMinPartSize = 5ull << 20;  // S3's minimum for every part but the last
constexpr std::uint64_t kMaxPartSize = 5ull << 30;
constexpr std::uint64_t kMaxParts = 10000;
constexpr std::size_t kMaxErrorBody = 64 << 10;

struct CurlGlobal {
  CurlGlobal() { curl_global_init(CURL_GLOBAL_DEFAULT); }
};

std::string one_line(std::string s) {
  for (char& c : s)
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  if (s.size() > 300) s = s.substr(0, 300) + "...";
  return s;
}

std::string xml_unescape(std::string s) {
  static const std::pair<const char*, const char*> entities[] = {
      {"&quot;", "\""}, {"&apos;", "'"}, {"&lt;", "<"}, {"&gt;", ">"}, {"&#34;", "\""}, {"&#39;", "'"}, {"&amp;", "&"}};
  for (const auto& [from, to] : entities) {
    std::size_t pos = 0;
    const std::size_t n = std::strlen(from);
    while ((pos = s.find(from, pos)) != std::string::npos) {
      s.replace(pos, n, to);
      pos += std::strlen(to);
    }
  }
  return s;
}

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '&') out += "&amp;";
    else if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else out.push_back(c);
  }
  return out;
}

std::string strip_quotes(std::string s) {
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') return s.substr(1, s.size() - 2);
  return s;
}

bool retryable(long status, const std::string& body) {
  if (status == 429 || status >= 500) return true;
  if (status == 400) {
    const std::string code = xml_text(body, "Code");
    return code == "RequestTimeout" || code == "SlowDown";
  }
  return false;
}

bool pread_all(int fd, char* buf, std::size_t n, std::uint64_t offset) {
  while (n > 0) {
    ssize_t r = ::pread(fd, buf, n, static_cast<off_t>(offset));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    buf += r;
    n -= static_cast<std::size_t>(r);
    offset += static_cast<std::uint64_t>(r);
  }
  return true;
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

[[noreturn]] void throw_interrupted(const std::string& where) {
  throw Error(ExitCode::other, where + ": interrupted by signal");
}

void sleep_cancellable(Clock& clock, std::chrono::milliseconds total) {
  // Short slices so a SIGTERM during backoff is noticed at once.
  auto left = total;
  while (left.count() > 0 && !object_store_cancel_flag().load()) {
    auto slice = std::min(left, std::chrono::milliseconds(100));
    clock.sleep_for(slice);
    left -= slice;
  }
}

struct FileRange {
  int fd;
  std::uint64_t offset, remaining;
  bool failed = false;
};

size_t on_read(char* buffer, size_t size, size_t n, void* user) {
  auto* f = static_cast<FileRange*>(user);
  const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(size * n, f->remaining));
  if (want == 0) return 0;
  for (;;) {
    ssize_t r = ::pread(f->fd, buffer, want, static_cast<off_t>(f->offset));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      f->failed = true;
      return CURL_READFUNC_ABORT;
    }
    f->offset += static_cast<std::uint64_t>(r);
    f->remaining -= static_cast<std::uint64_t>(r);
    return static_cast<size_t>(r);
  }
}

// libcurl callbacks
struct Transfer {
  CURL* curl;
  HttpResponse* response;
  const BodySink* sink;
  bool cancellable;
  long status = 0;
  std::exception_ptr sink_error;
};

size_t on_body(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  if (t->status == 0) {
    curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &t->status);
    t->response->status = t->status;
  }
  const size_t len = size * n;
  if (t->sink && t->status >= 200 && t->status < 300) {
    try {
      (*t->sink)(*t->response, std::string_view(data, len));
    } catch (...) {
      t->sink_error = std::current_exception();
      return 0;  // aborts the transfer
    }
  } else if (t->response->body.size() < kMaxErrorBody) {
    t->response->body.append(data, std::min(len, kMaxErrorBody - t->response->body.size()));
  }
  return len;
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(user);
  return t->cancellable && object_store_cancel_flag().load() ? 1 : 0;
}

}  // namespace

std::string xml_text(const std::string& xml, const std::string& tag) {
  const std::string open = "<" + tag + ">", close = "</" + tag + ">";
  auto b = xml.find(open);
  if (b == std::string::npos) return {};
  b += open.size();
  auto e = xml.find(close, b);
  if (e == std::string::npos) return {};
  return xml_unescape(xml.substr(b, e - b));
}

S3ErrorBody parse_s3_error(const std::string& body) {
  S3ErrorBody e;
  if (body.find("<Error") != std::string::npos) {
    e.code = one_line(xml_text(body, "Code"));
    e.message = one_line(xml_text(body, "Message"));
    return e;
  }
  auto nl = body.find('\n');
  e.message = one_line(body.substr(0, nl));
  return e;
}

std::string describe_s3_failure(long status, const std::string& body) {
  S3ErrorBody e = parse_s3_error(body);
  std::string out = fmt::format("HTTP {}", status);
  if (!e.code.empty()) out += " " + e.code;
  if (!e.message.empty()) out += ": " + e.message;
  if (e.code.empty() && e.message.empty()) {
    if (status == 403) out += " Forbidden";
    else if (status == 404) out += " Not Found";
    else if (status == 412) out += " Precondition Failed";
  }
  return out;
}

BodyDigests digest_body(const RequestBody& body) {
  using Ctx = std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)>;
  Ctx sha(EVP_MD_CTX_new(), EVP_MD_CTX_free), md5(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestInit_ex(sha.get(), EVP_sha256(), nullptr);
  EVP_DigestInit_ex(md5.get(), EVP_md5(), nullptr);
  auto update = [&](const char* p, std::size_t n) {
    EVP_DigestUpdate(sha.get(), p, n);
    EVP_DigestUpdate(md5.get(), p, n);
  };
  if (body.fd < 0) {
    update(body.bytes.data(), body.bytes.size());
  } else {
    std::string buf(std::min<std::uint64_t>(body.length, 1 << 20), '\0');
    for (std::uint64_t done = 0; done < body.length;) {
      const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), body.length - done));
      if (!pread_all(body.fd, buf.data(), n, body.offset + done))
        throw Error(ExitCode::other, "reading the local file failed: " + std::string(std::strerror(errno)));
      update(buf.data(), n);
      done += n;
    }
  }
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  static const char* hexd = "0123456789abcdef";
  auto hex = [&] {
    std::string h;
    for (unsigned i = 0; i < len; ++i) {
      h.push_back(hexd[out[i] >> 4]);
      h.push_back(hexd[out[i] & 15]);
    }
    return h;
  };
  BodyDigests d;
  EVP_DigestFinal_ex(sha.get(), out, &len);
  d.sha256_hex = hex();
  EVP_DigestFinal_ex(md5.get(), out, &len);
  d.md5_hex = hex();
  unsigned char b64[64];
  int n = EVP_EncodeBlock(b64, out, static_cast<int>(len));
  d.md5_base64.assign(reinterpret_cast<char*>(b64), static_cast<std::size_t>(n));
  return d;
}

std::uint64_t effective_part_size(std::uint64_t size, std::uint64_t requested) {
  if ((size + requested - 1) / requested <= kMaxParts) return requested;
  // Grow the parts (whole MiB) rather than fail, as the AWS SDKs do.
  const std::uint64_t grown = ((size + kMaxParts - 1) / kMaxParts + (1u << 20) - 1) / (1u << 20) * (1u << 20);
  if (grown > kMaxPartSize) throw UsageError(fmt::format("{} bytes is more than one S3 object may hold", size));
  return grown;
}

S3Address s3_address(const S3Settings& settings, const std::string& bucket, const std::string& key) {
  S3Address a;
  const std::string encoded_key = uri_encode(key, true);
  if (!settings.endpoint_url.empty()) {
    const std::string& ep = settings.endpoint_url;
    auto scheme_end = ep.find("://");
    std::string scheme = ep.substr(0, scheme_end);
    std::string rest = ep.substr(scheme_end + 3);
    auto slash = rest.find('/');
    std::string authority = rest.substr(0, slash);
    std::string prefix = slash == std::string::npos ? "" : rest.substr(slash);
    while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
    // The Host header (and so the signature) carries no default port, as the SDKs send it.
    if ((scheme == "http" && authority.size() > 3 && authority.ends_with(":80")) )
      authority.resize(authority.size() - 3);
    if (scheme == "https" && authority.ends_with(":443")) authority.resize(authority.size() - 4);
    a.host = authority;
    a.path = prefix + "/" + bucket + "/" + encoded_key;
    a.url = scheme + "://" + authority + a.path;
    return a;
  }
  const std::string suffix = settings.region.rfind("cn-", 0) == 0 ? ".amazonaws.com.cn" : ".amazonaws.com";
  const std::string regional = "s3." + settings.region + suffix;
  if (bucket.find('.') != std::string::npos) {
    a.host = regional;
    a.path = "/" + bucket + "/" + encoded_key;
  } else {
    a.host = bucket + "." + regional;
    a.path = "/" + encoded_key;
  }
  a.url = "https://" + a.host + a.path;
  return a;
}

// ---------------------------------------------------------------------------------------------------------------
// CurlS3Transport

CurlS3Transport::CurlS3Transport(const S3Settings& settings) : settings_(settings) {
  static CurlGlobal global;
  curl_ = curl_easy_init();
  if (!curl_) throw Error(ExitCode::other, "libcurl: curl_easy_init failed");
  if (settings_.ca_file.empty()) {
    if (const char* env = std::getenv("CURL_CA_BUNDLE"); env && *env) settings_.ca_file = env;
  }
}

CurlS3Transport::~CurlS3Transport() { curl_easy_cleanup(static_cast<CURL*>(curl_)); }

HttpResponse CurlS3Transport::perform(const std::string& method, const std::string& url, const HttpHeaders& headers,
                                  const RequestBody& body, const BodySink* sink, bool cancellable) {
  CURL* c = static_cast<CURL*>(curl_);
  curl_easy_reset(c);  // keeps the connection cache: keep-alive across parts
  HttpResponse response;
  Transfer t{c, &response, sink, cancellable, 0, nullptr};
  FileRange range{body.fd, body.offset, body.length};
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  // Keys are signed as given: "a/../b" must reach S3 as is, not squashed by libcurl into another key.
  curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
  // No total timeout (a 5 GiB part may take long); a stalled transfer (<1 B/s for 60 s) fails instead.
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "cryptopipe/" CRYPTOPIPE_VERSION);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, curl_collect_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &response.headers);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &t);
  if (!settings_.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, settings_.ca_file.c_str());
  if (method == "GET") {
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  } else if (method == "HEAD") {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else if (method == "DELETE") {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "DELETE");
  } else if (body.fd >= 0) {
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    if (method != "PUT") curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
    curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(c, CURLOPT_READDATA, &range);
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(body.length));
  } else {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.bytes.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.bytes.size()));
  }
  curl_slist* list = nullptr;
  bool has_content_type = false;
  for (const auto& [k, v] : headers) {
    list = curl_slist_append(list, (k + ": " + v).c_str());
    if (k == "content-type") has_content_type = true;
  }
  // Unsigned defaults libcurl would add: no form content type, no 100-continue round trip.
  if (!has_content_type) list = curl_slist_append(list, "Content-Type:");
  list = curl_slist_append(list, "Expect:");
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  CURLcode rc = curl_easy_perform(c);
  curl_slist_free_all(list);
  if (t.sink_error) std::rethrow_exception(t.sink_error);
  if (range.failed) throw Error(ExitCode::other, "reading the local file failed (changed or truncated while uploading?)");
  if (rc == CURLE_ABORTED_BY_CALLBACK) throw_interrupted(redact_url(url));
  if (rc != CURLE_OK) {
    std::string detail = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE || rc == CURLE_SSL_CERTPROBLEM)
      throw RemoteRefusedError("TLS certificate not trusted (" + detail + "); pass --ca-file or set CURL_CA_BUNDLE");
    if (rc == CURLE_UNSUPPORTED_PROTOCOL || rc == CURLE_URL_MALFORMAT) throw UsageError(detail);
    throw TransientError(detail);
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &response.status);
  return response;
}

// ---------------------------------------------------------------------------------------------------------------
// S3Client

S3Client::S3Client(S3Settings settings, AwsCredentials credentials, Clock& clock, S3TransportFactory make_transport)
    : settings_(std::move(settings)),
      signer_(std::move(credentials), settings_.region),
      clock_(clock),
      make_transport_(std::move(make_transport)) {
  if (!make_transport_) {
    make_transport_ = [settings = settings_]() -> std::unique_ptr<S3Transport> {
      return std::make_unique<CurlS3Transport>(settings);
    };
  }
  transport_ = make_transport_();  // here, on the calling thread: libcurl's global init is not thread-safe
}

HttpResponse S3Client::call(S3Transport& transport, const std::string& method, const ObjectUri& uri,
                            const Query& query, const HttpHeaders& headers, const RequestBody& body,
                            const std::string& given_payload_hash, const BodySink* sink, bool cancellable,
                            const std::function<void(HttpHeaders&)>& before_attempt, int max_attempts) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  const S3Address address = s3_address(settings_, uri.bucket, uri.key);
  const std::string where = uri.str();
  std::string url = address.url;
  if (!query.empty()) url += "?" + canonical_query(query);
  const std::string payload_hash = given_payload_hash.empty() ? sha256_hex(body.bytes) : given_payload_hash;
  const int attempts = max_attempts > 0 ? max_attempts : std::max(1, settings_.max_attempts);
  std::string last_problem;
  for (int attempt = 1;; ++attempt) {
    if (cancellable && object_store_cancel_flag().load()) throw_interrupted(where);
    SignableRequest req{method, address.path, query, headers, payload_hash};
    if (before_attempt) before_attempt(req.headers);
    const std::string date = amz_date(clock_.now_us());
    req.headers.emplace_back("host", address.host);
    req.headers.emplace_back("x-amz-date", date);
    req.headers.emplace_back("x-amz-content-sha256", payload_hash);
    if (!signer_.credentials().session_token.empty())
      req.headers.emplace_back("x-amz-security-token", signer_.credentials().session_token);
    HttpHeaders wire = req.headers;
    wire.emplace_back("authorization", signer_.authorization(req, date));
    try {
      const std::int64_t t0 = clock_.now_us();
      HttpResponse r = transport.perform(method, url, wire, body, sink, cancellable);
      log::debug("{} {} {}: HTTP {} in {} ms", method, where, query.empty() ? "object" : query.front().first,
                 r.status, (clock_.now_us() - t0) / 1000);
      if (!retryable(r.status, r.body)) return r;
      last_problem = describe_s3_failure(r.status, r.body);
    } catch (const TransientError& e) {
      last_problem = e.what();
    }
    if (attempt >= attempts)
      throw TransientError(fmt::format("{}: {} {}: giving up after {} attempts: {}", where, method,
                                       query.empty() ? "object" : query.front().first, attempt, last_problem));
    const std::int64_t cap = std::min<std::int64_t>(10000, 200LL << std::min(attempt - 1, 10));
    const std::int64_t delay = std::uniform_int_distribution<std::int64_t>(cap / 2, cap)(rng);
    log::warn("{}: {}; retry {}/{} in {} ms", where, last_problem, attempt, attempts - 1, delay);
    sleep_cancellable(clock_, std::chrono::milliseconds(delay));
  }
}

bool S3Client::exists(const ObjectUri& uri) {
  HttpResponse r = call(*transport_, "HEAD", uri, {}, {}, RequestBody{});
  if (r.status >= 200 && r.status < 300) return true;
  if (r.status == 404) return false;
  throw RemoteRefusedError(uri.str() + ": HEAD: " + describe_s3_failure(r.status, r.body));
}

std::uint64_t S3Client::get_object(const ObjectUri& src, const std::function<void(std::string_view)>& sink) {
  // A retry after a broken transfer resumes where the sink stopped (Range, If-Match on the first ETag so two
  // versions are never spliced), so no byte reaches the sink twice even if the server ignores the Range.
  std::uint64_t delivered = 0, resume_from = 0, seen_this_attempt = 0;
  std::string etag;
  BodySink counting = [&](const HttpResponse& response, std::string_view chunk) {
    if (etag.empty()) etag = response.header("etag");
    if (response.status == 200 && resume_from > 0) {
      const std::uint64_t skip = std::min<std::uint64_t>(chunk.size(), resume_from - std::min(resume_from,
                                                                                              seen_this_attempt));
      seen_this_attempt += chunk.size();
      chunk.remove_prefix(skip);
    }
    if (chunk.empty()) return;
    sink(chunk);
    delivered += chunk.size();
  };
  auto resume = [&](HttpHeaders& h) {
    resume_from = delivered;
    seen_this_attempt = 0;
    if (delivered > 0) {
      h.emplace_back("range", fmt::format("bytes={}-", delivered));
      if (!etag.empty()) h.emplace_back("if-match", etag);
    }
  };
  HttpResponse r;
  for (;;) {
    const std::uint64_t before = delivered;
    try {
      r = call(*transport_, "GET", src, {}, {}, {}, {}, &counting, true, resume);
      break;
    } catch (const TransientError&) {
      // call() retried already; one more round only if this one made progress (a long download on a bad link).
      if (delivered == before) throw;
    }
  }
  if (r.status == 412 && delivered > 0)
    throw TransientError(src.str() + ": GET: the object changed while it was being read; retry");
  if (r.status < 200 || r.status >= 300)
    throw RemoteRefusedError(src.str() + ": GET: " + describe_s3_failure(r.status, r.body));
  return delivered;
}

PutResult S3Client::put_file(const std::string& local_path, const ObjectUri& dest, const PutOptions& options) {
  if (!options.sse.empty() && options.sse != "AES256" && options.sse != "aws:kms")
    throw UsageError("--sse: must be AES256 or aws:kms");
  if (!options.sse_kms_key_id.empty() && options.sse != "aws:kms")
    throw UsageError("--sse-kms-key-id: needs --sse aws:kms");
  if (options.part_size < kMinPartSize || options.part_size > kMaxPartSize)
    throw UsageError(fmt::format("--part-size: must be between {} (5 MiB) and {} (5 GiB) bytes", kMinPartSize,
                                 kMaxPartSize));
  if (options.concurrency < 1 || options.concurrency > 64) throw UsageError("--concurrency: must be 1 to 64");
  Fd file;
  file.fd = ::open(local_path.c_str(), O_RDONLY);
  if (file.fd < 0) throw UsageError(local_path + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(file.fd, &st) != 0 || !S_ISREG(st.st_mode)) throw UsageError(local_path + ": not a regular file");
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (options.no_overwrite) {
    HttpResponse head = call(*transport_, "HEAD", dest, {}, {}, RequestBody{});
    if (head.status >= 200 && head.status < 300)
      throw RemoteRefusedError(dest.str() + ": object already exists (--no-overwrite)");
    // Without s3:ListBucket S3 answers 403 for a missing key: the conditional write alone must decide then.
    if (head.status == 403)
      log::warn("{}: HEAD refused (HTTP 403); relying on If-None-Match for --no-overwrite", dest.str());
    else if (head.status != 404)
      throw RemoteRefusedError(dest.str() + ": HEAD: " + describe_s3_failure(head.status, head.body));
  }
  if (size < options.multipart_threshold) return put_single(file.fd, size, dest, options);
  return put_multipart(file.fd, size, dest, options);
}

namespace {

// S3's ETag of a single PUT or a part is the hex MD5 of the bytes, except under SSE-KMS (and SSE-C).
bool etag_matches(const std::string& etag, const std::string& md5_hex, const PutOptions& options) {
  if (options.sse == "aws:kms" || etag.size() != 32) return true;
  return etag == md5_hex;
}

HttpHeaders object_headers(const PutOptions& options) {
  HttpHeaders h;
  h.emplace_back("content-type", options.content_type.empty() ? "application/octet-stream" : options.content_type);
  if (!options.sse.empty()) h.emplace_back("x-amz-server-side-encryption", options.sse);
  if (!options.sse_kms_key_id.empty())
    h.emplace_back("x-amz-server-side-encryption-aws-kms-key-id", options.sse_kms_key_id);
  return h;
}

}  // namespace

PutResult S3Client::put_single(int fd, std::uint64_t size, const ObjectUri& dest, const PutOptions& options) {
  const RequestBody body{{}, fd, 0, size};
  const BodyDigests digests = digest_body(body);
  HttpHeaders h = object_headers(options);
  h.emplace_back("content-md5", digests.md5_base64);
  // Where the server honours it, the conditional PUT closes the race left by the HEAD check.
  if (options.no_overwrite) h.emplace_back("if-none-match", "*");
  HttpResponse r = call(*transport_, "PUT", dest, {}, h, body, digests.sha256_hex);
  if (r.status == 412 || (r.status == 409 && xml_text(r.body, "Code") == "ConditionalRequestConflict"))
    throw RemoteRefusedError(dest.str() + ": object already exists (--no-overwrite)");
  if (r.status < 200 || r.status >= 300)
    throw RemoteRefusedError(dest.str() + ": PUT: " + describe_s3_failure(r.status, r.body));
  const std::string etag = strip_quotes(r.header("etag"));
  if (!etag_matches(etag, digests.md5_hex, options)) {
    // Servers that skip the Content-MD5 check (moto, some S3 clones) stored corrupted bytes: better no object.
    call(*transport_, "DELETE", dest, {}, {}, {}, {}, nullptr, false);
    throw TransientError(dest.str() + ": PUT: ETag " + etag + " is not the MD5 of the bytes sent (" +
                         digests.md5_hex + "): corrupted in transit; object deleted");
  }
  return PutResult{dest.str(), size, etag, 0};
}

PutResult S3Client::put_multipart(int fd, std::uint64_t size, const ObjectUri& dest, const PutOptions& options) {
  const std::string where = dest.str();
  const std::uint64_t part_size = effective_part_size(size, options.part_size);
  if (part_size != options.part_size)
    log::info("{}: part size raised from {} to {} bytes to stay within {} parts", where, options.part_size, part_size,
              kMaxParts);
  const std::uint64_t part_count = std::max<std::uint64_t>(1, (size + part_size - 1) / part_size);
  HttpResponse created = call(*transport_, "POST", dest, {{"uploads", ""}}, object_headers(options), RequestBody{});
  if (created.status < 200 || created.status >= 300)
    throw RemoteRefusedError(where + ": CreateMultipartUpload: " + describe_s3_failure(created.status, created.body));
  const std::string upload_id = xml_text(created.body, "UploadId");
  if (upload_id.empty()) throw Error(ExitCode::other, where + ": CreateMultipartUpload: no UploadId in the response");
  const int workers = static_cast<int>(std::min<std::uint64_t>(options.concurrency, part_count));
  log::info("{}: multipart upload of {} bytes in {} parts of {} bytes, {} at a time", where, size, part_count,
            part_size, workers);

  std::vector<std::string> etags(part_count);
  std::atomic<std::uint64_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex error_mutex;
  std::exception_ptr first_error;
  auto worker = [&] {
    try {
      std::unique_ptr<S3Transport> transport_ptr = make_transport_();
      S3Transport& transport = *transport_ptr;
      for (;;) {
        if (failed.load() || object_store_cancel_flag().load()) return;
        const std::uint64_t i = next.fetch_add(1);
        if (i >= part_count) return;
        const std::uint64_t offset = i * part_size;
        const std::uint64_t len = std::min(part_size, size - offset);
        const RequestBody part{{}, fd, offset, len};
        const BodyDigests digests = digest_body(part);
        HttpHeaders h{{"content-md5", digests.md5_base64}};
        for (int tries = 1;; ++tries) {
          HttpResponse r = call(transport, "PUT", dest,
                                {{"partNumber", std::to_string(i + 1)}, {"uploadId", upload_id}}, h, part,
                                digests.sha256_hex);
          if (r.status < 200 || r.status >= 300)
            throw RemoteRefusedError(
                fmt::format("{}: UploadPart {}: {}", where, i + 1, describe_s3_failure(r.status, r.body)));
          etags[i] = r.header("etag");
          if (etags[i].empty()) throw Error(ExitCode::other, fmt::format("{}: UploadPart {}: no ETag", where, i + 1));
          if (etag_matches(strip_quotes(etags[i]), digests.md5_hex, options)) break;
          // A part is replaced by uploading the same number again: a corrupted one costs one more transfer.
          if (tries >= 3)
            throw TransientError(fmt::format("{}: UploadPart {}: ETag {} is not the MD5 of the bytes sent "
                                             "({} times): corrupted in transit", where, i + 1, etags[i], tries));
          log::warn("{}: UploadPart {}: ETag {} is not the MD5 of the bytes sent; uploading the part again", where,
                    i + 1, etags[i]);
        }
      }
    } catch (...) {
      std::lock_guard lock(error_mutex);
      if (!first_error) first_error = std::current_exception();
      failed = true;
    }
  };
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w) threads.emplace_back(worker);
  for (auto& t : threads) t.join();

  if (first_error || object_store_cancel_flag().load()) {
    abort_multipart(dest, upload_id);
    if (first_error) std::rethrow_exception(first_error);
    throw_interrupted(where);
  }
  std::string xml = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">";
  for (std::uint64_t i = 0; i < part_count; ++i)
    xml += fmt::format("<Part><PartNumber>{}</PartNumber><ETag>{}</ETag></Part>", i + 1, xml_escape(etags[i]));
  xml += "</CompleteMultipartUpload>";
  HttpHeaders h{{"content-type", "application/xml"}, {"content-md5", md5_base64(xml)}};
  if (options.no_overwrite) h.emplace_back("if-none-match", "*");
  HttpResponse done;
  try {
    done = call(*transport_, "POST", dest, {{"uploadId", upload_id}}, h, RequestBody{xml});
  } catch (...) {
    abort_multipart(dest, upload_id);
    throw;
  }
  // CompleteMultipartUpload can fail with 200 and an <Error> body.
  const bool ok = done.status >= 200 && done.status < 300 && done.body.find("<Error>") == std::string::npos;
  if (!ok) {
    abort_multipart(dest, upload_id);
    if (done.status == 412) throw RemoteRefusedError(where + ": object already exists (--no-overwrite)");
    const std::string cause = "CompleteMultipartUpload: " + describe_s3_failure(done.status, done.body);
    if (done.status >= 500 || xml_text(done.body, "Code") == "InternalError") throw TransientError(where + ": " + cause);
    throw RemoteRefusedError(where + ": " + cause);
  }
  return PutResult{where, size, strip_quotes(xml_text(done.body, "ETag")), static_cast<int>(part_count)};
}

void S3Client::abort_multipart(const ObjectUri& dest, const std::string& upload_id) {
  // Not cancellable: this is what a SIGTERM is waiting for. Few attempts: the process should end soon.
  try {
    HttpResponse r = call(*transport_, "DELETE", dest, {{"uploadId", upload_id}}, {}, {}, {}, nullptr, false, {}, 3);
    if (r.status >= 200 && r.status < 300) {
      log::warn("{}: multipart upload aborted, no parts left behind", dest.str());
      return;
    }
    log::warn("{}: AbortMultipartUpload failed: {}; parts may remain until a lifecycle rule removes them",
              dest.str(), describe_s3_failure(r.status, r.body));
  } catch (const std::exception& e) {
    log::warn("{}: AbortMultipartUpload failed: {}; parts may remain until a lifecycle rule removes them",
              dest.str(), e.what());
  }
}

}  // namespace cryptopipe
