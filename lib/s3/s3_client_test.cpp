// S3Client's protocol logic against an in-memory fake S3 (FakeS3 below): multipart order and Complete body,
// retries on a fake clock, abort on failure/cancel, conditional writes, GET resume. Every request's signature
// inputs are checked (x-amz-content-sha256 and Content-MD5 are the body's real digests). The real wire (libcurl,
// moto with signature checking) is covered by tests/integration/test_upload_s3.py.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <set>

#include "core/error.hpp"
#include "s3/s3_client.hpp"
#include "s3/sigv4.hpp"

using namespace cryptopipe;

namespace {

class FakeClock : public Clock {
 public:
  std::atomic<std::int64_t> now{1704067200LL * 1000000};
  std::atomic<std::int64_t> slept_ms{0};
  std::int64_t now_us() override { return now.load(); }
  void sleep_for(std::chrono::milliseconds d) override {
    slept_ms += d.count();
    now += d.count() * 1000;
  }
};

struct Seen {
  std::string method, path, query;
  HttpHeaders headers;
  std::string body;
  std::string header(const std::string& name) const {
    for (const auto& [k, v] : headers)
      if (k == name) return v;
    return {};
  }
};

// The state of a bucket-less S3: objects by path, multipart uploads by id. Thread-safe (parallel parts).
class FakeS3 {
 public:
  std::mutex mu;
  std::map<std::string, std::string> objects;
  std::map<std::string, std::map<int, std::string>> uploads;  // upload id -> part number -> bytes
  std::vector<Seen> log;
  // Returns a response to short-circuit a request (fault injection); status 0 = throw TransientError.
  std::function<std::optional<HttpResponse>(const Seen&)> fault;
  int next_upload = 0;
  bool truncate_next_get = false;  // deliver half the body, then drop the connection

  HttpResponse handle(const std::string& method, const std::string& url, const HttpHeaders& headers,
                      const RequestBody& body, const BodySink* sink) {
    Seen s;
    s.method = method;
    std::string rest = url.substr(url.find('/', std::string("http://").size()));
    auto q = rest.find('?');
    s.path = rest.substr(0, q);
    s.query = q == std::string::npos ? "" : rest.substr(q + 1);
    s.headers = headers;
    if (body.fd >= 0) {
      s.body.resize(body.length);
      EXPECT_EQ(::pread(body.fd, s.body.data(), body.length, static_cast<off_t>(body.offset)),
                static_cast<ssize_t>(body.length));
    } else {
      s.body = std::string(body.bytes);
    }
    // What every signed request must carry.
    EXPECT_EQ(s.header("x-amz-content-sha256"), sha256_hex(s.body)) << method << " " << url;
    EXPECT_NE(s.header("authorization").find("SignedHeaders="), std::string::npos);
    EXPECT_NE(s.header("authorization").find("host;"), std::string::npos);
    if (!s.header("content-md5").empty()) {
      EXPECT_EQ(s.header("content-md5"), md5_base64(s.body));
    }
    std::function<std::optional<HttpResponse>(const Seen&)> f;
    {
      std::lock_guard lock(mu);
      log.push_back(s);
      f = fault;
    }
    if (f) {
      if (auto r = f(s)) {
        if (r->status == 0) throw TransientError("Connection reset by peer");
        return *r;
      }
    }
    std::lock_guard lock(mu);
    return respond(s, sink);
  }

 private:
  static HttpResponse status(long code, std::string body = {}, HttpHeaders headers = {}) {
    HttpResponse r;
    r.status = code;
    r.body = std::move(body);
    r.headers = std::move(headers);
    return r;
  }
  static std::string param(const std::string& query, const std::string& name) {
    for (std::size_t p = 0; p <= query.size();) {
      auto amp = query.find('&', p);
      std::string kv = query.substr(p, amp == std::string::npos ? std::string::npos : amp - p);
      if (kv.rfind(name + "=", 0) == 0) return kv.substr(name.size() + 1);
      if (amp == std::string::npos) break;
      p = amp + 1;
    }
    return {};
  }

