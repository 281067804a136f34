#pragma once
// copy-redshift's PostgreSQL target (local runs, tests): the tool fetches the object(s) itself, gunzips them and
// streams them into the same staging table and merge as load-postgres, all in one transaction.
#include <string>
#include <string_view>
#include <vector>

#include "pg/loader.hpp"
#include "pg/ohlcv_table.hpp"
#include "s3/object_store.hpp"

namespace cryptopipe {


/// The objects one --s3-uri names: itself, or every entry of the manifest it points at (non-mandatory entries
/// that do not exist are skipped). Throws BadDataError for a malformed manifest.
std::vector<ObjectUri> objects_to_load(const ObjectUri& uri, bool manifest, const S3Settings& s3);

/// Loads `objects` (plain or gzip CSV, detected by the gzip magic) into `t` in one transaction with `mode`.
MergeCounts copy_objects_into_postgres(PgConnection& db, const TableName& t, const std::vector<ObjectUri>& objects,
                                       const S3Settings& s3, MergeMode mode);

}  // namespace cryptopipe
