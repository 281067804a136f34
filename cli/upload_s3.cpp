// Placeholder until the daily leg lands (issue "daily leg"): registered so --help lists it.
#include "command.hpp"
#include "core/error.hpp"

namespace cryptopipe::cli {
namespace {
class NotYet final : public Command {
 public:
  void declare(cxxopts::Options& options) override { options.allow_unrecognised_options(); }
  void setup(const cxxopts::ParseResult&) override {}
  int run() override { throw UsageError("not yet implemented"); }
};
}  // namespace

std::unique_ptr<Command> make_upload_s3() { return std::make_unique<NotYet>(); }

}  // namespace cryptopipe::cli
