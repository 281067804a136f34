#include "csv/gunzip.hpp"

#include <zlib.h>

#include <vector>

#include "core/error.hpp"

namespace cryptopipe {

struct MaybeGunzip::Impl {
  z_stream zs{};
  bool open = false;
  bool member_done = false;  // the last member ended; more bytes start a new one
  std::vector<unsigned char> out = std::vector<unsigned char>(1 << 18);
  ~Impl() {
    if (open) inflateEnd(&zs);
  }
};

MaybeGunzip::MaybeGunzip(std::string name, std::function<void(std::string_view)> sink)
    : impl_(std::make_unique<Impl>()), name_(std::move(name)), sink_(std::move(sink)) {}

MaybeGunzip::~MaybeGunzip() = default;

void MaybeGunzip::write(std::string_view chunk) {
  if (chunk.empty()) return;
  if (mode_ == Mode::undecided) {
    head_.append(chunk);
    if (head_.size() < 2) return;
    mode_ = (static_cast<unsigned char>(head_[0]) == 0x1f && static_cast<unsigned char>(head_[1]) == 0x8b) ? Mode::gzip
                                                                                                         : Mode::plain;
    std::string first = std::move(head_);
    head_.clear();
    write(first);
    return;
  }
  if (mode_ == Mode::plain) {
    sink_(chunk);
    return;
  }
  inflate_chunk(chunk);
}

void MaybeGunzip::inflate_chunk(std::string_view chunk) {
  Impl& z = *impl_;
  z.zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(chunk.data()));
  z.zs.avail_in = static_cast<uInt>(chunk.size());
  while (z.zs.avail_in > 0) {
    if (!z.open || z.member_done) {
      if (z.open) inflateEnd(&z.zs);
      Bytef* next = z.zs.next_in;
      uInt avail = z.zs.avail_in;
      z.zs = z_stream{};
      // 15 + 16: gzip wrapper only (zlib checks the CRC and length of each member).
      if (inflateInit2(&z.zs, 15 + 16) != Z_OK) throw Error(ExitCode::other, name_ + ": cannot start zlib");
      z.zs.next_in = next;
      z.zs.avail_in = avail;
      z.open = true;
      z.member_done = false;
    }
    z.zs.next_out = z.out.data();
    z.zs.avail_out = static_cast<uInt>(z.out.size());
    int rc = inflate(&z.zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR)
      throw BadDataError(name_ + ": corrupt gzip data (" + (z.zs.msg ? z.zs.msg : "inflate failed") + ")");
    std::size_t produced = z.out.size() - z.zs.avail_out;
    if (produced) sink_(std::string_view(reinterpret_cast<const char*>(z.out.data()), produced));
    if (rc == Z_STREAM_END) z.member_done = true;
    if (rc == Z_BUF_ERROR && produced == 0) break;
  }
  // Drain output still buffered inside zlib for this input.
  while (z.open && !z.member_done) {
    z.zs.next_out = z.out.data();
    z.zs.avail_out = static_cast<uInt>(z.out.size());
    int rc = inflate(&z.zs, Z_NO_FLUSH);
    std::size_t produced = z.out.size() - z.zs.avail_out;
    if (produced) sink_(std::string_view(reinterpret_cast<const char*>(z.out.data()), produced));
    if (rc == Z_STREAM_END) z.member_done = true;
    if (rc != Z_OK || produced == 0) {
      if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR)
        throw BadDataError(name_ + ": corrupt gzip data (" + (z.zs.msg ? z.zs.msg : "inflate failed") + ")");
      break;
    }
  }
}

void MaybeGunzip::finish() {
  if (mode_ == Mode::undecided) {
    // Fewer than two bytes: cannot be gzip.
    mode_ = Mode::plain;
    if (!head_.empty()) sink_(head_);
    head_.clear();
    return;
  }
  if (mode_ == Mode::gzip && !impl_->member_done) throw BadDataError(name_ + ": truncated gzip data");
}

}  // namespace cryptopipe
