SELECT line_number, TRIM(column_name), NULL, TRIM(error_message), TRIM(file_name)
FROM sys_load_error_detail
WHERE query_id = (SELECT MAX(query_id) FROM sys_load_error_detail WHERE session_id = PG_BACKEND_PID())
ORDER BY line_number
LIMIT 10
