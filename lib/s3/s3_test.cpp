// Object URIs, credential/region/endpoint resolution (real temp files and env), S3 error bodies, addressing,
// and the file:// lake (a real temp directory).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>

#include "core/error.hpp"
#include "s3/local_lake.hpp"
#include "s3/object_store.hpp"
#include "s3/s3_client.hpp"

using namespace cryptopipe;
namespace fs = std::filesystem;

namespace {

// Sets env vars for one test and restores them after.
class EnvGuard {
 public:
  EnvGuard() {
    for (const char* k : kNames) {
      const char* v = std::getenv(k);
      saved_[k] = v ? std::optional<std::string>(v) : std::nullopt;
      ::unsetenv(k);
    }
  }
  ~EnvGuard() {
    for (auto& [k, v] : saved_) v ? ::setenv(k.c_str(), v->c_str(), 1) : ::unsetenv(k.c_str());
  }
  void set(const char* k, const std::string& v) { ::setenv(k, v.c_str(), 1); }

 private:
  static constexpr const char* kNames[] = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                                           "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SHARED_CREDENTIALS_FILE",
                                           "AWS_CONFIG_FILE", "AWS_REGION", "AWS_DEFAULT_REGION",
                                           "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "HOME"};
  std::map<std::string, std::optional<std::string>> saved_;
};

struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/cryptopipe-s3-test-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string write(const std::string& name, const std::string& text) const {
    fs::create_directories((path / name).parent_path());
    std::ofstream(path / name, std::ios::binary) << text;
    return (path / name).string();
  }
};

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

TEST(ParseObjectUri, SplitsS3BucketAndKeyKeepingKeyBytes) {
  auto u = parse_object_uri("s3://my-bucket/exports/2024/01/02/a b+c=d.csv.gz");
  EXPECT_EQ(u.scheme, "s3");
  EXPECT_EQ(u.bucket, "my-bucket");
  EXPECT_EQ(u.key, "exports/2024/01/02/a b+c=d.csv.gz");
  EXPECT_EQ(u.str(), "s3://my-bucket/exports/2024/01/02/a b+c=d.csv.gz");
}

TEST(ParseObjectUri, FileUriIsAnAbsolutePath) {
  auto u = parse_object_uri("file:///var/lake/ohlcv/2024-01-02.csv.gz");
  EXPECT_EQ(u.scheme, "file");
  EXPECT_TRUE(u.bucket.empty());
  EXPECT_EQ(u.key, "/var/lake/ohlcv/2024-01-02.csv.gz");
  EXPECT_EQ(parse_object_uri("file://localhost/x/y").key, "/x/y");
}

TEST(ParseObjectUri, RejectsMalformedUrisAsUsageErrors) {
  for (const char* bad : {"s3://bucket", "s3://bucket/", "s3://B_ad/key", "s3://ab/key", "file://relative/x",
                          "file:///dir/", "file:///a/../b", "http://x/y", "bucket/key"}) {
    EXPECT_THROW(parse_object_uri(bad), UsageError) << bad;
  }
}

TEST(ResolveAwsCredentials, EnvironmentWinsAndCarriesSessionToken) {
  EnvGuard env;
  TempDir dir;
  env.set("AWS_SHARED_CREDENTIALS_FILE", dir.write("credentials", "[default]\naws_access_key_id=FILEKEY\n"
                                                                  "aws_secret_access_key=FILESECRET\n"));
  env.set("AWS_ACCESS_KEY_ID", "ENVKEY");
  env.set("AWS_SECRET_ACCESS_KEY", "ENVSECRET");
  env.set("AWS_SESSION_TOKEN", "ENVTOKEN");
  auto c = resolve_aws_credentials();
  EXPECT_EQ(c.access_key_id, "ENVKEY");
  EXPECT_EQ(c.secret_access_key, "ENVSECRET");
  EXPECT_EQ(c.session_token, "ENVTOKEN");
}

