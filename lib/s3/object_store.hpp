#pragma once
// The object store behind one small interface: S3 (our own SigV4 signer over libcurl) for s3:// and a local lake
// (atomic file copies, same key layout) for file://, so the daily leg runs with or without a cloud account.
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace cryptopipe {

struct ObjectUri {
  std::string scheme;  // "s3" or "file"
  std::string bucket;  // empty for file
  std::string key;     // object key (s3) or absolute path (file)
  /// The URI back as text (s3://bucket/key or file:///abs/path).
  std::string str() const;
};

/// Parses s3://bucket/key or file:///abs/path; throws UsageError.
ObjectUri parse_object_uri(const std::string& uri);

struct S3Settings {
  std::string region, endpoint_url;
  std::string ca_file;
  int max_attempts = 5;
};

/// Region/endpoint resolution: explicit values (flags) win, then AWS_REGION/AWS_DEFAULT_REGION/profile,
/// AWS_ENDPOINT_URL_S3/AWS_ENDPOINT_URL. Region defaults to us-east-1 when nothing names one.
S3Settings resolve_s3_settings(const std::string& region_flag, const std::string& endpoint_flag);

struct PutOptions {
  std::string sse, sse_kms_key_id;
  bool no_overwrite = false;
  std::uint64_t part_size = 8u << 20;
  std::uint64_t multipart_threshold = 8u << 20;
  int concurrency = 4;
  std::string content_type;
};

struct PutResult {
  std::string uri;
  std::uint64_t size = 0;
  std::string etag;
  int parts = 0;  // 0 for a single PUT
};

class ObjectStore {
 public:
  virtual ~ObjectStore() = default;
  /// Uploads `local_path` to `dest`. Throws UsageError (missing file, bad options), RemoteRefusedError (403,
  /// other 4xx, existing key with no_overwrite), TransientError (network/5xx after retries).
  virtual PutResult put_file(const std::string& local_path, const ObjectUri& dest, const PutOptions& options) = 0;
  /// Streams the object's bytes to `sink` in chunks (memory stays flat); returns the byte count.
  /// Throws RemoteRefusedError (403/404...), TransientError.
  virtual std::uint64_t get_object(const ObjectUri& src, const std::function<void(std::string_view)>& sink) = 0;
  /// True if the object exists. Throws RemoteRefusedError on 403, TransientError.
  virtual bool exists(const ObjectUri& uri) = 0;
};

/// The store for `uri`'s scheme: a local lake for file://, S3 (SigV4) for s3://.
/// For s3:// credentials are resolved here (UsageError if none).
std::unique_ptr<ObjectStore> open_object_store(const ObjectUri& uri, const S3Settings& settings);

struct AwsCredentials {
  std::string access_key_id, secret_access_key, session_token;
};

/// AWS credentials in SDK order (env, then AWS_PROFILE in AWS_SHARED_CREDENTIALS_FILE / AWS_CONFIG_FILE);
/// throws UsageError if none.
AwsCredentials resolve_aws_credentials();

/// Reads `uri` back through `store` and compares its SHA-256 and size with `local_path`'s. Throws TransientError
/// on a mismatch (a new upload would fix it), and what get_object throws.
void verify_object(ObjectStore& store, const ObjectUri& uri, const std::string& local_path);

/// Set (e.g. from a SIGTERM handler) to make in-flight uploads stop, abort their multipart upload and throw.
/// Async-signal-safe to store to.
std::atomic<bool>& object_store_cancel_flag();

}  // namespace cryptopipe
