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
#include <optional>
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
    offsets_.push_back({arena_.size(), row.size(), row_key(row).size()});
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
    std::size_t off, len, key_len;
  };

  template <typename F>
  void for_each_sorted_unique(F&& f, std::size_t& dropped) {
    std::vector<std::uint32_t> order(offsets_.size());
    for (std::uint32_t i = 0; i < order.size(); ++i) order[i] = i;
    auto key = [&](std::uint32_t i) { return std::string_view(arena_.data() + offsets_[i].off, offsets_[i].key_len); };
    auto less = [&](std::uint32_t a, std::uint32_t b) { return key(a) < key(b); };
    // Pages normally arrive in key order already: then the sort is a single check.
    if (!std::is_sorted(order.begin(), order.end(), less)) std::stable_sort(order.begin(), order.end(), less);
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

/// Streams one extract line with rapidjson's SAX reader, in situ: each candle object is mapped as soon as it
/// closes, so memory holds one candle, not the whole page DOM, and number text is never copied or converted.
class LineHandler : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, LineHandler> {
 public:
  struct Sink {
    virtual ~Sink() = default;
    virtual void candle(const Candle& c, const LineHandler& line) = 0;
    virtual void reject(std::string raw_json, std::string reason) = 0;
  };

  LineHandler(const std::string& where, Sink& sink) : where_(where), sink_(sink) {}

  // Copied: a streaming (non in-situ) parse hands out text that lives only for the callback.
  std::string provider_name, symbol_id, period_id, fetched_at, window_start, window_end;
  bool include_open = false;
  bool saw_body = false, saw_array = false;
  const Provider* provider = nullptr;
  Period period;

  bool StartObject() { return open(false); }
  bool StartArray() { return open(true); }
  bool EndObject(rapidjson::SizeType) { return close(); }
  bool EndArray(rapidjson::SizeType) { return close(); }
  bool Key(const char* str, rapidjson::SizeType len, bool) {
    frames_.back().key.assign(str, len);
    return true;
  }
  bool String(const char* str, rapidjson::SizeType len, bool) {
    return scalar(std::string_view(str, len), CandleFields::Kind::string);
  }
  bool RawNumber(const char* str, rapidjson::SizeType len, bool) {
    return scalar(std::string_view(str, len), CandleFields::Kind::number);
  }
  bool Null() { return scalar("null", CandleFields::Kind::null); }
  bool Bool(bool b) { return scalar(b ? "true" : "false", CandleFields::Kind::boolean); }

 private:
  enum class Role { envelope, on_path, candle_array, candle, skip };
  struct Frame {
    Role role;
    bool is_array;
    std::size_t path_index = 0;  // for on_path: index of the next member name to match
    std::string key;
  };

  void start_body() {
    saw_body = true;
    if (provider_name.empty()) throw BadDataError(where_ + ": field \"provider\": missing (it must come before \"body\")");
    try {
      provider = &provider_by_name(provider_name);
    } catch (const UsageError& e) {
      throw BadDataError(where_ + ": field \"provider\": " + e.what());
    }
    if (symbol_id.empty()) throw BadDataError(where_ + ": field \"symbol_id\": missing (it must come before \"body\")");
    if (!valid_symbol_id(symbol_id))
      throw BadDataError(fmt::format("{}: field \"symbol_id\": \"{}\" is not a symbol id (A-Z, 0-9, _)", where_,
                                     log::json_escape(std::string_view(symbol_id).substr(0, 60))));
    try {
      period = period_from_id(period_id);
    } catch (const UsageError& e) {
      throw BadDataError(where_ + ": field \"period_id\": " + e.what());
    }
    symbol_.assign(symbol_id);
    path_ = provider->candle_array_path();
  }

  /// The role of a container (or scalar, is_container=false) that starts inside the current frame.
  Role child_role(bool is_array) {
    if (frames_.empty()) return Role::envelope;
    const Frame& parent = frames_.back();
    switch (parent.role) {
      case Role::envelope:
        if (parent.key != "body") return Role::skip;
        start_body();
        if (path_.empty()) return is_array ? Role::candle_array : Role::skip;
        return is_array ? Role::skip : Role::on_path;
      case Role::on_path:
        if (parent.is_array || parent.key != path_[parent.path_index]) return Role::skip;
        if (parent.path_index + 1 == path_.size()) return is_array ? Role::candle_array : Role::skip;
        return is_array ? Role::skip : Role::on_path;
      case Role::candle_array:
        return Role::candle;
      default:
        return Role::skip;
    }
  }

  bool open(bool is_array) {
    Role role = child_role(is_array);
    if (role == Role::envelope && is_array) throw BadDataError(where_ + ": expected a JSON object from cryptopipe extract");
    std::size_t path_index = 0;
    if (role == Role::on_path) path_index = frames_.back().role == Role::on_path ? frames_.back().path_index + 1 : 0;
    if (role == Role::candle_array) saw_array = true;
    if (!frames_.empty() && frames_.back().role == Role::candle) {
      add_field(frames_.back().key, {}, CandleFields::Kind::other);  // nested value in a candle
    }
    if (role == Role::candle) {
      raw_.clear();
      arena_.clear();
      if (is_array) {
        sink_.reject("[...]", "candle: not a JSON object");
        role = Role::skip;
      }
    }
    frames_.push_back({role, is_array, path_index, std::string()});
    return true;
  }

  bool close() {
    Frame f = frames_.back();
    frames_.pop_back();
    if (f.role == Role::candle) emit();
    return true;
  }

  bool scalar(std::string_view text, CandleFields::Kind kind) {
    if (frames_.empty()) throw BadDataError(where_ + ": expected a JSON object from cryptopipe extract");
    Frame& parent = frames_.back();
    switch (parent.role) {
      case Role::envelope:
        if (parent.key == "body") {
          start_body();
          return true;  // a scalar body: reported below as the wrong page shape
        }
        if (kind == CandleFields::Kind::string) {
          if (parent.key == "provider") provider_name = text;
          else if (parent.key == "symbol_id") symbol_id = text;
          else if (parent.key == "period_id") period_id = text;
          else if (parent.key == "fetched_at") fetched_at = text;
          else if (parent.key == "window_start") window_start = text;
          else if (parent.key == "window_end") window_end = text;
        } else if (kind == CandleFields::Kind::boolean && parent.key == "include_open") {
          include_open = text == "true";
        }
        return true;
      case Role::candle:
        add_field(parent.key, text, kind);
        return true;
      case Role::candle_array:
        sink_.reject(std::string(text.substr(0, 60)), "candle: not a JSON object");
        return true;
      default:
        return true;
    }
  }

  void add_field(std::string_view name, std::string_view text, CandleFields::Kind kind) {
    raw_.push_back({arena_.size(), name.size(), arena_.size() + name.size(), text.size(), kind});
    arena_.append(name);
    arena_.append(text);
  }

  void emit() {
    candle_.fields.clear();
    for (const auto& r : raw_)
      candle_.fields.push_back({std::string_view(arena_).substr(r.name_off, r.name_len),
                                std::string_view(arena_).substr(r.text_off, r.text_len), r.kind});
    Candle& c = reused_;  // its strings keep their capacity from candle to candle
    std::string reason = provider->parse_candle(candle_, symbol_, period, c);
    if (!reason.empty()) {
      sink_.reject(candle_.to_json(), std::move(reason));
      return;
    }
    sink_.candle(c, *this);
  }

  std::string where_;
  Sink& sink_;
  std::vector<Frame> frames_;
  std::vector<std::string_view> path_;
  std::string symbol_;
  struct RawField {
    std::size_t name_off, name_len, text_off, text_len;
    CandleFields::Kind kind;
  };
  std::vector<RawField> raw_;  // the open candle's members, as offsets into arena_
  std::string arena_;
  CandleFields candle_;
  Candle reused_;
};

/// A rapidjson input stream over stdio that counts lines: memory stays one buffer whatever the line length.
class CountingFileStream {
 public:
  using Ch = char;
  explicit CountingFileStream(std::FILE* f) : f_(f) { refill(); }
  Ch Peek() const { return cur_ < end_ ? *cur_ : '\0'; }
  Ch Take() {
    if (cur_ >= end_) return '\0';
    Ch c = *cur_++;
    if (c == '\n') ++line_;
    if (cur_ == end_) refill();
    return c;
  }
  std::size_t Tell() const { return consumed_ + static_cast<std::size_t>(cur_ - buf_); }
  bool at_eof() const { return cur_ >= end_; }
  std::size_t line() const { return line_; }
  // Output side of the stream concept: never used by a reader.
  Ch* PutBegin() { return nullptr; }
  void Put(Ch) {}
  void Flush() {}
  std::size_t PutEnd(Ch*) { return 0; }

 private:
  void refill() {
    consumed_ += static_cast<std::size_t>(end_ - buf_);
    std::size_t n = std::fread(buf_, 1, sizeof buf_, f_);
    if (n == 0 && std::ferror(f_)) throw Error(ExitCode::other, fmt::format("read error: {}", std::strerror(errno)));
    cur_ = buf_;
    end_ = buf_ + n;
  }
  std::FILE* f_;
  char buf_[1 << 16];
  char* cur_ = buf_;
  char* end_ = buf_;
  std::size_t consumed_ = 0;
  std::size_t line_ = 1;
};

}  // namespace

