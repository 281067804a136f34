#!/usr/bin/env bash
# Sets up and runs the main job once on local defaults:
#   5-minute leg: for BTC, ETH, XRP on Bitstamp (keyless), the last closed 5-minute window:
#                 cryptopipe extract | cryptopipe transform | cryptopipe load-postgres
#   daily leg:    the previous UTC day: export-csv (gzip) -> upload-s3 to a local file:// lake under .local/lake
#                 -> copy-redshift --target postgres into a second database `warehouse`
#
# PostgreSQL: uses PG* env vars (PGHOST, PGPORT, PGUSER, PGDATABASE, PGPASSWORD) or CRYPTOPIPE_DSN when set
# (keep passwords in PGPASSWORD or ~/.pgpass, never in the DSN). Otherwise it starts a throwaway local server:
# initdb into .local/pg (owned by the `postgres` OS user when run as root), port 55432 (or a free one), and leaves
# it running; the connection and stop commands are printed. CRYPTOPIPE_WAREHOUSE_DSN overrides the warehouse.
#
# Offline: point the same command at the replay API server (it serves candles for any time, including now):
#     python3 tests/replay/replay_server.py --port 8765 &
#     CRYPTOPIPE_API_BASE=http://127.0.0.1:8765 scripts/run.sh
# Without network access and without CRYPTOPIPE_API_BASE, extract fails; this says so in one line and exits 5.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
BIN=$ROOT/build/cryptopipe
LOCAL=$ROOT/.local
mkdir -p "$LOCAL/logs" "$LOCAL/export" "$LOCAL/lake"

say() { printf 'run: %s\n' "$*" >&2; }

bash scripts/setup.sh
[ -x "$BIN" ] || { say "no $BIN after setup"; exit 1; }

# ---- PostgreSQL -----------------------------------------------------------------------------------
pg_configured() {
    [ -n "${CRYPTOPIPE_DSN:-}" ] && return 0
    local v
    for v in PGHOST PGPORT PGUSER PGDATABASE PGSERVICE PGHOSTADDR; do
        [ -n "${!v:-}" ] && return 0
    done
    return 1
}

