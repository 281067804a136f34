#include "pipeline/transform.hpp"

#include <fmt/format.h>
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <queue>

#include "candle/candle.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "providers/provider.hpp"

namespace cryptopipe {
namespace {

/// The sort key of a canonical row is its text up to the third comma: symbol_id, period_id and the start
/// timestamp, whose fixed-width text sorts chronologically, and ',' sorts below every id character.
std::string_view row_key(std::string_view row) {
  std::size_t pos = 0;
  for (int i = 0; i < 3; ++i) pos = row.find(',', pos) + 1;
  return row.substr(0, pos - 1);
}

/// Rows in input order; sorted and de-duplicated in memory, spilled to sorted temp files when large.
class RowSorter {
 public:
  explicit RowSorter(std::size_t spill_bytes) : spill_bytes_(spill_bytes) {}
  ~RowSorter() {
    for (auto* f : runs_) std::fclose(f);
  }

  void add(const std::string& row) {
    offsets_.push_back({arena_.size(), row.size()});
    arena_ += row;
    if (arena_.size() >= spill_bytes_) spill();
  }

  /// Writes all rows in key order, keeping the last of each key; returns {rows written, duplicates dropped}.
  std::pair<std::size_t, std::size_t> drain(OutputSink& out) {
    std::size_t written = 0, dropped = 0;
    if (runs_.empty()) {
      for_each_sorted_unique([&](std::string_view row) {
        out.write(row);
        ++written;
      }, dropped);
      return {written, dropped};
    }
    spill();
    merge_runs(out, written, dropped);
    return {written, dropped};
  }

 private:
  struct Slice {
    std::size_t off, len;
  };

  template <typename F>
  void for_each_sorted_unique(F&& f, std::size_t& dropped) {
    std::vector<std::uint32_t> order(offsets_.size());
    for (std::uint32_t i = 0; i < order.size(); ++i) order[i] = i;
    auto key = [&](std::uint32_t i) { return row_key(std::string_view(arena_).substr(offsets_[i].off, offsets_[i].len)); };
    std::stable_sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) { return key(a) < key(b); });
    for (std::size_t i = 0; i < order.size(); ++i) {
      // Equal keys are adjacent in input order after a stable sort: only the last one survives.
      if (i + 1 < order.size() && key(order[i]) == key(order[i + 1])) {
        ++dropped;
        continue;
      }
      f(std::string_view(arena_).substr(offsets_[order[i]].off, offsets_[order[i]].len));
    }
  }

  void spill() {
    if (offsets_.empty()) return;
    std::FILE* f = std::tmpfile();
    if (!f) throw Error(ExitCode::other, fmt::format("transform: cannot create a temp file for sorting: {}", std::strerror(errno)));
    runs_.push_back(f);
    for_each_sorted_unique([&](std::string_view row) {
      if (std::fwrite(row.data(), 1, row.size(), f) != row.size())
        throw Error(ExitCode::other, fmt::format("transform: temp file write failed: {}", std::strerror(errno)));
    }, spilled_dropped_);
    if (std::fflush(f) != 0) throw Error(ExitCode::other, "transform: temp file write failed");
    std::rewind(f);
    arena_.clear();
    offsets_.clear();
  }

  void merge_runs(OutputSink& out, std::size_t& written, std::size_t& dropped) {
    struct Head {
      std::string row;
      std::size_t run;
    };
    std::vector<Head> heads(runs_.size());
    std::vector<char*> bufs(runs_.size(), nullptr);
    std::vector<std::size_t> caps(runs_.size(), 0);
    auto advance = [&](std::size_t r) {
      ssize_t n = ::getline(&bufs[r], &caps[r], runs_[r]);
      if (n <= 0) return false;
      heads[r].row.assign(bufs[r], static_cast<std::size_t>(n));
      heads[r].run = r;
      return true;
    };
    // Min-heap on key; for equal keys the later run (later input) pops first and wins.
    auto cmp = [&](std::size_t a, std::size_t b) {
      auto ka = row_key(heads[a].row), kb = row_key(heads[b].row);
      if (ka != kb) return ka > kb;
      return heads[a].run < heads[b].run;
    };
    std::priority_queue<std::size_t, std::vector<std::size_t>, decltype(cmp)> pq(cmp);
    for (std::size_t r = 0; r < runs_.size(); ++r)
      if (advance(r)) pq.push(r);
    std::string last_key;
    bool have_last = false;
    while (!pq.empty()) {
      std::size_t r = pq.top();
      pq.pop();
      std::string_view key = row_key(heads[r].row);
      if (have_last && key == last_key) {
        ++dropped;
      } else {
        out.write(heads[r].row);
        ++written;
        last_key.assign(key);
        have_last = true;
      }
      if (advance(r)) pq.push(r);
    }
    for (char* b : bufs) std::free(b);
    dropped += spilled_dropped_;
  }