  HttpResponse respond(const Seen& s, const BodySink* sink) {
    const std::string upload = param(s.query, "uploadId");
    if (s.method == "HEAD") return status(objects.count(s.path) ? 200 : 404);
    if (s.method == "GET") {
      auto it = objects.find(s.path);
      if (it == objects.end()) return status(404, "<Error><Code>NoSuchKey</Code><Message>gone</Message></Error>");
      std::string data = it->second;
      long code = 200;
      if (auto range = s.header("range"); !range.empty()) {
        data = data.substr(std::stoull(range.substr(6)));
        code = 206;
      }
      HttpResponse r = status(code, {}, {{"etag", "\"" + md5_hex(it->second) + "\""}});
      if (truncate_next_get) {
        truncate_next_get = false;
        if (sink) (*sink)(r, std::string_view(data).substr(0, data.size() / 2));
        throw TransientError("transfer closed with bytes remaining to read");
      }
      if (sink) (*sink)(r, data);
      return r;
    }
    if (s.method == "POST" && s.query == "uploads=") {
      std::string id = "up" + std::to_string(++next_upload);
      uploads[id];
      return status(200, "<InitiateMultipartUploadResult><UploadId>" + id + "</UploadId></InitiateMultipartUploadResult>");
    }
    if (s.method == "PUT" && !upload.empty()) {
      uploads.at(upload)[std::stoi(param(s.query, "partNumber"))] = s.body;
      return status(200, {}, {{"etag", "\"" + md5_hex(s.body) + "\""}});
    }
    if (s.method == "POST" && !upload.empty()) {
      std::string all;
      for (auto& [n, bytes] : uploads.at(upload)) all += bytes;
      if (!s.header("if-none-match").empty() && objects.count(s.path)) return status(412);
      objects[s.path] = all;
      uploads.erase(upload);
      return status(200, "<CompleteMultipartUploadResult><ETag>&quot;abc-" +
                             std::to_string(s.body.size() > 0 ? 1 : 0) + "&quot;</ETag></CompleteMultipartUploadResult>");
    }
    if (s.method == "DELETE" && !upload.empty()) {
      uploads.erase(upload);
      return status(204);
    }
    if (s.method == "DELETE") {
      objects.erase(s.path);
      return status(204);
    }
    if (s.method == "PUT") {
      if (!s.header("if-none-match").empty() && objects.count(s.path)) return status(412);
      objects[s.path] = s.body;
      return status(200, {}, {{"etag", "\"" + md5_hex(s.body) + "\""}});
    }
    return status(400, "<Error><Code>BadRequest</Code><Message>fake</Message></Error>");
  }
};

class FakeTransport : public S3Transport {
 public:
  explicit FakeTransport(FakeS3& s3) : s3_(s3) {}
  HttpResponse perform(const std::string& method, const std::string& url, const HttpHeaders& headers,
                       const RequestBody& body, const BodySink* sink, bool cancellable) override {
    if (cancellable && object_store_cancel_flag().load()) throw Error(ExitCode::other, "interrupted by signal");
    return s3_.handle(method, url, headers, body, sink);
  }

