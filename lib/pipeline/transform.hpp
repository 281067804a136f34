#pragma once
#include <cstdint>

#include "io/files.hpp"

namespace cryptopipe {

struct TransformOptions {
  std::int64_t max_rejects = 0;
  std::size_t spill_bytes = 16u << 20;  // rows held in memory before a sorted run is spilled to a temp file
};

struct TransformStats {
  std::size_t lines = 0;
  std::size_t candles = 0;     // valid candles seen (before de-duplication)
  std::size_t rows = 0;        // rows written
  std::size_t duplicates = 0;  // superseded by a later copy of the same key
  std::size_t outside_window = 0;
  std::size_t rejects = 0;
};

/// Reads extract's JSON lines from `in`, writes canonical CSV (header, sorted, de-duplicated keeping the last) to
/// `out` and each rejected candle as a JSON line to `rejects` (may be null). Memory is bounded by spill_bytes:
/// larger inputs are sorted in runs on disk and merged. Throws BadDataError naming the line for malformed input
/// or when rejects exceed max_rejects. Does not commit `out`.
TransformStats run_transform(LineReader& in, OutputSink& out, OutputSink* rejects, const TransformOptions& options);

}  // namespace cryptopipe
