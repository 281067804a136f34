#include "s3/local_lake.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <random>

#include "core/error.hpp"
#include "s3/sigv4.hpp"

namespace cryptopipe {
namespace {

std::string errno_text() { return std::strerror(errno); }

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

void write_all(int fd, const char* p, std::size_t n, const std::string& what) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      throw Error(ExitCode::other, what + ": write: " + errno_text());
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

void fsync_dir(const std::string& dir) {
  Fd d;
  d.fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (d.fd >= 0) ::fsync(d.fd);
}

}  // namespace

PutResult LocalLake::put_file(const std::string& local_path, const ObjectUri& dest, const PutOptions& options) {
  namespace fs = std::filesystem;
  const std::string where = dest.str();
  Fd in;
  in.fd = ::open(local_path.c_str(), O_RDONLY);
  if (in.fd < 0) throw UsageError(local_path + ": " + errno_text());
  const fs::path target(dest.key);
  std::error_code ec;
  fs::create_directories(target.parent_path(), ec);
  if (ec) throw Error(ExitCode::other, where + ": creating " + target.parent_path().string() + ": " + ec.message());
  if (options.no_overwrite && fs::exists(target))
    throw RemoteRefusedError(where + ": object already exists (--no-overwrite)");

  std::string tmp = target.parent_path() / fmt::format(".{}.tmp-{}", target.filename().string(),
                                                       std::random_device{}());
  Fd out;
  out.fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
  if (out.fd < 0) throw Error(ExitCode::other, where + ": " + tmp + ": " + errno_text());
  PutResult result;
  result.uri = where;
  try {
    EVP_MD_CTX* md5 = EVP_MD_CTX_new();
    EVP_DigestInit_ex(md5, EVP_md5(), nullptr);
    std::string buf(1 << 20, '\0');
    for (;;) {
      if (object_store_cancel_flag().load()) {
        EVP_MD_CTX_free(md5);
        throw Error(ExitCode::other, where + ": interrupted by signal");
      }
      ssize_t r = ::read(in.fd, buf.data(), buf.size());
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) {
        EVP_MD_CTX_free(md5);
        throw Error(ExitCode::other, local_path + ": read: " + errno_text());
      }
      if (r == 0) break;
      EVP_DigestUpdate(md5, buf.data(), static_cast<std::size_t>(r));
      write_all(out.fd, buf.data(), static_cast<std::size_t>(r), where);
      result.size += static_cast<std::uint64_t>(r);
    }
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(md5, digest, &len);
    EVP_MD_CTX_free(md5);
    static const char* hexd = "0123456789abcdef";
    for (unsigned i = 0; i < len; ++i) {
      result.etag.push_back(hexd[digest[i] >> 4]);
      result.etag.push_back(hexd[digest[i] & 15]);
    }
    if (::fsync(out.fd) != 0) throw Error(ExitCode::other, where + ": fsync: " + errno_text());
    ::close(out.fd);
    out.fd = -1;
    if (options.no_overwrite) {
      // link() fails if the name exists: no window in which a concurrent writer could be overwritten.
      if (::link(tmp.c_str(), dest.key.c_str()) != 0) {
        int e = errno;
        ::unlink(tmp.c_str());
        if (e == EEXIST) throw RemoteRefusedError(where + ": object already exists (--no-overwrite)");
        throw Error(ExitCode::other, where + ": link: " + std::strerror(e));
      }
      ::unlink(tmp.c_str());
    } else if (::rename(tmp.c_str(), dest.key.c_str()) != 0) {
      throw Error(ExitCode::other, where + ": rename: " + errno_text());
    }
    fsync_dir(target.parent_path().string());
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
  return result;
}

std::uint64_t LocalLake::get_object(const ObjectUri& src, const std::function<void(std::string_view)>& sink) {
  Fd in;
  in.fd = ::open(src.key.c_str(), O_RDONLY);
  if (in.fd < 0) {
    if (errno == ENOENT) throw RemoteRefusedError(src.str() + ": no such object");
    throw RemoteRefusedError(src.str() + ": " + errno_text());
  }
  std::string buf(1 << 20, '\0');
  std::uint64_t total = 0;
  for (;;) {
    ssize_t r = ::read(in.fd, buf.data(), buf.size());
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) throw Error(ExitCode::other, src.str() + ": read: " + errno_text());
    if (r == 0) break;
    sink(std::string_view(buf.data(), static_cast<std::size_t>(r)));
    total += static_cast<std::uint64_t>(r);
  }
  return total;
}

bool LocalLake::exists(const ObjectUri& uri) {
  struct stat st {};
  return ::stat(uri.key.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

}  // namespace cryptopipe