 private:
  FakeS3& s3_;
};

struct S3ClientOnFakeS3 : ::testing::Test {
  FakeS3 s3;
  FakeClock clock;
  std::string dir;
  void SetUp() override {
    char tmpl[] = "/tmp/cryptopipe-s3client-XXXXXX";
    dir = ::mkdtemp(tmpl);
    object_store_cancel_flag() = false;
  }
  void TearDown() override {
    std::filesystem::remove_all(dir);
    object_store_cancel_flag() = false;
  }
  S3Client client(AwsCredentials creds = {"AKIDEXAMPLE", "secret", ""}, int max_attempts = 3) {
    S3Settings settings{"us-east-1", "http://fake:1", "", max_attempts};
    return S3Client(settings, creds, clock, [this] { return std::make_unique<FakeTransport>(s3); });
  }
  std::string file(std::size_t size, const std::string& name = "in.bin") {
    std::string data(size, '\0');
    for (std::size_t i = 0; i < size; ++i) data[i] = static_cast<char>((i * 7919) % 253);
    std::ofstream(dir + "/" + name, std::ios::binary) << data;
    return data;
  }
  std::string path(const std::string& name = "in.bin") { return dir + "/" + name; }
  PutOptions multipart() {
    PutOptions o;
    o.part_size = 5u << 20;
    o.multipart_threshold = 5u << 20;
    o.concurrency = 3;
    return o;
  }
  int count(const std::string& method, const std::string& query_part) {
    std::lock_guard lock(s3.mu);
    int n = 0;
    for (auto& s : s3.log)
      if (s.method == method && s.query.find(query_part) != std::string::npos) ++n;
    return n;
  }
};

const ObjectUri kDest{"s3", "bkt", "dir/a b.bin"};
const std::string kPath = "/bkt/dir/a%20b.bin";

}  // namespace

TEST_F(S3ClientOnFakeS3, SmallFileIsOneSignedPutWithContentMd5AndContentType) {
  std::string data = file(1000);
  PutResult r = client().put_file(path(), kDest, {});
  EXPECT_EQ(r.size, 1000u);
  EXPECT_EQ(r.parts, 0);
  EXPECT_EQ(r.etag, md5_hex(data));
  EXPECT_EQ(s3.objects.at(kPath), data);
  ASSERT_EQ(s3.log.size(), 1u);
  EXPECT_EQ(s3.log[0].method, "PUT");
  EXPECT_EQ(s3.log[0].header("content-type"), "application/octet-stream");
  EXPECT_EQ(s3.log[0].header("host"), "fake:1");
  EXPECT_TRUE(s3.log[0].header("x-amz-security-token").empty());
}

TEST_F(S3ClientOnFakeS3, LargeFileGoesMultipartInOrderWithEveryPartsEtag) {
  std::string data = file((12u << 20) + 5);
  PutOptions o = multipart();
  o.sse = "AES256";
  PutResult r = client().put_file(path(), kDest, o);
  EXPECT_EQ(r.parts, 3);
  EXPECT_EQ(s3.objects.at(kPath), data);
  EXPECT_TRUE(s3.uploads.empty());
  EXPECT_EQ(count("PUT", "partNumber="), 3);
  const Seen* complete = nullptr;
  for (auto& s : s3.log)
    if (s.method == "POST" && s.query.rfind("uploadId=", 0) == 0) complete = &s;
  ASSERT_NE(complete, nullptr);
  std::string expected = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">";
  for (int i = 0; i < 3; ++i) {
    std::string part = data.substr(static_cast<std::size_t>(i) * (5u << 20), 5u << 20);
    expected += "<Part><PartNumber>" + std::to_string(i + 1) + "</PartNumber><ETag>\"" + md5_hex(part) +
                "\"</ETag></Part>";
  }
  expected += "</CompleteMultipartUpload>";
  EXPECT_EQ(complete->body, expected);
  // SSE goes on CreateMultipartUpload only, not on the parts.
  for (auto& s : s3.log) {
    if (s.query == "uploads=") {
      EXPECT_EQ(s.header("x-amz-server-side-encryption"), "AES256");
    }
    if (s.query.find("partNumber=") != std::string::npos) {
      EXPECT_EQ(s.header("x-amz-server-side-encryption"), "");
    }
  }
}

TEST_F(S3ClientOnFakeS3, TransientPartFailuresAreRetriedOnTheClock) {
  std::string data = file(11u << 20);
  std::atomic<int> failures{2};
  s3.fault = [&](const Seen& s) -> std::optional<HttpResponse> {
    if (s.query.find("partNumber=2") != std::string::npos && failures.fetch_sub(1) > 0) {
      HttpResponse r;
      r.status = failures.load() % 2 ? 503 : 0;  // one 503, one connection reset
      return r;
    }
    return std::nullopt;
  };
  client().put_file(path(), kDest, multipart());
  EXPECT_EQ(s3.objects.at(kPath), data);
  EXPECT_EQ(count("PUT", "partNumber=2"), 3);
  EXPECT_GT(clock.slept_ms.load(), 0);
}

