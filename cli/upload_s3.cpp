// cryptopipe upload-s3: one file to S3 (SigV4, single PUT or parallel multipart) or to a file:// lake.
#include <csignal>
#include <cstdio>

#include "command.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "s3/object_store.hpp"

namespace cryptopipe::cli {
namespace {

extern "C" void on_terminate(int) {
  // Only an atomic store here; the workers see it, stop, and the main thread aborts the multipart upload.
  object_store_cancel_flag().store(true);
}

std::uint64_t parse_bytes(const std::string& flag, const std::string& text) {
  // Plain bytes or a binary suffix (5MiB, 8M, 1G): part sizes are easier to read that way.
  std::size_t pos = 0;
  unsigned long long n = 0;
  try {
    n = std::stoull(text, &pos);
  } catch (const std::exception&) {
    throw UsageError("--" + flag + ": not a byte count: " + text);
  }
  std::string suffix = text.substr(pos);
  std::uint64_t mult = 1;
  if (suffix.empty() || suffix == "B") mult = 1;
  else if (suffix == "K" || suffix == "KiB") mult = 1ull << 10;
  else if (suffix == "M" || suffix == "MiB") mult = 1ull << 20;
  else if (suffix == "G" || suffix == "GiB") mult = 1ull << 30;
  else throw UsageError("--" + flag + ": unknown unit \"" + suffix + "\" (use bytes, KiB, MiB or GiB)");
  return n * mult;
}

class UploadS3 final : public Command {
 public:
  void declare(cxxopts::Options& o) override {
    o.add_options()("file", "local file to upload", cxxopts::value<std::string>())(
        "destination", "s3://BUCKET/KEY or file:///dir/key", cxxopts::value<std::string>())(
        "region", "AWS region (env AWS_REGION, AWS_DEFAULT_REGION, profile; default us-east-1)",
        cxxopts::value<std::string>())(
        "endpoint-url", "S3 endpoint for S3-compatible servers, path-style (env AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL)",
        cxxopts::value<std::string>())("sse", "server-side encryption: AES256 or aws:kms", cxxopts::value<std::string>())(
        "sse-kms-key-id", "KMS key id or ARN for --sse aws:kms", cxxopts::value<std::string>())(
        "no-overwrite", "refuse to replace an existing object (exit 4)")(
        "verify", "read the object back and compare its SHA-256 with the file's")(
        "part-size", "multipart part size, bytes or with KiB/MiB/GiB (min 5MiB)",
        cxxopts::value<std::string>()->default_value("8MiB"))(
        "multipart-threshold", "files of at least this size go multipart",
        cxxopts::value<std::string>()->default_value("8MiB"))(
        "concurrency", "parts uploaded in parallel", cxxopts::value<int>()->default_value("4"))(
        "max-attempts", "attempts per request (network errors, 5xx, 429)", cxxopts::value<int>()->default_value("5"))(
        "content-type", "Content-Type of the object (default application/octet-stream)",
        cxxopts::value<std::string>())("ca-file", "CA bundle for TLS verification (env CURL_CA_BUNDLE)",
                                       cxxopts::value<std::string>());
    o.parse_positional({"file", "destination"});
    o.positional_help("FILE s3://BUCKET/KEY|file:///dir/key");
  }

  void setup(const cxxopts::ParseResult& a) override {
    if (!a.count("file") || !a.count("destination"))
      throw UsageError("expected FILE and a destination (s3://BUCKET/KEY or file:///dir/key)");
    if (!a.unmatched().empty()) throw UsageError("unexpected argument \"" + a.unmatched().front() + "\"");
    file_ = a["file"].as<std::string>();
    dest_ = parse_object_uri(a["destination"].as<std::string>());
    auto opt = [&](const char* name) { return a.count(name) ? a[name].as<std::string>() : std::string(); };
    region_flag_ = opt("region");
    endpoint_flag_ = opt("endpoint-url");
    ca_file_ = opt("ca-file");
    put_.sse = opt("sse");
    put_.sse_kms_key_id = opt("sse-kms-key-id");
    put_.content_type = opt("content-type");
    if (!put_.sse.empty() && put_.sse != "AES256" && put_.sse != "aws:kms")
      throw UsageError("--sse: must be AES256 or aws:kms");
    if (!put_.sse_kms_key_id.empty() && put_.sse != "aws:kms") throw UsageError("--sse-kms-key-id: needs --sse aws:kms");
    put_.no_overwrite = a.count("no-overwrite") > 0;
    verify_ = a.count("verify") > 0;
    put_.part_size = parse_bytes("part-size", a["part-size"].as<std::string>());
    if (put_.part_size < (5ull << 20) || put_.part_size > (5ull << 30))
      throw UsageError("--part-size: must be between 5MiB and 5GiB (S3's limits)");
    put_.multipart_threshold = parse_bytes("multipart-threshold", a["multipart-threshold"].as<std::string>());
    put_.concurrency = a["concurrency"].as<int>();
    if (put_.concurrency < 1 || put_.concurrency > 64) throw UsageError("--concurrency: must be 1 to 64");
    max_attempts_ = a["max-attempts"].as<int>();
    if (max_attempts_ < 1) throw UsageError("--max-attempts: must be at least 1");
  }

  int run() override {
    S3Settings settings = resolve_s3_settings(region_flag_, endpoint_flag_);
    settings.ca_file = ca_file_;
    settings.max_attempts = max_attempts_;
    // SIGTERM (Airflow killing the task) must not leave an orphaned multipart upload behind.
    std::signal(SIGTERM, on_terminate);
    std::signal(SIGINT, on_terminate);
    auto store = open_object_store(dest_, settings);
    PutResult r = store->put_file(file_, dest_, put_);
    if (verify_) {
      verify_object(*store, dest_, file_);
      log::info("{}: verified: read back byte for byte", r.uri);
    }
    log::info("{}: uploaded {} bytes{}", r.uri, r.size, r.parts ? " in " + std::to_string(r.parts) + " parts" : "");
    std::printf("%s %llu bytes etag %s\n", r.uri.c_str(), static_cast<unsigned long long>(r.size), r.etag.c_str());
    return 0;
  }

 private:
  std::string file_, region_flag_, endpoint_flag_, ca_file_;
  ObjectUri dest_;
  PutOptions put_;
  int max_attempts_ = 5;
  bool verify_ = false;
};

}  // namespace

std::unique_ptr<Command> make_upload_s3() { return std::make_unique<UploadS3>(); }

}  // namespace cryptopipe::cli
