#!/usr/bin/env bash
# Creates the candle database and its owner next to Airflow's metadata DB. The official postgres image runs
# this once, on the first start with an empty data volume, as the superuser POSTGRES_USER.
# Env: CRYPTO_DB_NAME (default crypto), CRYPTO_DB_USER (default crypto), CRYPTO_DB_PASSWORD (required).
# The table itself is created by `cryptopipe load-postgres --create-only` (the DAG's first task), so its DDL
# lives in one place.
set -euo pipefail

: "${CRYPTO_DB_PASSWORD:?CRYPTO_DB_PASSWORD must be set}"
crypto_db=${CRYPTO_DB_NAME:-crypto}
crypto_user=${CRYPTO_DB_USER:-crypto}

# psql variables (:"ident", :'literal') quote the names and the password; the password never reaches argv.
psql -v ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-postgres}" \
    --set=crypto_db="$crypto_db" --set=crypto_user="$crypto_user" <<'SQL'
\getenv crypto_password CRYPTO_DB_PASSWORD
CREATE ROLE :"crypto_user" LOGIN PASSWORD :'crypto_password';
CREATE DATABASE :"crypto_db" OWNER :"crypto_user";
REVOKE ALL ON DATABASE :"crypto_db" FROM PUBLIC;
SQL

# PostgreSQL 15+ no longer lets every role create in schema public; the owner of the database gets it.
psql -v ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER:-postgres}" --dbname "$crypto_db" \
    --set=crypto_user="$crypto_user" <<'SQL'
ALTER SCHEMA public OWNER TO :"crypto_user";
SQL
echo "postgres-init: database \"$crypto_db\" owned by \"$crypto_user\" is ready"
