#pragma once
// Golden-file comparison for unit tests: tests/golden/<name> must equal `actual` byte for byte.
// CRYPTOPIPE_UPDATE_GOLDEN=1 rewrites the files instead (review the diff before committing).
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace cryptopipe::testing {

inline void expect_golden(const std::string& name, const std::string& actual) {
  const std::string path = std::string(CRYPTOPIPE_GOLDEN_DIR) + "/" + name;
  if (const char* update = std::getenv("CRYPTOPIPE_UPDATE_GOLDEN"); update && std::string(update) == "1") {
    std::ofstream(path, std::ios::binary) << actual;
    return;
  }
  std::ifstream in(path, std::ios::binary);
  ASSERT_TRUE(in.good()) << "missing golden file " << path << " (run with CRYPTOPIPE_UPDATE_GOLDEN=1)";
  std::stringstream expected;
  expected << in.rdbuf();
  EXPECT_EQ(expected.str(), actual) << "golden file " << path << " differs";
}

}  // namespace cryptopipe::testing
