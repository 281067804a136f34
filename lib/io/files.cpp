#include "io/files.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "core/error.hpp"

namespace cryptopipe {

LineReader::LineReader(const std::string& path) : name_(path == "-" ? "<stdin>" : path) {
  if (path == "-") {
    f_ = stdin;
    owned_ = false;
  } else {
    f_ = std::fopen(path.c_str(), "rb");
    if (!f_) throw UsageError(fmt::format("{}: cannot open: {}", path, std::strerror(errno)));
    owned_ = true;
  }
}

LineReader::~LineReader() {
  std::free(buf_);
  if (owned_) std::fclose(f_);
}

bool LineReader::next(char*& data, std::size_t& size) {
  line_offset_ = offset_;
  // POSIX getline: any line length, embedded NUL bytes survive (they are then reported as bad data, not lost).
  ssize_t n = ::getline(&buf_, &cap_, f_);
  if (n < 0) {
    if (std::ferror(f_)) throw Error(ExitCode::other, fmt::format("{}: read error: {}", name_, std::strerror(errno)));
    return false;
  }
  offset_ += static_cast<std::size_t>(n);
  ++line_no_;
  if (n > 0 && buf_[n - 1] == '\n') buf_[--n] = '\0';
  data = buf_;
  size = static_cast<std::size_t>(n);
  return true;
}

bool LineReader::next(std::string& line) {
  char* data;
  std::size_t size;
  if (!next(data, size)) {
    line.clear();
    return false;
  }
  line.assign(data, size);
  return true;
}

struct OutputSink::Impl {
  std::vector<char> buffer;
  bool gzip = false;
  z_stream zs{};
  EVP_MD_CTX* sha = nullptr;
  // Compression runs on its own thread so deflate overlaps with producing the data (a COPY from PostgreSQL),
  // as `psql | gzip` would; blocks of ~1 MiB travel through a short bounded queue.
  std::string pending;
  std::thread worker;
  std::mutex mutex;
  std::condition_variable cv;
  std::deque<std::string> queue;
  bool finishing = false;
  std::exception_ptr error;
  ~Impl() {
    stop();
    if (gzip) deflateEnd(&zs);
    if (sha) EVP_MD_CTX_free(sha);
  }
  void stop() {
    if (!worker.joinable()) return;
    {
      std::lock_guard<std::mutex> lock(mutex);
      finishing = true;
    }
    cv.notify_all();
    worker.join();
  }
  void rethrow() {
    std::lock_guard<std::mutex> lock(mutex);
    if (error) std::rethrow_exception(error);
  }
};

void OutputSink::compress(std::string_view data, int flush) {
  char out[65536];
  impl_->zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  impl_->zs.avail_in = static_cast<uInt>(data.size());
  int rc;
  do {
    impl_->zs.next_out = reinterpret_cast<Bytef*>(out);
    impl_->zs.avail_out = sizeof out;
    rc = deflate(&impl_->zs, flush);
    raw_write(out, sizeof out - impl_->zs.avail_out);
  } while (flush == Z_FINISH ? rc != Z_STREAM_END : (impl_->zs.avail_in > 0 || impl_->zs.avail_out == 0));
}

void OutputSink::compressor_loop() {
  try {
    for (;;) {
      std::string block;
      {
        std::unique_lock<std::mutex> lock(impl_->mutex);
        impl_->cv.wait(lock, [&] { return !impl_->queue.empty() || impl_->finishing; });
        if (impl_->queue.empty()) break;
        block = std::move(impl_->queue.front());
        impl_->queue.pop_front();
      }
      impl_->cv.notify_all();
      compress(block, Z_NO_FLUSH);
    }
    compress({}, Z_FINISH);
  } catch (...) {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->error = std::current_exception();
    impl_->queue.clear();
  }
  impl_->cv.notify_all();
}

void OutputSink::submit_pending() {
  if (impl_->pending.empty()) {
    impl_->rethrow();
    return;
  }
  {
    std::unique_lock<std::mutex> lock(impl_->mutex);
    impl_->cv.wait(lock, [&] { return impl_->queue.size() < 4 || impl_->error; });
    if (impl_->error) std::rethrow_exception(impl_->error);
    impl_->queue.push_back(std::move(impl_->pending));
  }
  impl_->pending.clear();
  impl_->cv.notify_all();
}

OutputSink::OutputSink(const std::string& path, bool gzip, int gzip_level) : impl_(std::make_unique<Impl>()), path_(path) {
  impl_->sha = EVP_MD_CTX_new();
  EVP_DigestInit_ex(impl_->sha, EVP_sha256(), nullptr);
  if (gzip) {
    impl_->gzip = true;
    // windowBits 15 + 16 asks zlib for a gzip wrapper, which S3/Redshift/gunzip all read.
    if (deflateInit2(&impl_->zs, gzip_level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
      throw Error(ExitCode::other, "zlib: deflateInit2 failed");
  }
  if (path == "-") {
    to_stdout_ = true;
    f_ = stdout;
    if (gzip) impl_->worker = std::thread([this] { compressor_loop(); });
    return;
  }
  std::filesystem::path p(path);
  std::filesystem::path dir = p.parent_path().empty() ? "." : p.parent_path();
  std::random_device rd;
  tmp_path_ = (dir / fmt::format(".{}.tmp-{}-{:x}", p.filename().string(), getpid(), rd())).string();
  int fd = ::open(tmp_path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) throw UsageError(fmt::format("{}: cannot create file in {}: {}", path, dir.string(), std::strerror(errno)));
  f_ = fdopen(fd, "wb");
  impl_->buffer.resize(1 << 16);  // each sink its own: two open sinks must never share a stdio buffer
  setvbuf(f_, impl_->buffer.data(), _IOFBF, impl_->buffer.size());
  if (gzip) impl_->worker = std::thread([this] { compressor_loop(); });
}

OutputSink::~OutputSink() {
  impl_->stop();  // before closing the file the worker writes to
  if (!to_stdout_ && !committed_) {
    if (f_) std::fclose(f_);
    ::unlink(tmp_path_.c_str());
  }
}

void OutputSink::raw_write(const char* data, std::size_t n) {
  if (n == 0) return;
  if (std::fwrite(data, 1, n, f_) != n)
    throw Error(ExitCode::other, fmt::format("{}: write failed: {}", to_stdout_ ? "<stdout>" : path_, std::strerror(errno)));
  EVP_DigestUpdate(impl_->sha, data, n);
  bytes_out_ += n;
}

void OutputSink::write(std::string_view data) {
  bytes_in_ += data.size();
  if (!impl_->gzip) {
    raw_write(data.data(), data.size());
    return;
  }
  impl_->pending.append(data);
  if (impl_->pending.size() >= (1u << 20)) submit_pending();
}

void OutputSink::commit() {
  if (impl_->gzip) {
    submit_pending();
    impl_->stop();  // the worker drains the queue and finishes the gzip stream
    impl_->rethrow();
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  EVP_DigestFinal_ex(impl_->sha, md, &md_len);
  sha256_hex_.clear();
  for (unsigned i = 0; i < md_len; ++i) sha256_hex_ += fmt::format("{:02x}", md[i]);
  const char* name = to_stdout_ ? "<stdout>" : path_.c_str();
  if (std::fflush(f_) != 0) throw Error(ExitCode::other, fmt::format("{}: write failed: {}", name, std::strerror(errno)));
  if (to_stdout_) {
    committed_ = true;
    return;
  }
  if (::fsync(fileno(f_)) != 0)
    throw Error(ExitCode::other, fmt::format("{}: fsync failed: {}", path_, std::strerror(errno)));
  if (std::fclose(f_) != 0) {
    f_ = nullptr;
    throw Error(ExitCode::other, fmt::format("{}: close failed: {}", path_, std::strerror(errno)));
  }
  f_ = nullptr;
  if (std::rename(tmp_path_.c_str(), path_.c_str()) != 0)
    throw Error(ExitCode::other, fmt::format("{}: rename failed: {}", path_, std::strerror(errno)));
  committed_ = true;
}

}  // namespace cryptopipe