TEST(ResolveAwsCredentials, NamedProfileFromCredentialsFileThenConfigFile) {
  EnvGuard env;
  TempDir dir;
  env.set("AWS_SHARED_CREDENTIALS_FILE",
          dir.write("credentials", "# comment\n[default]\naws_access_key_id = DEFKEY\naws_secret_access_key = DEFSECRET\n"
                                   "[ci]\naws_access_key_id = CIKEY\naws_secret_access_key = CISECRET\n"
                                   "aws_session_token = CITOKEN\n"));
  env.set("AWS_CONFIG_FILE", dir.write("config", "[profile cfg]\nregion = eu-west-2\naws_access_key_id = CFGKEY\n"
                                                 "aws_secret_access_key = CFGSECRET\ns3 =\n  addressing_style = path\n"));
  auto d = resolve_aws_credentials();
  EXPECT_EQ(d.access_key_id, "DEFKEY");
  env.set("AWS_PROFILE", "ci");
  auto c = resolve_aws_credentials();
  EXPECT_EQ(c.access_key_id, "CIKEY");
  EXPECT_EQ(c.secret_access_key, "CISECRET");
  EXPECT_EQ(c.session_token, "CITOKEN");
  env.set("AWS_PROFILE", "cfg");
  EXPECT_EQ(resolve_aws_credentials().access_key_id, "CFGKEY");
  EXPECT_EQ(resolve_s3_settings("", "").region, "eu-west-2");
}

TEST(ResolveAwsCredentials, DefaultFilesUnderHome) {
  EnvGuard env;
  TempDir dir;
  dir.write(".aws/credentials", "[default]\naws_access_key_id=HOMEKEY\naws_secret_access_key=HOMESECRET\n");
  env.set("HOME", dir.path.string());
  EXPECT_EQ(resolve_aws_credentials().access_key_id, "HOMEKEY");
}

TEST(ResolveAwsCredentials, NoneIsAUsageErrorNamingTheProfile) {
  EnvGuard env;
  TempDir dir;
  env.set("HOME", dir.path.string());
  env.set("AWS_ACCESS_KEY_ID", "ONLYKEY");  // half a pair does not count
  env.set("AWS_PROFILE", "missing");
  try {
    resolve_aws_credentials();
    FAIL() << "expected UsageError";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("profile \"missing\""), std::string::npos) << e.what();
  }
}

TEST(ResolveS3Settings, FlagsThenEnvironmentThenDefaults) {
  EnvGuard env;
  TempDir dir;
  env.set("HOME", dir.path.string());
  EXPECT_EQ(resolve_s3_settings("", "").region, "us-east-1");
  EXPECT_EQ(resolve_s3_settings("", "").endpoint_url, "");
  env.set("AWS_DEFAULT_REGION", "eu-central-1");
  EXPECT_EQ(resolve_s3_settings("", "").region, "eu-central-1");
  env.set("AWS_REGION", "ap-south-1");
  EXPECT_EQ(resolve_s3_settings("", "").region, "ap-south-1");
  EXPECT_EQ(resolve_s3_settings("us-west-2", "").region, "us-west-2");
  env.set("AWS_ENDPOINT_URL", "http://generic:1");
  EXPECT_EQ(resolve_s3_settings("", "").endpoint_url, "http://generic:1");
  env.set("AWS_ENDPOINT_URL_S3", "http://s3only:2/");
  EXPECT_EQ(resolve_s3_settings("", "").endpoint_url, "http://s3only:2");
  EXPECT_EQ(resolve_s3_settings("", "https://flag:3").endpoint_url, "https://flag:3");
  EXPECT_THROW(resolve_s3_settings("", "ftp://x"), UsageError);
}

TEST(S3Address, PathStyleForCustomEndpointVirtualHostedForAws) {
  S3Settings custom{"us-east-1", "http://127.0.0.1:5000", "", 5};
  auto a = s3_address(custom, "bkt", "dir/a b+é.csv");
  EXPECT_EQ(a.host, "127.0.0.1:5000");
  EXPECT_EQ(a.path, "/bkt/dir/a%20b%2B%C3%A9.csv");
  EXPECT_EQ(a.url, "http://127.0.0.1:5000/bkt/dir/a%20b%2B%C3%A9.csv");
  S3Settings aws{"eu-west-1", "", "", 5};
  auto v = s3_address(aws, "bkt", "k");
  EXPECT_EQ(v.host, "bkt.s3.eu-west-1.amazonaws.com");
  EXPECT_EQ(v.path, "/k");
  EXPECT_EQ(v.url, "https://bkt.s3.eu-west-1.amazonaws.com/k");
  auto dotted = s3_address(aws, "my.bucket", "k");
  EXPECT_EQ(dotted.url, "https://s3.eu-west-1.amazonaws.com/my.bucket/k");
  S3Settings default_port{"us-east-1", "https://minio.local:443", "", 5};
  EXPECT_EQ(s3_address(default_port, "bkt", "k").host, "minio.local");
}

