#!/usr/bin/env bash
# Creates, next to Airflow's metadata DB, the candle database and a local stand-in for the warehouse, both owned
# by one login role. The official postgres image runs this once, on the first start with an empty data volume,
# as the superuser POSTGRES_USER; tests/infra runs it against a real server too.
# Env: CRYPTO_DB_PASSWORD (required), CRYPTO_DB_USER (default crypto), CRYPTO_DB_NAME (default crypto),
#      CRYPTO_WAREHOUSE_DB_NAME (default warehouse; copy-redshift --target auto loads it when no Redshift is used).
# The tables themselves are created by cryptopipe (load-postgres --create-only, copy-redshift), so their DDL
# lives in one place.
set -euo pipefail

: "${CRYPTO_DB_PASSWORD:?CRYPTO_DB_PASSWORD must be set}"
crypto_user=${CRYPTO_DB_USER:-crypto}
superuser=${POSTGRES_USER:-postgres}

# psql variables (:"ident", :'literal') quote names and password; \getenv keeps the password out of argv.
psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$superuser" --dbname "${POSTGRES_DB:-postgres}" \
    --set=crypto_user="$crypto_user" <<'SQL'
\getenv crypto_password CRYPTO_DB_PASSWORD
CREATE ROLE :"crypto_user" LOGIN PASSWORD :'crypto_password';
SQL

for db in "${CRYPTO_DB_NAME:-crypto}" "${CRYPTO_WAREHOUSE_DB_NAME:-warehouse}"; do
    psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$superuser" --dbname "${POSTGRES_DB:-postgres}" \
        --set=db="$db" --set=crypto_user="$crypto_user" <<'SQL'
CREATE DATABASE :"db" OWNER :"crypto_user";
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
SQL
    # Since PostgreSQL 15 only the schema owner may create in public; hand it to the database owner.
    psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$superuser" --dbname "$db" \
        --set=crypto_user="$crypto_user" <<'SQL'
ALTER SCHEMA public OWNER TO :"crypto_user";
SQL
    echo "postgres-init: database \"$db\" owned by \"$crypto_user\" is ready"
done
