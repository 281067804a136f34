#include "command.hpp"

#include <cstdio>
#include <iostream>

#include "core/error.hpp"
#include "core/log.hpp"

namespace cryptopipe::cli {

const char* const kExitCodesHelp =
    "Exit codes: 0 ok, 1 other error, 2 usage/config error, 3 bad input data, 4 remote refused (auth, 4xx),\n"
    "            5 transient failure after retries (network, 5xx, 429: retry later).\n";

const std::vector<CommandInfo>& commands() {
  static const std::vector<CommandInfo> table = {
      {"extract", "fetch raw OHLCV pages from an exchange API (JSON lines)", make_extract},
      {"transform", "turn extract's raw pages into canonical candle CSV", make_transform},
      {"load-postgres", "upsert canonical CSV into a PostgreSQL table in one transaction", make_load_postgres},
      {"export-csv", "export a UTC day or window from PostgreSQL to (gzip) canonical CSV", make_export_csv},
      {"upload-s3", "upload a file to S3 (SigV4, multipart) or a file:// lake", make_upload_s3},
      {"copy-redshift", "COPY an S3 export into Redshift (or PostgreSQL) and merge it", make_copy_redshift},
  };
  return table;
}

std::string required(const cxxopts::ParseResult& args, const std::string& name) {
  if (!args.count(name)) throw UsageError("--" + name + ": required");
  return args[name].as<std::string>();
}

int dispatch(const CommandInfo& info, int argc, char** argv) {
  log::set_command(info.name);
  auto command = info.make();
  cxxopts::Options options(std::string("cryptopipe ") + info.name, info.summary);
  options.add_options("Common")("h,help", "show this help")(
      "log-format", "log format on stderr: text or json", cxxopts::value<std::string>()->default_value("text"))(
      "v,verbose", "log debug detail");
  command->declare(options);
  options.custom_help("[options]");
  cxxopts::ParseResult args;
  try {
    args = options.parse(argc, argv);
  } catch (const cxxopts::exceptions::exception& e) {
    throw UsageError(e.what());
  }
  if (args.count("help")) {
    std::cout << options.help() << "\n" << kExitCodesHelp;
    return 0;
  }
  std::string format = args["log-format"].as<std::string>();
  if (format != "text" && format != "json") throw UsageError("--log-format: must be text or json");
  log::configure(format == "json" ? log::Format::json : log::Format::text,
                 args.count("verbose") ? log::Level::debug : log::Level::info);
  command->setup(args);
  return command->run();
}

}  // namespace cryptopipe::cli