TEST(S3ErrorBody, ParsesCodeAndMessageIntoOneLine) {
  const std::string body =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SignatureDoesNotMatch</Code>"
      "<Message>The request signature we calculated does not match\nthe signature you provided.</Message>"
      "<RequestId>1</RequestId></Error>";
  auto e = parse_s3_error(body);
  EXPECT_EQ(e.code, "SignatureDoesNotMatch");
  EXPECT_EQ(e.message, "The request signature we calculated does not match the signature you provided.");
  EXPECT_EQ(describe_s3_failure(403, body),
            "HTTP 403 SignatureDoesNotMatch: The request signature we calculated does not match the signature you "
            "provided.");
  EXPECT_EQ(describe_s3_failure(403, ""), "HTTP 403 Forbidden");
  EXPECT_EQ(describe_s3_failure(502, "Bad gateway\nmore"), "HTTP 502: Bad gateway");
  EXPECT_EQ(xml_text("<R><ETag>&quot;abc-3&quot;</ETag></R>", "ETag"), "\"abc-3\"");
  EXPECT_EQ(xml_text("<R></R>", "ETag"), "");
}

TEST(LocalLake, CopiesAtomicallyIntoNewDirectoriesAndReadsBack) {
  TempDir dir;
  std::string payload(3 << 20, '\0');
  for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(i * 31 % 251);
  const std::string src = dir.write("src.bin", payload);
  auto dest = parse_object_uri("file://" + (dir.path / "lake/exports/2024/a b.bin").string());
  LocalLake lake;
  EXPECT_FALSE(lake.exists(dest));
  PutResult r = lake.put_file(src, dest, {});
  EXPECT_EQ(r.size, payload.size());
  EXPECT_EQ(r.etag.size(), 32u);
  EXPECT_EQ(read_all(dest.key), payload);
  EXPECT_TRUE(lake.exists(dest));
  std::string back;
  EXPECT_EQ(lake.get_object(dest, [&](std::string_view c) { back.append(c); }), payload.size());
  EXPECT_EQ(back, payload);
  std::size_t entries = 0;
  for (auto& e : fs::directory_iterator(dir.path / "lake/exports/2024")) {
    (void)e;
    ++entries;
  }
  EXPECT_EQ(entries, 1u);  // no temp file left behind
}

TEST(LocalLake, NoOverwriteRefusesAnExistingKeyAndKeepsIt) {
  TempDir dir;
  const std::string src = dir.write("new.csv", "new");
  const std::string existing = dir.write("lake/k.csv", "old");
  LocalLake lake;
  PutOptions o;
  o.no_overwrite = true;
  try {
    lake.put_file(src, parse_object_uri("file://" + existing), o);
    FAIL() << "expected RemoteRefusedError";
  } catch (const RemoteRefusedError& e) {
    EXPECT_NE(std::string(e.what()).find("already exists"), std::string::npos);
  }
  EXPECT_EQ(read_all(existing), "old");
  lake.put_file(src, parse_object_uri("file://" + existing), {});
  EXPECT_EQ(read_all(existing), "new");
}

TEST(LocalLake, MissingObjectAndMissingSourceFail) {
  TempDir dir;
  LocalLake lake;
  EXPECT_THROW(lake.get_object(parse_object_uri("file://" + (dir.path / "nope").string()), [](std::string_view) {}),
               RemoteRefusedError);
  EXPECT_THROW(lake.put_file((dir.path / "nope").string(), parse_object_uri("file://" + (dir.path / "x").string()), {}),
               UsageError);
}
