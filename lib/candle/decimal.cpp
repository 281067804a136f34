#include "candle/decimal.hpp"

#include <cstdlib>

namespace cryptopipe {
namespace {
constexpr size_t kMaxPlainLength = 100;

bool is_digit(char c) { return c >= '0' && c <= '9'; }

struct Parts {
  bool negative = false;
  std::string_view int_part;
  std::string_view frac_part;
};

Parts split(std::string_view plain) {
  Parts p;
  if (!plain.empty() && plain[0] == '-') {
    p.negative = true;
    plain.remove_prefix(1);
  }
  auto dot = plain.find('.');
  p.int_part = plain.substr(0, dot);
  if (dot != std::string_view::npos) p.frac_part = plain.substr(dot + 1);
  while (p.int_part.size() > 1 && p.int_part[0] == '0') p.int_part.remove_prefix(1);
  while (!p.frac_part.empty() && p.frac_part.back() == '0') p.frac_part.remove_suffix(1);
  return p;
}

bool is_zero(const Parts& p) { return p.int_part == "0" && p.frac_part.empty(); }

int compare_magnitude(const Parts& a, const Parts& b) {
  if (a.int_part.size() != b.int_part.size()) return a.int_part.size() < b.int_part.size() ? -1 : 1;
  if (int c = a.int_part.compare(b.int_part)) return c < 0 ? -1 : 1;
  size_t n = std::max(a.frac_part.size(), b.frac_part.size());
  for (size_t i = 0; i < n; ++i) {
    char ca = i < a.frac_part.size() ? a.frac_part[i] : '0';
    char cb = i < b.frac_part.size() ? b.frac_part[i] : '0';
    if (ca != cb) return ca < cb ? -1 : 1;
  }
  return 0;
}
}  // namespace

std::optional<std::string> normalize_decimal(std::string_view s) {
  std::string out;
  if (!normalize_decimal_into(s, out)) return std::nullopt;
  return out;
}

namespace {
std::optional<std::string> normalize_general(std::string_view s) {
  size_t i = 0;
  bool negative = false;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) {
    negative = s[i] == '-';
    ++i;
  }
  size_t int_start = i;
  while (i < s.size() && is_digit(s[i])) ++i;
  std::string_view int_digits = s.substr(int_start, i - int_start);
  std::string_view frac_digits;
  bool has_dot = false;
  if (i < s.size() && s[i] == '.') {
    has_dot = true;
    size_t fs = ++i;
    while (i < s.size() && is_digit(s[i])) ++i;
    frac_digits = s.substr(fs, i - fs);
  }
  if (int_digits.empty() && frac_digits.empty()) return std::nullopt;
  if (i == s.size()) {
    // Already plain: keep the text as sent, only adding a leading zero to ".5" and dropping a "+" sign.
    std::string out = negative ? "-" : "";
    out += int_digits.empty() ? std::string("0") : std::string(int_digits);
    if (has_dot && !frac_digits.empty()) {
      out += '.';
      out += frac_digits;
    }
    if (out.size() > kMaxPlainLength) return std::nullopt;
    return out;
  }
  if (s[i] != 'e' && s[i] != 'E') return std::nullopt;
  ++i;
  bool exp_negative = false;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) exp_negative = s[i++] == '-';
  if (i == s.size()) return std::nullopt;
  long exp = 0;
  for (; i < s.size(); ++i) {
    if (!is_digit(s[i])) return std::nullopt;
    exp = exp * 10 + (s[i] - '0');
    if (exp > static_cast<long>(kMaxPlainLength)) return std::nullopt;
  }
  if (exp_negative) exp = -exp;
  // Moving the point `exp` places over the digit string int_digits+frac_digits.
  std::string all = std::string(int_digits) + std::string(frac_digits);
  long point = static_cast<long>(int_digits.size()) + exp;
  std::string int_out, frac_out;
  if (point <= 0) {
    int_out = "0";
    frac_out = std::string(static_cast<size_t>(-point), '0') + all;
  } else if (point >= static_cast<long>(all.size())) {
    int_out = all + std::string(static_cast<size_t>(point - static_cast<long>(all.size())), '0');
  } else {
    int_out = all.substr(0, static_cast<size_t>(point));
    frac_out = all.substr(static_cast<size_t>(point));
  }
  size_t nz = int_out.find_first_not_of('0');
  int_out = nz == std::string::npos ? "0" : int_out.substr(nz);
  std::string out = negative ? "-" : "";
  out += int_out;
  if (!frac_out.empty()) out += "." + frac_out;
  if (out.size() > kMaxPlainLength) return std::nullopt;
  return out;
}

}  // namespace

bool normalize_decimal_into(std::string_view s, std::string& out) {
  // Fast path for the usual plain, unsigned text: validate and copy, no temporaries.
  std::size_t dots = 0, i = 0;
  bool plain = !s.empty() && s.size() <= kMaxPlainLength && is_digit(s[0]);
  for (; plain && i < s.size(); ++i) {
    if (s[i] == '.') {
      if (++dots > 1 || i + 1 == s.size()) plain = false;
    } else if (!is_digit(s[i])) {
      plain = false;
    }
  }
  if (plain) {
    out.assign(s);
    return true;
  }
  auto general = normalize_general(s);
  if (!general) return false;
  out = std::move(*general);
  return true;
}

int compare_decimal(std::string_view a, std::string_view b) {
  Parts pa = split(a), pb = split(b);
  bool za = is_zero(pa), zb = is_zero(pb);
  bool na = pa.negative && !za, nb = pb.negative && !zb;
  if (na != nb) return na ? -1 : 1;
  int m = compare_magnitude(pa, pb);
  return na ? -m : m;
}

bool decimal_is_negative(std::string_view plain) {
  Parts p = split(plain);
  return p.negative && !is_zero(p);
}

}  // namespace cryptopipe
