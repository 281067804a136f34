#pragma once
#include <string>
#include <string_view>

namespace cryptopipe {

/// Returns `name` double-quoted for SQL after checking it against ^[a-z_][a-z0-9_]{0,62}$;
/// throws UsageError naming `what` (e.g. "table") otherwise, so no SQL ever travels inside an identifier.
std::string quote_identifier(std::string_view name, std::string_view what);

}  // namespace cryptopipe