TransformStats run_transform(LineReader& in, OutputSink& out, OutputSink* rejects, const TransformOptions& options) {
  TransformStats stats;
  RowSorter sorter(options.spill_bytes);
  std::string row;

  struct Collector : LineHandler::Sink {
    TransformStats& stats;
    RowSorter& sorter;
    OutputSink* rejects;
    const TransformOptions& options;
    LineReader& in;
    std::string& row;
    std::string where;
    std::size_t line = 0;
    std::optional<UnixMicros> window_start, window_end, fetched_at;
    bool window_parsed = false;
    Collector(TransformStats& s, RowSorter& so, OutputSink* r, const TransformOptions& o, LineReader& i, std::string& rw)
        : stats(s), sorter(so), rejects(r), options(o), in(i), row(rw) {}

    void candle(const Candle& c, const LineHandler& line) override {
      ++stats.candles;
      if (!window_parsed) {
        window_start = parse_timestamp(line.window_start);
        window_end = parse_timestamp(line.window_end);
        fetched_at = parse_timestamp(line.fetched_at);
        window_parsed = true;
      }
      bool in_window = (!window_start || c.time_period_start >= *window_start) &&
                       (!window_end || c.time_period_start < *window_end);
      bool closed = line.include_open || !fetched_at || c.time_period_end <= *fetched_at;
      if (!in_window || !closed) {
        ++stats.outside_window;
        return;
      }
      row.clear();
      append_csv_row(c, row);
      sorter.add(row);
    }

    void reject(std::string raw_json, std::string reason) override {
      ++stats.rejects;
      if (rejects)
        rejects->write(fmt::format(R"({{"file":"{}","line":{},"reason":"{}","candle":{}}})"
                                   "\n",
                                   log::json_escape(in.name()), line, log::json_escape(reason), raw_json));
      if (static_cast<std::int64_t>(stats.rejects) > options.max_rejects)
        throw BadDataError(fmt::format("{}: candle rejected: {} (more than --max-rejects {})", where, reason,
                                       options.max_rejects));
    }
  };
  Collector collector(stats, sorter, rejects, options, in, row);

  CountingFileStream stream(in.file());
  for (;;) {
    while (!stream.at_eof() && (stream.Peek() == ' ' || stream.Peek() == '\t' || stream.Peek() == '\r' ||
                                stream.Peek() == '\n'))
      stream.Take();
    if (stream.at_eof()) break;
    ++stats.lines;
    collector.line = stream.line();
    collector.where = fmt::format("{}: line {}", in.name(), collector.line);
    collector.window_parsed = false;
    LineHandler handler(collector.where, collector);
    rapidjson::Reader reader;
    auto result = reader.Parse<rapidjson::kParseNumbersAsStringsFlag | rapidjson::kParseValidateEncodingFlag |
                               rapidjson::kParseStopWhenDoneFlag>(stream, handler);
    if (result.IsError())
      throw BadDataError(fmt::format("{}, byte offset {}: malformed JSON: {}", collector.where, result.Offset(),
                                     rapidjson::GetParseError_En(result.Code())));
    if (!handler.saw_body) {
      if (handler.provider_name.empty()) throw BadDataError(collector.where + ": field \"provider\": missing");
      if (handler.symbol_id.empty()) throw BadDataError(collector.where + ": field \"symbol_id\": missing");
      throw BadDataError(collector.where + ": field \"body\": missing");
    }
    if (!handler.saw_array)
      throw BadDataError(fmt::format("{}: field \"body\": expected {}", collector.where, handler.provider->page_shape()));
  }
  out.write(kCanonicalHeader);
  out.write("\n");
  auto [written, dropped] = sorter.drain(out);
  stats.rows = written;
  stats.duplicates = dropped;
  return stats;
}

}  // namespace cryptopipe
