#include "s3/sigv4.hpp"

#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cctype>
#include <ctime>

#include "core/error.hpp"

namespace cryptopipe {
namespace {

std::string digest(const EVP_MD* md, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), out, &len, md, nullptr) != 1)
    throw Error(ExitCode::other, "OpenSSL: digest failed");
  return std::string(reinterpret_cast<char*>(out), len);
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
            reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len))
    throw Error(ExitCode::other, "OpenSSL: HMAC-SHA256 failed");
  return std::string(reinterpret_cast<char*>(out), len);
}

std::string hex(std::string_view bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// SigV4 canonical header values: leading/trailing blanks trimmed, inner runs of blanks collapsed to one space.
std::string canonical_value(std::string_view v) {
  std::string out;
  bool space = false;
  for (char c : v) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> canonical_headers(const SignableRequest& r) {
  std::vector<std::pair<std::string, std::string>> h;
  for (const auto& [k, v] : r.headers) h.emplace_back(lower(k), canonical_value(v));
  std::stable_sort(h.begin(), h.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  // Repeated names are one canonical header with comma-joined values.
  std::vector<std::pair<std::string, std::string>> merged;
  for (auto& kv : h) {
    if (!merged.empty() && merged.back().first == kv.first)
      merged.back().second += "," + kv.second;
    else
      merged.push_back(std::move(kv));
  }
  return merged;
}

}  // namespace

std::string sha256_hex(std::string_view data) { return hex(digest(EVP_sha256(), data)); }
std::string md5_hex(std::string_view data) { return hex(digest(EVP_md5(), data)); }

std::string md5_base64(std::string_view data) {
  std::string md = digest(EVP_md5(), data);
  unsigned char out[64];
  int n = EVP_EncodeBlock(out, reinterpret_cast<const unsigned char*>(md.data()), static_cast<int>(md.size()));
  return std::string(reinterpret_cast<char*>(out), n);
}

std::string uri_encode(std::string_view s, bool keep_slash) {
  std::string out;
  out.reserve(s.size() * 3);
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

std::string canonical_query(const std::vector<std::pair<std::string, std::string>>& query) {
  std::vector<std::pair<std::string, std::string>> enc;
  for (const auto& [k, v] : query) enc.emplace_back(uri_encode(k, false), uri_encode(v, false));
  std::sort(enc.begin(), enc.end());
  std::string out;
  for (const auto& [k, v] : enc) {
    if (!out.empty()) out.push_back('&');
    out += k + "=" + v;
  }
  return out;
}

std::string amz_date(std::int64_t unix_us) {
  std::time_t t = static_cast<std::time_t>(unix_us / 1000000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

SigV4Signer::SigV4Signer(AwsCredentials credentials, std::string region, std::string service)
    : credentials_(std::move(credentials)), region_(std::move(region)), service_(std::move(service)) {}

std::string SigV4Signer::signed_headers(const SignableRequest& request) const {
  std::string out;
  for (const auto& [k, v] : canonical_headers(request)) {
    if (!out.empty()) out.push_back(';');
    out += k;
  }
  return out;
}

std::string SigV4Signer::canonical_request(const SignableRequest& request) const {
  std::string out = request.method + "\n" + (request.path.empty() ? "/" : request.path) + "\n" +
                    canonical_query(request.query) + "\n";
  for (const auto& [k, v] : canonical_headers(request)) out += k + ":" + v + "\n";
  out += '\n';
  out += signed_headers(request);
  out += '\n';
  out += request.payload_hash;
  return out;
}

std::string SigV4Signer::string_to_sign(const SignableRequest& request, const std::string& date) const {
  return "AWS4-HMAC-SHA256\n" + date + "\n" + date.substr(0, 8) + "/" + region_ + "/" + service_ + "/aws4_request\n" +
         sha256_hex(canonical_request(request));
}

std::string SigV4Signer::signature(const SignableRequest& request, const std::string& date) const {
  std::string key = hmac_sha256("AWS4" + credentials_.secret_access_key, date.substr(0, 8));
  key = hmac_sha256(key, region_);
  key = hmac_sha256(key, service_);
  key = hmac_sha256(key, "aws4_request");
  return hex(hmac_sha256(key, string_to_sign(request, date)));
}

std::string SigV4Signer::authorization(const SignableRequest& request, const std::string& date) const {
  return "AWS4-HMAC-SHA256 Credential=" + credentials_.access_key_id + "/" + date.substr(0, 8) + "/" + region_ + "/" +
         service_ + "/aws4_request,SignedHeaders=" + signed_headers(request) +
         ",Signature=" + signature(request, date);
}

}  // namespace cryptopipe
