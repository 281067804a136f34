#pragma once
// A directory tree standing in for a bucket: file:///dir/key. Writes are atomic (temp, fsync, rename) so a reader
// (copy-redshift) never sees half an object.
#include "s3/object_store.hpp"

namespace cryptopipe {

class LocalLake final : public ObjectStore {
 public:
  /// Copies the file; the etag is the hex MD5 of the bytes (as S3 gives for a single PUT).
  PutResult put_file(const std::string& local_path, const ObjectUri& dest, const PutOptions& options) override;
  std::uint64_t get_object(const ObjectUri& src, const std::function<void(std::string_view)>& sink) override;
  bool exists(const ObjectUri& uri) override;
};

}  // namespace cryptopipe