as_pg() {  # run a PostgreSQL server command as the cluster owner
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_local_pg() {
    local bindir datadir=$LOCAL/pg/data portfile=$LOCAL/pg/port port
    bindir=$(pg_config --bindir 2>/dev/null || true)
    if [ ! -x "$bindir/initdb" ]; then
        bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
    fi
    [ -x "$bindir/initdb" ] || { say "PostgreSQL server binaries not found (install the postgresql package)"; exit 1; }
    mkdir -p "$LOCAL/pg"
    if [ "$(id -u)" -eq 0 ]; then chown postgres: "$LOCAL/pg"; fi
    if [ ! -f "$datadir/PG_VERSION" ]; then
        say "creating a throwaway PostgreSQL cluster in $datadir"
        as_pg "$bindir/initdb" -D "$datadir" -U postgres -A trust -E UTF8 --no-locale >"$LOCAL/logs/initdb.log"
    fi
    if as_pg "$bindir/pg_ctl" -D "$datadir" status >/dev/null 2>&1; then
        port=$(cat "$portfile")
    else
        port=55432
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then port=$(free_port); fi
        as_pg "$bindir/pg_ctl" -D "$datadir" -l "$LOCAL/pg/postgres.log" -w -t 60 \
            -o "-c listen_addresses=127.0.0.1 -p $port -k /tmp -c timezone=UTC" start >/dev/null
        echo "$port" >"$portfile"
        say "started a local PostgreSQL on 127.0.0.1:$port"
    fi
    export PGHOST=127.0.0.1 PGPORT=$port PGUSER=postgres PGDATABASE=cryptopipe
    for db in cryptopipe warehouse; do
        if [ -z "$(psql -X -At -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$db'")" ]; then
            psql -X -q -d postgres -c "CREATE DATABASE $db"
        fi
    done
    PG_NOTE="local PostgreSQL left running: connect with 'psql -h 127.0.0.1 -p $port -U postgres cryptopipe'"
    PG_NOTE+=", stop with '$( [ "$(id -u)" -eq 0 ] && echo "runuser -u postgres -- ")$bindir/pg_ctl -D $datadir stop'"
}

PG_NOTE=""
DSN_ARGS=()
if pg_configured; then
    say "using the configured PostgreSQL (PG* / CRYPTOPIPE_DSN)"
    if [ -n "${CRYPTOPIPE_DSN:-}" ]; then DSN_ARGS=(--dsn "$CRYPTOPIPE_DSN"); fi
    WAREHOUSE_DSN=${CRYPTOPIPE_WAREHOUSE_DSN:-dbname=warehouse}
    # best effort: the warehouse database on the same server
    psql -X -q -d "${PGDATABASE:-postgres}" -c "CREATE DATABASE warehouse" >/dev/null 2>&1 || true
else
    start_local_pg
    WAREHOUSE_DSN=${CRYPTOPIPE_WAREHOUSE_DSN:-host=127.0.0.1 port=$PGPORT user=postgres dbname=warehouse}
fi

# ---- 5-minute leg ---------------------------------------------------------------------------------
NOW=$(date -u +%s)
END=$(( NOW / 300 * 300 ))      # the last closed 5-minute window is [END-300, END)
START=$(( END - 300 ))
START_T=$(date -u -d "@$START" +%Y-%m-%dT%H:%M:%SZ)
END_T=$(date -u -d "@$END" +%Y-%m-%dT%H:%M:%SZ)
API=${CRYPTOPIPE_API_BASE:-the Bitstamp API}
say "5-minute leg: window [$START_T, $END_T) from $API"

for X in BTC ETH XRP; do
    SYMBOL=BITSTAMP_SPOT_${X}_USD
    LOG=$LOCAL/logs/${SYMBOL}.log
    set +e
    "$BIN" extract --provider bitstamp --symbol "$SYMBOL" --start "$START_T" --end "$END_T" \
            --max-attempts 3 --deadline 60 2>"$LOG" \
        | "$BIN" transform 2>>"$LOG" \
        | "$BIN" load-postgres "${DSN_ARGS[@]}" 2>>"$LOG" >"$LOCAL/logs/${SYMBOL}.summary"
    STATUS=("${PIPESTATUS[@]}")
    set -e
    if [ "${STATUS[0]}" -eq 5 ]; then
        echo "run: cannot reach $API (no network access?); set CRYPTOPIPE_API_BASE to a replay server to run offline" >&2
        exit 5
    fi
    for i in 0 1 2; do
        if [ "${STATUS[$i]}" -ne 0 ]; then
            grep -h '^cryptopipe: error:' "$LOG" >&2 || tail -n 5 "$LOG" >&2
            say "$SYMBOL failed (exit codes extract/transform/load-postgres: ${STATUS[*]}; log: $LOG)"
            exit "${STATUS[$i]}"
        fi
    done
    echo "$SYMBOL [$START_T, $END_T): $(cat "$LOCAL/logs/${SYMBOL}.summary")"
done

# ---- daily leg (previous UTC day) -----------------------------------------------------------------
DAY=$(date -u -d "@$(( NOW - 86400 ))" +%F)
EXPORT=$LOCAL/export/ohlcv-5MIN-$DAY.csv.gz
LAKE_URI="file://$LOCAL/lake/ohlcv/period=5MIN/date=$DAY/ohlcv.csv.gz"
say "daily leg: $DAY -> $LAKE_URI -> warehouse"
daily() {
    local name=$1; shift
    local log=$LOCAL/logs/daily-$name.log rc=0
    "$BIN" "$@" 2>"$log" || rc=$?
    if [ "$rc" -ne 0 ]; then
        grep -h '^cryptopipe: error:' "$log" >&2 || tail -n 5 "$log" >&2
        say "daily leg: $name failed with exit $rc (log: $log)"
        exit "$rc"
    fi
}
daily export-csv export-csv "${DSN_ARGS[@]}" --date "$DAY" -o "$EXPORT" --gzip
daily upload-s3 upload-s3 "$EXPORT" "$LAKE_URI"
daily copy-redshift copy-redshift --s3-uri "$LAKE_URI" --target postgres --dsn "$WAREHOUSE_DSN"
echo "daily leg $DAY: exported $EXPORT, uploaded to $LAKE_URI, copied into the warehouse database"

if [ -n "$PG_NOTE" ]; then say "$PG_NOTE"; fi
