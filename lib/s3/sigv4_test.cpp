// The four S3 examples of AWS's "Authenticating Requests: Using the Authorization Header" (Signature Version 4),
// byte for byte: canonical request, string to sign and signature.
#include "s3/sigv4.hpp"

#include <gtest/gtest.h>

using namespace cryptopipe;

namespace {

const char* kEmptyHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const char* kDate = "20130524T000000Z";

SigV4Signer example_signer() {
  return SigV4Signer({"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""}, "us-east-1");
}

SignableRequest get_request(std::string path, std::vector<std::pair<std::string, std::string>> query,
                            std::vector<std::pair<std::string, std::string>> extra = {}) {
  SignableRequest r{"GET", std::move(path), std::move(query), {}, kEmptyHash};
  r.headers = {{"Host", "examplebucket.s3.amazonaws.com"}, {"x-amz-date", kDate}, {"x-amz-content-sha256", kEmptyHash}};
  for (auto& h : extra) r.headers.push_back(h);
  return r;
}

}  // namespace

TEST(SigV4Signer, GetObjectWithRangeMatchesAwsExample) {
  auto signer = example_signer();
  auto r = get_request("/test.txt", {}, {{"Range", "bytes=0-9"}});
  EXPECT_EQ(signer.canonical_request(r),
            "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
            "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
            "x-amz-date:20130524T000000Z\n\nhost;range;x-amz-content-sha256;x-amz-date\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(signer.string_to_sign(r, kDate),
            "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
            "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
  EXPECT_EQ(signer.authorization(r, kDate),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
            "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
            "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

TEST(SigV4Signer, PutObjectMatchesAwsExample) {
  auto signer = example_signer();
  const std::string payload_hash = sha256_hex("Welcome to Amazon S3.");
  EXPECT_EQ(payload_hash, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
  SignableRequest r{"PUT", std::string("/").append(uri_encode("test$file.text", true)), {}, {}, payload_hash};
  r.headers = {{"Host", "examplebucket.s3.amazonaws.com"},
               {"Date", "Fri, 24 May 2013 00:00:00 GMT"},
               {"x-amz-date", kDate},
               {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
               {"x-amz-content-sha256", payload_hash}};
  EXPECT_EQ(r.path, "/test%24file.text");
  EXPECT_EQ(signer.canonical_request(r),
            "PUT\n/test%24file.text\n\ndate:Fri, 24 May 2013 00:00:00 GMT\nhost:examplebucket.s3.amazonaws.com\n"
            "x-amz-content-sha256:44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072\n"
            "x-amz-date:20130524T000000Z\nx-amz-storage-class:REDUCED_REDUNDANCY\n\n"
            "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class\n"
            "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
  EXPECT_EQ(signer.signature(r, kDate), "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
}

TEST(SigV4Signer, GetBucketLifecycleMatchesAwsExample) {
  auto signer = example_signer();
  auto r = get_request("/", {{"lifecycle", ""}});
  EXPECT_EQ(signer.canonical_request(r),
            "GET\n/\nlifecycle=\nhost:examplebucket.s3.amazonaws.com\n"
            "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
            "x-amz-date:20130524T000000Z\n\nhost;x-amz-content-sha256;x-amz-date\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(signer.signature(r, kDate), "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
}

TEST(SigV4Signer, ListObjectsSortsQueryAndMatchesAwsExample) {
  auto signer = example_signer();
  auto r = get_request("/", {{"prefix", "J"}, {"max-keys", "2"}});  // given out of order on purpose
  EXPECT_EQ(signer.canonical_request(r),
            "GET\n/\nmax-keys=2&prefix=J\nhost:examplebucket.s3.amazonaws.com\n"
            "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
            "x-amz-date:20130524T000000Z\n\nhost;x-amz-content-sha256;x-amz-date\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(signer.signature(r, kDate), "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

TEST(SigV4Signer, TrimsAndCollapsesHeaderValuesAndJoinsRepeatedNames) {
  auto signer = example_signer();
  SignableRequest r{"GET", "/k", {}, {{"X-Amz-Meta-A", "  a   b  "}, {"x-amz-meta-a", "c"}, {"Host", "h"}}, kEmptyHash};
  EXPECT_EQ(signer.canonical_request(r),
            std::string("GET\n/k\n\nhost:h\nx-amz-meta-a:a b,c\n\nhost;x-amz-meta-a\n") + kEmptyHash);
}

TEST(UriEncode, KeepsUnreservedAndSlashEncodesEverythingElseUpperHex) {
  EXPECT_EQ(uri_encode("a b+c=d/e~f_g-h.i", true), "a%20b%2Bc%3Dd/e~f_g-h.i");
  EXPECT_EQ(uri_encode("a/b", false), "a%2Fb");
  EXPECT_EQ(uri_encode("\xC3\xA9t\xC3\xA9/\xE2\x82\xBF", true), "%C3%A9t%C3%A9/%E2%82%BF");  // "été/₿"
  EXPECT_EQ(uri_encode("50%*", true), "50%25%2A");
}

TEST(CanonicalQuery, EncodesAndSortsByNameThenValue) {
  EXPECT_EQ(canonical_query({{"uploadId", "a+b/c"}, {"partNumber", "10"}}), "partNumber=10&uploadId=a%2Bb%2Fc");
  EXPECT_EQ(canonical_query({{"b", "2"}, {"a", "z"}, {"a", "y"}, {"uploads", ""}}), "a=y&a=z&b=2&uploads=");
}

TEST(Digests, Md5Base64AndHexOfKnownStrings) {
  EXPECT_EQ(md5_base64(""), "1B2M2Y8AsgTpgAmY7PhCfg==");
  EXPECT_EQ(md5_hex("Welcome to Amazon S3."), "d447d0e8f289f16a12ff6027ce77c258");
  EXPECT_EQ(sha256_hex(""), kEmptyHash);
}

TEST(AmzDate, FormatsUtcBasicIso8601) { EXPECT_EQ(amz_date(1369353600LL * 1000000), "20130524T000000Z"); }
