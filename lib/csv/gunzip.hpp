#pragma once
// Objects arrive as chunks from the object store (push); a .gz object is inflated on the fly so memory stays flat.
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace cryptopipe {

/// Passes bytes through to `sink`, inflating them first when they start with the gzip magic (1f 8b).
/// Concatenated gzip members are all inflated (as gunzip does). Throws BadDataError naming `name` for a
/// corrupt or truncated stream.
class MaybeGunzip {
 public:
  MaybeGunzip(std::string name, std::function<void(std::string_view)> sink);
  ~MaybeGunzip();
  MaybeGunzip(const MaybeGunzip&) = delete;
  MaybeGunzip& operator=(const MaybeGunzip&) = delete;
  void write(std::string_view chunk);
  /// Ends the input; throws BadDataError if a gzip stream is incomplete.
  void finish();
  bool gzipped() const { return mode_ == Mode::gzip; }

 private:
  enum class Mode { undecided, plain, gzip };
  void inflate_chunk(std::string_view chunk);
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string name_;
  std::function<void(std::string_view)> sink_;
  Mode mode_ = Mode::undecided;
  std::string head_;  // the first byte, while undecided
};

}  // namespace cryptopipe
