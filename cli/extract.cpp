// cryptopipe extract: raw OHLCV pages from an exchange API into the raw zone (JSON lines).
#include <cstdlib>

#include "command.hpp"
#include "core/clock.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "http/http.hpp"
#include "io/files.hpp"
#include "options.hpp"
#include "pipeline/extract.hpp"

namespace cryptopipe::cli {
namespace {

class Extract final : public Command {
 public:
  void declare(cxxopts::Options& o) override {
    o.add_options()("provider", "coinapi or bitstamp (CoinAPI reads its key from env COINAPI_KEY)",
                    cxxopts::value<std::string>())(
        "symbol", "symbol id, e.g. BITSTAMP_SPOT_BTC_USD", cxxopts::value<std::string>())(
        "period", "1MIN 5MIN 15MIN 1HRS 1DAY", cxxopts::value<std::string>()->default_value("5MIN"))(
        "start", "window start, inclusive (RFC 3339 or YYYY-MM-DD)", cxxopts::value<std::string>())(
        "end", "window end, exclusive", cxxopts::value<std::string>())(
        "api-base", "API base URL (default: the real API; env CRYPTOPIPE_API_BASE)", cxxopts::value<std::string>())(
        "include-open", "also emit the period still in progress")(
        "max-attempts", "HTTP attempts per page", cxxopts::value<int>()->default_value("6"))(
        "deadline", "total seconds for retries of one page", cxxopts::value<int>()->default_value("300"))(
        "connect-timeout", "connect timeout, seconds", cxxopts::value<int>()->default_value("10"))(
        "timeout", "timeout of one request, seconds", cxxopts::value<int>()->default_value("60"))(
        "ca-file", "CA bundle for TLS verification (env CURL_CA_BUNDLE)", cxxopts::value<std::string>())(
        "o,output", "output file, - for stdout", cxxopts::value<std::string>()->default_value("-"));
  }

  void setup(const cxxopts::ParseResult& a) override {
    options_.provider = &provider_by_name(required(a, "provider"));
    options_.window.symbol_id = required(a, "symbol");
    options_.window.period = period_from_id(a["period"].as<std::string>());
    options_.window.start = parse_time_flag("start", required(a, "start"));
    options_.window.end = parse_time_flag("end", required(a, "end"));
    if (options_.window.end <= options_.window.start) throw UsageError("--end: must be after --start");
    const std::int64_t step = options_.window.period.seconds * 1000000;
    if (options_.window.start % step != 0 || options_.window.end % step != 0)
      throw UsageError("--start/--end: must be aligned to the " + options_.window.period.id + " period");
    options_.provider->validate(options_.window);
    const char* env_base = std::getenv("CRYPTOPIPE_API_BASE");
    options_.base_url = a.count("api-base")                 ? a["api-base"].as<std::string>()
                        : (env_base && *env_base)           ? std::string(env_base)
                                                            : options_.provider->default_base_url();
    while (!options_.base_url.empty() && options_.base_url.back() == '/') options_.base_url.pop_back();
    options_.include_open = a.count("include-open") > 0;
    options_.retry.max_attempts = a["max-attempts"].as<int>();
    if (options_.retry.max_attempts < 1) throw UsageError("--max-attempts: must be at least 1");
    options_.retry.deadline = std::chrono::seconds(a["deadline"].as<int>());
    curl_.connect_timeout_ms = a["connect-timeout"].as<int>() * 1000L;
    curl_.total_timeout_ms = a["timeout"].as<int>() * 1000L;
    if (a.count("ca-file")) curl_.ca_file = a["ca-file"].as<std::string>();
    output_ = a["output"].as<std::string>();
  }

  int run() override {
    CurlHttpClient http(curl_);
    OutputSink out(output_);
    auto stats = run_extract(options_, http, system_clock(), [&](std::string_view line) { out.write(line); });
    out.commit();
    log::info("{} {}: {} pages, {} candles", options_.provider->name(), options_.window.symbol_id, stats.pages,
              stats.candles);
    return 0;
  }

 private:
  ExtractOptions options_;
  CurlOptions curl_;
  std::string output_;
};

}  // namespace

std::unique_ptr<Command> make_extract() { return std::make_unique<Extract>(); }

}  // namespace cryptopipe::cli
