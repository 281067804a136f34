// cryptopipe: the driver. Parses the subcommand name, runs it, and maps errors to exit codes in one place.
#include <csignal>
#include <cstdio>
#include <iostream>
#include <string>
#include <string_view>

#include "command.hpp"
#include "core/error.hpp"
#include "core/log.hpp"

using namespace cryptopipe;

namespace {

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

void print_usage(std::FILE* out) {
  std::fprintf(out,
               "cryptopipe %s: crypto OHLCV candles from exchange APIs to PostgreSQL, S3 and Redshift\n\n"
               "usage: cryptopipe <command> [options]     (cryptopipe <command> --help for its options)\n\n"
               "commands:\n",
               CRYPTOPIPE_VERSION);
  for (const auto& c : cli::commands()) std::fprintf(out, "  %-15s %s\n", c.name, c.summary);
  std::fprintf(out,
               "\nThe 5-minute leg: cryptopipe extract ... | cryptopipe transform | cryptopipe load-postgres\n"
               "The daily leg:    cryptopipe export-csv ... ; cryptopipe upload-s3 ... ; cryptopipe copy-redshift ...\n\n%s",
               cli::kExitCodesHelp);
}

int fail(std::string_view command, ExitCode code, std::string_view message) {
  std::fprintf(stderr, "cryptopipe: error: %.*s%s%.*s\n", static_cast<int>(command.size()), command.data(),
               command.empty() ? "" : ": ", static_cast<int>(message.size()), message.data());
  return static_cast<int>(code);
}

}  // namespace

int main(int argc, char** argv) {
  // A closed downstream pipe must surface as a write error, not kill us silently mid-transaction.
  std::signal(SIGPIPE, SIG_IGN);
  if (argc < 2) {
    print_usage(stderr);
    return static_cast<int>(ExitCode::usage);
  }
  std::string name = argv[1];
  if (name == "-h" || name == "--help" || name == "help") {
    print_usage(stdout);
    return 0;
  }
  if (name == "--version" || name == "-V") {
    std::printf("cryptopipe %s\n", CRYPTOPIPE_VERSION);
    return 0;
  }
  const cli::CommandInfo* found = nullptr;
  for (const auto& c : cli::commands())
    if (name == c.name) found = &c;
  if (!found) {
    const cli::CommandInfo* nearest = nullptr;
    std::size_t best = 4;
    for (const auto& c : cli::commands()) {
      std::size_t d = edit_distance(name, c.name);
      if (d < best || (std::string_view(c.name).rfind(name, 0) == 0 && !name.empty() && name[0] != '-')) {
        best = std::min(d, best);
        nearest = &c;
      }
    }
    std::string msg = "unknown command \"" + name + "\"";
    if (nearest) msg += std::string("; did you mean \"") + nearest->name + "\"?";
    msg += " (cryptopipe --help lists commands)";
    return fail("", ExitCode::usage, msg);
  }
  try {
    return cli::dispatch(*found, argc - 1, argv + 1);
  } catch (const Error& e) {
    return fail(found->name, e.code(), e.what());
  } catch (const std::exception& e) {
    return fail(found->name, ExitCode::other, e.what());
  }
}
