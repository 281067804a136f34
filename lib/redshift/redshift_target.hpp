#pragma once
// copy-redshift's Redshift target: the cluster reads the object(s) from S3 itself (COPY), then the merge step.
#include <vector>

#include "pg/connection.hpp"
#include "pg/ohlcv_table.hpp"
#include "redshift/redshift_sql.hpp"

namespace cryptopipe {

/// True when `SELECT version()` names Redshift (the --target auto probe).
bool is_redshift(PgConnection& db);

/// Runs `plan` (from redshift::load_plan with Secrets::reveal) and returns the counts. On a COPY failure rolls
/// back, reads the load errors (SYS_LOAD_ERROR_DETAIL, else STL_LOAD_ERRORS), logs the first rows and throws
/// BadDataError with the first one (line, column, value, reason). Duplicate staged keys → BadDataError.
MergeCounts run_redshift_plan(PgConnection& db, const std::vector<redshift::Statement>& plan, const TableName& t);

}  // namespace cryptopipe
