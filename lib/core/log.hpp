#pragma once
// Logs go to stderr (stdout carries data or summaries), as text or one JSON object per line.
#include <fmt/format.h>

#include <string>
#include <string_view>

namespace cryptopipe::log {

enum class Format { text, json };
enum class Level { debug, info, warn, error };

/// Selects the output format and minimum level for the whole process.
void configure(Format format, Level min_level);
/// Sets the subcommand name that prefixes every line.
void set_command(std::string_view command);
void write(Level level, std::string_view message);

template <typename... Args>
void info(fmt::format_string<Args...> f, Args&&... args) {
  write(Level::info, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void warn(fmt::format_string<Args...> f, Args&&... args) {
  write(Level::warn, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void debug(fmt::format_string<Args...> f, Args&&... args) {
  write(Level::debug, fmt::format(f, std::forward<Args>(args)...));
}

/// Escapes `s` as the body of a JSON string (no surrounding quotes).
std::string json_escape(std::string_view s);

}  // namespace cryptopipe::log