TEST_F(S3ClientOnFakeS3, PartFailingForGoodAbortsTheUpload) {
  file(11u << 20);
  s3.fault = [&](const Seen& s) -> std::optional<HttpResponse> {
    if (s.query.find("partNumber=3") != std::string::npos) {
      HttpResponse r;
      r.status = 500;
      r.body = "<Error><Code>InternalError</Code><Message>boom</Message></Error>";
      return r;
    }
    return std::nullopt;
  };
  try {
    client().put_file(path(), kDest, multipart());
    FAIL() << "expected TransientError";
  } catch (const TransientError& e) {
    EXPECT_NE(std::string(e.what()).find("giving up after 3 attempts: HTTP 500 InternalError: boom"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(count("DELETE", "uploadId=up1"), 1);
  EXPECT_TRUE(s3.uploads.empty());
  EXPECT_TRUE(s3.objects.empty());
  EXPECT_EQ(count("POST", "uploadId="), 0);  // never completed
}

TEST_F(S3ClientOnFakeS3, CompleteAnsweringOkWithAnErrorBodyAborts) {
  file(11u << 20);
  s3.fault = [&](const Seen& s) -> std::optional<HttpResponse> {
    if (s.method == "POST" && s.query.rfind("uploadId=", 0) == 0) {
      HttpResponse r;
      r.status = 200;
      r.body = "<Error><Code>InvalidPart</Code><Message>One or more parts could not be found</Message></Error>";
      return r;
    }
    return std::nullopt;
  };
  try {
    client().put_file(path(), kDest, multipart());
    FAIL() << "expected RemoteRefusedError";
  } catch (const RemoteRefusedError& e) {
    EXPECT_NE(std::string(e.what()).find("CompleteMultipartUpload: HTTP 200 InvalidPart"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(count("DELETE", "uploadId="), 1);
}

TEST_F(S3ClientOnFakeS3, CancelFlagStopsWorkersAndAborts) {
  file(16u << 20);
  s3.fault = [&](const Seen& s) -> std::optional<HttpResponse> {
    if (s.query.find("partNumber=1") != std::string::npos) object_store_cancel_flag() = true;  // "SIGTERM"
    return std::nullopt;
  };
  PutOptions o = multipart();
  o.concurrency = 1;
  try {
    client().put_file(path(), kDest, o);
    FAIL() << "expected an interrupted error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("interrupted"), std::string::npos) << e.what();
  }
  EXPECT_LE(count("PUT", "partNumber="), 1);
  EXPECT_EQ(count("DELETE", "uploadId="), 1);  // the abort itself is not cancelled
  EXPECT_TRUE(s3.uploads.empty());
}

TEST_F(S3ClientOnFakeS3, RefusalIsOneLineWithCodeAndMessage) {
  file(10);
  s3.fault = [&](const Seen&) -> std::optional<HttpResponse> {
    HttpResponse r;
    r.status = 403;
    r.body = "<?xml version=\"1.0\"?>\n<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>";
    return r;
  };
  try {
    client().put_file(path(), kDest, {});
    FAIL() << "expected RemoteRefusedError";
  } catch (const RemoteRefusedError& e) {
    EXPECT_STREQ(e.what(), "s3://bkt/dir/a b.bin: PUT: HTTP 403 AccessDenied: Access Denied");
  }
  EXPECT_EQ(s3.log.size(), 1u);  // 403 is not retried
}

TEST_F(S3ClientOnFakeS3, NoOverwriteChecksWithHeadAndSendsIfNoneMatch) {
  file(10);
  PutOptions o;
  o.no_overwrite = true;
  client().put_file(path(), kDest, o);
  ASSERT_EQ(s3.log.size(), 2u);
  EXPECT_EQ(s3.log[0].method, "HEAD");
  EXPECT_EQ(s3.log[1].header("if-none-match"), "*");
  EXPECT_THROW(client().put_file(path(), kDest, o), RemoteRefusedError);
  EXPECT_EQ(s3.log.size(), 3u);  // refused after the HEAD, no PUT
}

TEST_F(S3ClientOnFakeS3, NoOverwriteFallsBackToIfNoneMatchWhenHeadIsForbidden) {
  file(10);
  s3.objects[kPath] = "old";
  s3.fault = [&](const Seen& s) -> std::optional<HttpResponse> {
    if (s.method != "HEAD") return std::nullopt;
    HttpResponse r;
    r.status = 403;  // a policy with s3:PutObject but no s3:ListBucket
    return r;
  };
  PutOptions o;
  o.no_overwrite = true;
  try {
    client().put_file(path(), kDest, o);
    FAIL() << "expected RemoteRefusedError";
  } catch (const RemoteRefusedError& e) {
    EXPECT_NE(std::string(e.what()).find("already exists"), std::string::npos) << e.what();
  }
  ASSERT_EQ(s3.log.size(), 2u);
  EXPECT_EQ(s3.log[1].header("if-none-match"), "*");
  EXPECT_EQ(s3.objects.at(kPath), "old");
  s3.objects.clear();
  client().put_file(path(), kDest, o);
  EXPECT_EQ(s3.objects.size(), 1u);
}

TEST_F(S3ClientOnFakeS3, SessionTokenIsSentAndSigned) {
  file(10);
  client({"ASIAEXAMPLE", "secret", "the-token"}).put_file(path(), kDest, {});
  ASSERT_EQ(s3.log.size(), 1u);
  EXPECT_EQ(s3.log[0].header("x-amz-security-token"), "the-token");
  EXPECT_NE(s3.log[0].header("authorization").find("x-amz-security-token"), std::string::npos);
}

TEST_F(S3ClientOnFakeS3, GetResumesABrokenTransferWithRangeAndIfMatch) {
  std::string data = file(100001);
  s3.objects[kPath] = data;
  s3.truncate_next_get = true;
  std::string got;
  EXPECT_EQ(client().get_object(kDest, [&](std::string_view c) { got.append(c); }), data.size());
  EXPECT_EQ(got, data);  // every byte once
  ASSERT_EQ(s3.log.size(), 2u);
  EXPECT_EQ(s3.log[0].header("range"), "");
  EXPECT_EQ(s3.log[1].header("range"), "bytes=50000-");
  EXPECT_EQ(s3.log[1].header("if-match"), "\"" + md5_hex(data) + "\"");
}

TEST_F(S3ClientOnFakeS3, GetOfAMissingObjectIsRefused) {
  try {
    client().get_object(kDest, [](std::string_view) {});
    FAIL() << "expected RemoteRefusedError";
  } catch (const RemoteRefusedError& e) {
    EXPECT_STREQ(e.what(), "s3://bkt/dir/a b.bin: GET: HTTP 404 NoSuchKey: gone");
  }
  EXPECT_FALSE(client().exists(kDest));
}

TEST(EffectivePartSize, GrowsInWholeMebibytesToStayWithinTenThousandParts) {
  const std::uint64_t MiB = 1u << 20;
  EXPECT_EQ(effective_part_size(100 * MiB, 8 * MiB), 8 * MiB);
  EXPECT_EQ(effective_part_size(10000 * 8 * MiB, 8 * MiB), 8 * MiB);  // exactly 10000 parts
  EXPECT_EQ(effective_part_size(10000 * 8 * MiB + 1, 8 * MiB), 9 * MiB);
  EXPECT_EQ(effective_part_size(200000 * MiB, 5 * MiB), 20 * MiB);
  EXPECT_THROW(effective_part_size(10000ull * (5ull << 30) + 1, 8 * MiB), UsageError);
}
