// libFuzzer target: run_transform on an in-memory extract file (the input bytes, usually one JSON line). It may
// only succeed or throw a cryptopipe::Error; the CSV it writes must start with the canonical header.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "candle/candle.hpp"
#include "core/error.hpp"
#include "io/files.hpp"
#include "pipeline/transform.hpp"

namespace {
std::string scratch_dir() {
  static std::string dir = [] {
    // tmpfs when there is one: every run writes the input and the (never committed) outputs
    char shm[] = "/dev/shm/fuzz_transform_XXXXXX";
    char tmp[] = "/tmp/fuzz_transform_XXXXXX";
    char* d = ::mkdtemp(shm);
    if (!d) d = ::mkdtemp(tmp);
    if (!d) std::abort();
    return std::string(d);
  }();
  return dir;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace cryptopipe;
  const std::string dir = scratch_dir();
  const std::string in_path = dir + "/in.jsonl";
  std::FILE* f = std::fopen(in_path.c_str(), "wb");
  if (!f) std::abort();
  if (size && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
  try {
    LineReader in(in_path);
    // Never committed: the sink removes its temp file when destroyed.
    OutputSink out(dir + "/out.csv");
    OutputSink rejects(dir + "/rejects.jsonl");
    TransformOptions options;
    options.max_rejects = 1000;
    options.spill_bytes = 4096;  // small, so the spill-and-merge path is exercised too
    TransformStats stats = run_transform(in, out, &rejects, options);
    if (out.bytes_in() < kCanonicalHeader.size() + 1) std::abort();
    if (stats.rows > stats.candles) std::abort();
  } catch (const Error&) {
    // BadDataError etc.: the documented failure
  }
  return 0;
}
