#pragma once
// AWS Signature Version 4 for S3, our own on OpenSSL: every byte of the canonical request is ours to test against
// AWS's published examples (libcurl 7.88's CURLOPT_AWS_SIGV4 mis-canonicalises queries and empty headers).
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "s3/object_store.hpp"

namespace cryptopipe {

/// Lower-case hex SHA-256 of `data`.
std::string sha256_hex(std::string_view data);
/// Base64 of the MD5 of `data` (the Content-MD5 header value).
std::string md5_base64(std::string_view data);
/// Lower-case hex MD5 of `data` (what S3 returns as a single PUT's ETag).
std::string md5_hex(std::string_view data);
/// RFC 3986 percent-encoding as SigV4 wants it: unreserved A-Z a-z 0-9 - _ . ~ kept, everything else %XX
/// (upper-case hex, UTF-8 bytes); '/' kept when `keep_slash` (object keys in paths).
std::string uri_encode(std::string_view s, bool keep_slash);
/// The canonical query string: names and values encoded, sorted by name then value, "name=value" joined by '&'.
std::string canonical_query(const std::vector<std::pair<std::string, std::string>>& query);

/// One request as SigV4 sees it. `path` is already URI-encoded (as it goes on the wire); query pairs are raw.
struct SignableRequest {
  std::string method;
  std::string path;
  std::vector<std::pair<std::string, std::string>> query;
  std::vector<std::pair<std::string, std::string>> headers;  // every header to sign, including host and x-amz-*
  std::string payload_hash;                                  // hex SHA-256 of the body, or UNSIGNED-PAYLOAD
};

/// Signs S3 requests for one credential set and region.
class SigV4Signer {
 public:
  SigV4Signer(AwsCredentials credentials, std::string region, std::string service = "s3");
  /// The canonical request (method, path, query, headers, signed header list, payload hash joined by '\n').
  std::string canonical_request(const SignableRequest& request) const;
  /// "name1;name2" of the lower-cased, sorted header names.
  std::string signed_headers(const SignableRequest& request) const;
  /// The string to sign for `amz_date` (YYYYMMDDTHHMMSSZ).
  std::string string_to_sign(const SignableRequest& request, const std::string& amz_date) const;
  /// The hex signature.
  std::string signature(const SignableRequest& request, const std::string& amz_date) const;
  /// The Authorization header value: "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...".
  std::string authorization(const SignableRequest& request, const std::string& amz_date) const;
  const AwsCredentials& credentials() const { return credentials_; }
  const std::string& region() const { return region_; }

 private:
  AwsCredentials credentials_;
  std::string region_, service_;
};

/// YYYYMMDDTHHMMSSZ for a Unix time in microseconds.
std::string amz_date(std::int64_t unix_us);

}  // namespace cryptopipe
