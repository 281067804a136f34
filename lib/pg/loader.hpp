#pragma once
#include <cstdio>
#include <string>

#include "pg/ohlcv_table.hpp"

namespace cryptopipe {

/// Streams canonical CSV from `in` (named `in_name` in messages) into `t` in one transaction: COPY into a temp
/// stage, then the upsert. A rerun of the same input changes nothing. Throws BadDataError naming the input line
/// and column for bad rows or a wrong header; nothing is written then.
MergeCounts load_canonical_csv(PgConnection& db, const TableName& t, std::FILE* in, const std::string& in_name,
                               MergeMode mode = MergeMode::upsert);

/// Streams an already-open COPY of canonical CSV (header included) from `read` chunks; shared with
/// copy-redshift's PostgreSQL target. `read` returns an empty view at end of input.
MergeCounts load_canonical_stream(PgConnection& db, const TableName& t, const std::string& in_name, MergeMode mode,
                                  const std::function<std::string_view()>& read);

}  // namespace cryptopipe
