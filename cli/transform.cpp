// cryptopipe transform: extract's raw pages → validated, sorted, de-duplicated canonical candle CSV.
#include "command.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "io/files.hpp"
#include "pipeline/transform.hpp"

namespace cryptopipe::cli {
namespace {

class Transform final : public Command {
 public:
  void declare(cxxopts::Options& o) override {
    o.add_options()("i,input", "extract output (JSON lines), - for stdin",
                    cxxopts::value<std::string>()->default_value("-"))(
        "o,output", "canonical CSV, - for stdout", cxxopts::value<std::string>()->default_value("-"))(
        "rejects", "write rejected candles here (JSON lines: file, line, reason, candle)",
        cxxopts::value<std::string>())(
        "max-rejects", "fail (exit 3) when more candles than this are rejected",
        cxxopts::value<std::int64_t>()->default_value("0"));
  }

  void setup(const cxxopts::ParseResult& a) override {
    input_ = a["input"].as<std::string>();
    output_ = a["output"].as<std::string>();
    if (a.count("rejects")) rejects_ = a["rejects"].as<std::string>();
    options_.max_rejects = a["max-rejects"].as<std::int64_t>();
    if (options_.max_rejects < 0) throw UsageError("--max-rejects: must be >= 0");
  }

  int run() override {
    LineReader in(input_);
    OutputSink out(output_);
    std::unique_ptr<OutputSink> rejects;
    if (!rejects_.empty()) rejects = std::make_unique<OutputSink>(rejects_);
    TransformStats stats;
    try {
      stats = run_transform(in, out, rejects.get(), options_);
    } catch (const BadDataError&) {
      // The rejects explain the failure: keep them even though the output is discarded.
      if (rejects) rejects->commit();
      throw;
    }
    out.commit();
    if (rejects) rejects->commit();
    log::info("{} lines, {} candles, {} rows written, {} duplicates dropped, {} outside the window or still open, {} rejected",
              stats.lines, stats.candles, stats.rows, stats.duplicates, stats.outside_window, stats.rejects);
    return 0;
  }

 private:
  std::string input_, output_, rejects_;
  TransformOptions options_;
};

}  // namespace

std::unique_ptr<Command> make_transform() { return std::make_unique<Transform>(); }

}  // namespace cryptopipe::cli
