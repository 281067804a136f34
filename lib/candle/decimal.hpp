#pragma once
// Prices and volumes stay decimal text end to end: never a double, so nothing is rounded on the way.
#include <optional>
#include <string>
#include <string_view>

namespace cryptopipe {

/// Returns `text` as a plain decimal (`-?digits[.digits]`), keeping its digits exactly (trailing zeros too);
/// exponent notation is rewritten by moving the point (`1.5E-07` → `0.00000015`). Returns nullopt for anything
/// else (NaN, Infinity, `1,000`, empty, exponents whose plain form would exceed 100 characters).
std::optional<std::string> normalize_decimal(std::string_view text);
/// Same as normalize_decimal, writing into `out` (reusing its capacity); returns false when not a decimal.
bool normalize_decimal_into(std::string_view text, std::string& out);

/// Compares two plain decimals (outputs of normalize_decimal) numerically: <0, 0, >0.
int compare_decimal(std::string_view a, std::string_view b);

/// True when the plain decimal is negative (and not zero: `-0` is not negative).
bool decimal_is_negative(std::string_view plain);

}  // namespace cryptopipe