  std::size_t spill_bytes_;
  std::string arena_;
  std::vector<Slice> offsets_;
  std::vector<std::FILE*> runs_;
  std::size_t spilled_dropped_ = 0;
};

std::string string_member(const rapidjson::Value& obj, const char* name) {
  auto it = obj.FindMember(name);
  if (it == obj.MemberEnd() || !it->value.IsString()) return {};
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

std::string to_json(const rapidjson::Value& v) {
  // Parsed with numbers as strings, so numbers show quoted here: the exact text sent, which is what a reader needs.
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  v.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

}  // namespace

TransformStats run_transform(LineReader& in, OutputSink& out, OutputSink* rejects, const TransformOptions& options) {
  TransformStats stats;
  RowSorter sorter(options.spill_bytes);
  std::string line, row;
  while (in.next(line)) {
    ++stats.lines;
    if (line.empty() || (line.size() == 1 && line[0] == '\r')) continue;
    const std::string where = fmt::format("{}: line {}", in.name(), in.line_number());
    rapidjson::Document doc;
    doc.ParseInsitu<rapidjson::kParseNumbersAsStringsFlag | rapidjson::kParseValidateEncodingFlag |
                    rapidjson::kParseStopWhenDoneFlag>(line.data());
    if (doc.HasParseError())
      throw BadDataError(fmt::format("{}, byte offset {}: malformed JSON: {}", where,
                                     in.line_offset() + doc.GetErrorOffset(), rapidjson::GetParseError_En(doc.GetParseError())));
    if (!doc.IsObject()) throw BadDataError(where + ": expected a JSON object from cryptopipe extract");
    const std::string provider_name = string_member(doc, "provider");
    if (provider_name.empty()) throw BadDataError(where + ": field \"provider\": missing");
    const Provider* provider;
    try {
      provider = &provider_by_name(provider_name);
    } catch (const UsageError& e) {
      throw BadDataError(where + ": field \"provider\": " + e.what());
    }
    const std::string symbol_id = string_member(doc, "symbol_id");
    if (symbol_id.empty()) throw BadDataError(where + ": field \"symbol_id\": missing");
    Period period;
    try {
      period = period_from_id(string_member(doc, "period_id"));
    } catch (const UsageError& e) {
      throw BadDataError(where + ": field \"period_id\": " + e.what());
    }
    auto body = doc.FindMember("body");
    if (body == doc.MemberEnd()) throw BadDataError(where + ": field \"body\": missing");
    auto window_start = parse_timestamp(string_member(doc, "window_start"));
    auto window_end = parse_timestamp(string_member(doc, "window_end"));
    auto fetched_at = parse_timestamp(string_member(doc, "fetched_at"));
    auto include_open_it = doc.FindMember("include_open");
    bool include_open = include_open_it != doc.MemberEnd() && include_open_it->value.IsTrue();
    ParsedPage page;
    try {
      page = provider->parse_page(body->value, symbol_id, period);
    } catch (const BadDataError& e) {
      throw BadDataError(where + ": field \"body\": " + e.what());
    }
    for (const auto& r : page.rejects) {
      ++stats.rejects;
      if (rejects)
        rejects->write(fmt::format(R"({{"file":"{}","line":{},"reason":"{}","candle":{}}})"
                                   "\n",
                                   log::json_escape(in.name()), in.line_number(), log::json_escape(r.reason),
                                   to_json(*r.raw)));
      if (static_cast<std::int64_t>(stats.rejects) > options.max_rejects)
        throw BadDataError(fmt::format("{}: candle rejected ({}); more than --max-rejects {} rejects", where, r.reason,
                                       options.max_rejects));
    }
    for (const auto& c : page.candles) {
      ++stats.candles;
      bool in_window = (!window_start || c.time_period_start >= *window_start) &&
                       (!window_end || c.time_period_start < *window_end);
      bool closed = include_open || !fetched_at || c.time_period_end <= *fetched_at;
      if (!in_window || !closed) {
        ++stats.outside_window;
        continue;
      }
      row.clear();
      append_csv_row(c, row);
      sorter.add(row);
    }
  }
  out.write(kCanonicalHeader);
  out.write("\n");
  auto [written, dropped] = sorter.drain(out);
  stats.rows = written;
  stats.duplicates = dropped;
  return stats;
}

}  // namespace cryptopipe
