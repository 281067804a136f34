#include "s3/object_store.hpp"

#include <fmt/format.h>
#include <openssl/evp.h>

#include <fstream>
#include <memory>

#include "core/error.hpp"
#include "s3/local_lake.hpp"
#include "s3/s3_client.hpp"

namespace cryptopipe {

std::string ObjectUri::str() const {
  if (scheme == "file") return "file://" + key;
  return "s3://" + bucket + "/" + key;
}

ObjectUri parse_object_uri(const std::string& uri) {
  ObjectUri out;
  if (uri.rfind("s3://", 0) == 0) {
    std::string rest = uri.substr(5);
    auto slash = rest.find('/');
    out.scheme = "s3";
    out.bucket = rest.substr(0, slash);
    out.key = slash == std::string::npos ? "" : rest.substr(slash + 1);
    if (out.bucket.size() < 3 || out.bucket.size() > 63)
      throw UsageError(uri + ": bucket name must be 3 to 63 characters");
    for (char c : out.bucket)
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.'))
        throw UsageError(uri + ": bucket name may only hold a-z 0-9 . -");
    if (out.key.empty()) throw UsageError(uri + ": missing object key (s3://BUCKET/KEY)");
    if (out.key.size() > 1024) throw UsageError(uri + ": object key longer than 1024 bytes");
    return out;
  }
  if (uri.rfind("file://", 0) == 0) {
    std::string path = uri.substr(7);
    if (path.rfind("localhost/", 0) == 0) path = path.substr(9);
    if (path.empty() || path[0] != '/') throw UsageError(uri + ": a file URI needs an absolute path (file:///dir/key)");
    if (path.back() == '/') throw UsageError(uri + ": missing file name (file:///dir/key)");
    for (std::size_t p = 0; (p = path.find("/..", p)) != std::string::npos; ++p)
      if (p + 3 == path.size() || path[p + 3] == '/') throw UsageError(uri + ": \"..\" is not allowed in a lake path");
    out.scheme = "file";
    out.key = path;
    return out;
  }
  throw UsageError(uri + ": expected s3://BUCKET/KEY or file:///dir/key");
}

namespace {

class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new(), EVP_MD_CTX_free) { EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr); }
  void update(std::string_view data) {
    EVP_DigestUpdate(ctx_.get(), data.data(), data.size());
    size_ += data.size();
  }
  std::string hex() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx_.get(), md, &len);
    std::string out;
    for (unsigned i = 0; i < len; ++i) out += fmt::format("{:02x}", md[i]);
    return out;
  }
  std::uint64_t size() const { return size_; }

 private:
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx_;
  std::uint64_t size_ = 0;
};

}  // namespace

void verify_object(ObjectStore& store, const ObjectUri& uri, const std::string& local_path) {
  Sha256 local, remote;
  std::ifstream in(local_path, std::ios::binary);
  if (!in) throw UsageError(local_path + ": cannot open");
  std::string buf(1 << 20, '\0');
  while (in.read(buf.data(), static_cast<std::streamsize>(buf.size())) || in.gcount() > 0)
    local.update(std::string_view(buf.data(), static_cast<std::size_t>(in.gcount())));
  store.get_object(uri, [&](std::string_view chunk) { remote.update(chunk); });
  const std::string a = local.hex(), b = remote.hex();
  if (a != b || local.size() != remote.size())
    throw TransientError(fmt::format("{}: verify: read back {} bytes sha256 {}, local file has {} bytes sha256 {}",
                                     uri.str(), remote.size(), b, local.size(), a));
}

std::atomic<bool>& object_store_cancel_flag() {
  static std::atomic<bool> flag{false};
  return flag;
}

std::unique_ptr<ObjectStore> open_object_store(const ObjectUri& uri, const S3Settings& settings) {
  if (uri.scheme == "file") return std::make_unique<LocalLake>();
  if (uri.scheme == "s3") return std::make_unique<S3Client>(settings, resolve_aws_credentials());
  throw UsageError(uri.str() + ": unsupported scheme \"" + uri.scheme + "\"");
}

}  // namespace cryptopipe
