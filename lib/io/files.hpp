#pragma once
// Files in and out: "-" means stdin/stdout so the subcommands compose with pipes; real files are written
// atomically (temp file in the target directory, fsync, rename) so a failure never leaves a partial file.
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>

namespace cryptopipe {

/// Reads lines of any length from a file or stdin ("-"). Throws UsageError if the file cannot be opened.
class LineReader {
 public:
  explicit LineReader(const std::string& path);
  ~LineReader();
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;
  /// Reads the next line without its "\n" (a trailing "\r" is kept); false at end of input.
  bool next(std::string& line);
  /// Like next(std::string&) but without a copy: `data` points at the line in the reader's own buffer,
  /// NUL-terminated and writable (for in-situ parsing), valid until the next call.
  bool next(char*& data, std::size_t& size);
  /// 1-based number of the line last returned.
  std::size_t line_number() const { return line_no_; }
  /// Byte offset of the start of the line last returned.
  std::size_t line_offset() const { return line_offset_; }
  const std::string& name() const { return name_; }
  /// The underlying stream, for readers that parse it directly (do not mix with next()).
  std::FILE* file() const { return f_; }

 private:
  std::FILE* f_;
  bool owned_;
  char* buf_ = nullptr;
  std::size_t cap_ = 0;
  std::string name_;
  std::size_t line_no_ = 0, line_offset_ = 0, offset_ = 0;
};

/// Writes bytes to stdout ("-") or atomically to a file, optionally gzip-compressed (zlib, level 6).
/// Nothing is visible under `path` until commit(); destroying an uncommitted sink removes the temp file.
class OutputSink {
 public:
  OutputSink(const std::string& path, bool gzip = false, int gzip_level = 6);
  ~OutputSink();
  OutputSink(const OutputSink&) = delete;
  OutputSink& operator=(const OutputSink&) = delete;
  void write(std::string_view data);
  /// Flushes, fsyncs and renames into place. Throws Error on any I/O failure (disk full, read-only dir).
  void commit();
  /// Uncompressed bytes written so far.
  std::uint64_t bytes_in() const { return bytes_in_; }
  /// Bytes that reached the file (compressed size when gzip).
  std::uint64_t bytes_out() const { return bytes_out_; }
  /// Lower-case hex SHA-256 of the bytes that reached the file (valid after commit()).
  const std::string& sha256_hex() const { return sha256_hex_; }
  const std::string& path() const { return path_; }

 private:
  void raw_write(const char* data, std::size_t n);
  void compress(std::string_view data, int flush);
  void compressor_loop();
  void submit_pending();
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string path_, tmp_path_;
  std::FILE* f_ = nullptr;
  bool to_stdout_ = false, committed_ = false;
  std::uint64_t bytes_in_ = 0, bytes_out_ = 0;
  std::string sha256_hex_;
};

}  // namespace cryptopipe
