// cryptopipe load-postgres: canonical CSV → PostgreSQL, idempotently (COPY to a stage, then one upsert).
#include <cerrno>
#include <cstdio>
#include <cstring>

#include <fmt/format.h>

#include "command.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "pg/loader.hpp"

namespace cryptopipe::cli {
namespace {

class LoadPostgres final : public Command {
 public:
  void declare(cxxopts::Options& o) override {
    o.add_options()("i,input", "canonical CSV, - for stdin", cxxopts::value<std::string>()->default_value("-"))(
        "dsn", "libpq conninfo or URI (default: PG* environment variables)",
        cxxopts::value<std::string>()->default_value(""))(
        "table", "target table", cxxopts::value<std::string>()->default_value("ohlcv"))(
        "schema", "target schema", cxxopts::value<std::string>()->default_value("public"))(
        "create-only", "only create the table if it is missing");
  }

  void setup(const cxxopts::ParseResult& a) override {
    input_ = a["input"].as<std::string>();
    dsn_ = a["dsn"].as<std::string>();
    table_ = make_table_name(a["schema"].as<std::string>(), a["table"].as<std::string>());
    create_only_ = a.count("create-only") > 0;
  }

  int run() override {
    std::FILE* in = stdin;
    std::string in_name = "<stdin>";
    if (!create_only_ && input_ != "-") {
      in = std::fopen(input_.c_str(), "rb");
      if (!in) throw UsageError(fmt::format("{}: cannot open: {}", input_, std::strerror(errno)));
      in_name = input_;
    }
    PgConnection db(dsn_);
    ensure_table(db, table_);
    if (create_only_) {
      log::info("{}: table {} is ready", db.describe(), table_.shown());
      return 0;
    }
    MergeCounts c;
    try {
      c = load_canonical_csv(db, table_, in, in_name);
    } catch (...) {
      if (in != stdin) std::fclose(in);
      throw;
    }
    if (in != stdin) std::fclose(in);
    std::printf("inserted %lld, updated %lld, unchanged %lld\n", static_cast<long long>(c.inserted),
                static_cast<long long>(c.updated), static_cast<long long>(c.unchanged));
    return 0;
  }

 private:
  std::string input_, dsn_;
  TableName table_;
  bool create_only_ = false;
};

}  // namespace

std::unique_ptr<Command> make_load_postgres() { return std::make_unique<LoadPostgres>(); }

}  // namespace cryptopipe::cli
