#include "candle/timestamp.hpp"

#include <fmt/format.h>

namespace cryptopipe {
namespace {

bool digits(std::string_view s, size_t pos, size_t n, int& out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  out = v;
  return true;
}

void civil_from_days(std::int64_t z, int& y, unsigned& m, unsigned& d) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t yy = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = static_cast<int>(yy + (m <= 2));
}

bool valid_date(int y, int m, int d) {
  static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (m < 1 || m > 12 || d < 1) return false;
  int max = mdays[m - 1];
  if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) max = 29;
  return d <= max;
}

}  // namespace

std::int64_t days_from_civil(int y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

std::optional<UnixMicros> parse_timestamp(std::string_view s) {
  int y, mo, d;
  if (s.size() < 10 || !digits(s, 0, 4, y) || s[4] != '-' || !digits(s, 5, 2, mo) || s[7] != '-' ||
      !digits(s, 8, 2, d) || y < 1 || !valid_date(y, mo, d))
    return std::nullopt;  // year 0000 has no canonical text either
  std::int64_t days = days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  if (s.size() == 10) return days * 86400LL * 1000000LL;
  if (s[10] != 'T' && s[10] != 't' && s[10] != ' ') return std::nullopt;
  if (s.size() < 19) return std::nullopt;  // HH:MM:SS must be all there before single characters are checked
  int h, mi, se;
  if (!digits(s, 11, 2, h) || s[13] != ':' || !digits(s, 14, 2, mi) || s[16] != ':' || !digits(s, 17, 2, se))
    return std::nullopt;
  if (h > 23 || mi > 59 || se > 60) return std::nullopt;
  size_t pos = 19;
  std::int64_t micros = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    size_t start = pos;
    int n = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (n < 6) micros = micros * 10 + (s[pos] - '0');
      ++n;
      ++pos;
    }
    if (pos == start || n > 9) return std::nullopt;
    for (; n < 6; ++n) micros *= 10;
  }
  std::int64_t offset_s = 0;
  std::string_view zone = s.substr(pos);
  if (zone == "Z" || zone == "z") {
  } else if (!zone.empty() && (zone[0] == '+' || zone[0] == '-')) {
    int oh = 0, om = 0;
    if (zone.size() == 3 && digits(zone, 1, 2, oh)) {
    } else if (zone.size() == 6 && digits(zone, 1, 2, oh) && zone[3] == ':' && digits(zone, 4, 2, om)) {
    } else if (zone.size() == 5 && digits(zone, 1, 2, oh) && digits(zone, 3, 2, om)) {
    } else {
      return std::nullopt;
    }
    offset_s = (oh * 3600 + om * 60) * (zone[0] == '+' ? 1 : -1);
  } else {
    return std::nullopt;  // a timestamp without a zone is ambiguous; we never guess local time
  }
  std::int64_t secs = days * 86400 + h * 3600 + mi * 60 + se - offset_s;
  // An offset can push 9999-12-31T23:00:00-05:00 into year 10000, which no canonical text can hold.
  static const std::int64_t lo = days_from_civil(1, 1, 1) * 86400, hi = (days_from_civil(9999, 12, 31) + 1) * 86400;
  if (secs < lo || secs >= hi) return std::nullopt;
  return secs * 1000000LL + micros;
}

void append_timestamp(UnixMicros t, std::string& out) {
  std::int64_t secs = t >= 0 ? t / 1000000 : (t - 999999) / 1000000;
  std::int64_t frac = t - secs * 1000000;
  std::int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
  std::int64_t sod = secs - days * 86400;
  int y;
  unsigned m, d;
  civil_from_days(days, y, m, d);
  char buf[32];
  auto put = [&](char* p, std::int64_t v, int width) {
    for (int i = width - 1; i >= 0; --i, v /= 10) p[i] = static_cast<char>('0' + v % 10);
  };
  put(buf, y, 4);
  buf[4] = '-';
  put(buf + 5, m, 2);
  buf[7] = '-';
  put(buf + 8, d, 2);
  buf[10] = ' ';
  put(buf + 11, sod / 3600, 2);
  buf[13] = ':';
  put(buf + 14, sod / 60 % 60, 2);
  buf[16] = ':';
  put(buf + 17, sod % 60, 2);
  std::size_t n = 19;
  if (frac != 0) {
    buf[19] = '.';
    put(buf + 20, frac, 6);
    n = 26;
  }
  buf[n++] = '+';
  buf[n++] = '0';
  buf[n++] = '0';
  out.append(buf, n);
}

std::string format_timestamp(UnixMicros t) {
  std::string s;
  append_timestamp(t, s);
  return s;
}

std::string format_rfc3339(UnixMicros t) {
  std::string s = format_timestamp(t);
  s[10] = 'T';
  s.replace(s.size() - 3, 3, "Z");
  return s;
}

}  // namespace cryptopipe
