#pragma once
// Every subcommand has the same two steps: setup() parses and validates (opens nothing, touches no network),
// run() does the work by calling lib/. One table (command.cpp) registers them all and drives --help.
#include <cxxopts.hpp>

#include <memory>
#include <string>
#include <vector>

namespace cryptopipe::cli {

class Command {
 public:
  virtual ~Command() = default;
  /// Declares the subcommand's options on `options` (common options are added by the driver).
  virtual void declare(cxxopts::Options& options) = 0;
  /// Validates parsed options; throws UsageError. Must not open files, connections or sockets.
  virtual void setup(const cxxopts::ParseResult& args) = 0;
  /// Does the work; returns the exit code (0) or throws a cryptopipe::Error.
  virtual int run() = 0;
};

struct CommandInfo {
  const char* name;
  const char* summary;
  std::unique_ptr<Command> (*make)();
};

/// The registry of all subcommands, in pipeline order.
const std::vector<CommandInfo>& commands();

/// Parses argv for `info` and runs it; returns the process exit code.
int dispatch(const CommandInfo& info, int argc, char** argv);

/// The exit-code table printed in every --help.
extern const char* const kExitCodesHelp;

std::unique_ptr<Command> make_extract();
std::unique_ptr<Command> make_transform();
std::unique_ptr<Command> make_load_postgres();
std::unique_ptr<Command> make_export_csv();
std::unique_ptr<Command> make_upload_s3();
std::unique_ptr<Command> make_copy_redshift();

/// Reads an option that must be present; throws UsageError "--name: required".
std::string required(const cxxopts::ParseResult& args, const std::string& name);

}  // namespace cryptopipe::cli
