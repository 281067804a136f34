#include "core/log.hpp"

#include <chrono>
#include <cstdio>
#include <mutex>

namespace cryptopipe::log {
namespace {
Format g_format = Format::text;
Level g_min = Level::info;
std::string g_command;
std::mutex g_mutex;

const char* level_name(Level l) {
  switch (l) {
    case Level::debug: return "debug";
    case Level::info: return "info";
    case Level::warn: return "warn";
    case Level::error: return "error";
  }
  return "info";
}
}  // namespace

void configure(Format format, Level min_level) {
  g_format = format;
  g_min = min_level;
}

void set_command(std::string_view command) { g_command = command; }

std::string json_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += fmt::format("\\u{:04x}", c);
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out;
}

void write(Level level, std::string_view message) {
  if (level < g_min) return;
  std::string line;
  if (g_format == Format::json) {
    auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
    line = fmt::format(R"({{"ts_ms":{},"level":"{}","command":"{}","message":"{}"}})", now, level_name(level),
                       json_escape(g_command), json_escape(message));
  } else {
    line = fmt::format("cryptopipe: {}: {}{}{}", level_name(level), g_command, g_command.empty() ? "" : ": ",
                       message);
  }
  line += '\n';
  std::lock_guard<std::mutex> lock(g_mutex);
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace cryptopipe::log
