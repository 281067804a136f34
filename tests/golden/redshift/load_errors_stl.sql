SELECT line_number, TRIM(colname), TRIM(raw_field_value), TRIM(err_reason), TRIM(filename)
FROM stl_load_errors
WHERE query = (SELECT MAX(query) FROM stl_load_errors WHERE session = PG_BACKEND_PID())
ORDER BY line_number
LIMIT 10
