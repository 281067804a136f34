"""Both DAGs run by `airflow dags test` against real services: the replay API server, the harness PostgreSQL
(source and warehouse databases) and moto's S3 — with the real cryptopipe binary in every task.

Connections come in as AIRFLOW_CONN_* env vars (JSON form), exactly as a deployment could provide them.
"""
from __future__ import annotations

import csv
import gzip
import io
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dag_harness import DAGS, aws_conn, postgres_conn

pytestmark = pytest.mark.slow

PG_PASSWORD = "pg-e2e-Secret-4d1f"
WAREHOUSE_PASSWORD = "wh-e2e-Secret-88ab"
SYMBOLS = ["BITSTAMP_SPOT_BTC_USD", "BITSTAMP_SPOT_ETH_USD", "BITSTAMP_SPOT_XRP_USD"]
WINDOW_START = 1704067200  # 2024-01-01T00:00:00Z
CANONICAL_HEADER = ("symbol_id,period_id,time_period_start,time_period_end,time_open,time_close,price_open,"
                    "price_high,price_low,price_close,volume_traded,trades_count,source").split(",")
COLUMNS = ("symbol_id, period_id, time_period_start, time_period_end, time_open, time_close, price_open, "
           "price_high, price_low, price_close, volume_traded, trades_count, source")


@pytest.fixture(scope="module")
def source_db(pg):
    return pg.create_db("airflow_source")


def _dags_test(airflow, dag_id, logical_date, env):
    res = airflow.run("dags", "test", dag_id, logical_date, env=env, timeout=400)
    return res


def _run_id(airflow, dag_id, logical_date: str) -> str:
    """The latest run of `dag_id` at `logical_date` (`YYYY-MM-DD HH:MM:SS`, UTC)."""
    rows = airflow.sql("SELECT run_id FROM dag_run WHERE dag_id = ? AND logical_date LIKE ? ORDER BY id DESC LIMIT 1",
                       (dag_id, logical_date + "%"))
    assert rows, f"no run of {dag_id} at {logical_date}"
    return rows[0][0]


def _task_states(airflow, dag_id, logical_date):
    return airflow.sql("SELECT task_id, map_index, state, try_number FROM task_instance WHERE dag_id = ? "
                       "AND run_id = ? ORDER BY task_id, map_index", (dag_id, _run_id(airflow, dag_id, logical_date)))


def _all_logs(airflow) -> str:
    text = []
    for path in Path(airflow.home, "logs").rglob("*"):
        if path.is_file():
            text.append(path.read_text(errors="replace"))
    return "\n".join(text)


def _assert_no_secret(airflow, res, *secrets):
    logs = _all_logs(airflow) + res.stdout + res.stderr
    rendered = json.dumps(airflow.sql("SELECT rendered_fields FROM rendered_task_instance_fields"))
    for secret in secrets:
        assert secret not in logs, "a secret reached the task log / CLI output"
        assert secret not in rendered, "a secret was stored unmasked in the rendered fields"


def _rendered_commands(airflow, dag_id, task_id, logical_date) -> list[str]:
    rows = airflow.sql("SELECT rendered_fields FROM rendered_task_instance_fields WHERE dag_id = ? AND task_id = ? "
                       "AND run_id = ? ORDER BY map_index", (dag_id, task_id, _run_id(airflow, dag_id, logical_date)))
    return [json.loads(r[0])["bash_command"] for r in rows]


def _five_minute_env(cryptopipe_bin, replay, pg, db):
    return {
        "CRYPTOPIPE_BIN": str(cryptopipe_bin),
        "CRYPTOPIPE_API_BASE": replay.url,
        "AIRFLOW_CONN_CRYPTO_POSTGRES": postgres_conn(pg, db, PG_PASSWORD),
    }


def test_crypto_prices_loads_the_window_and_a_rerun_changes_nothing(airflow, pg, replay, cryptopipe_bin, source_db):
    replay.reset()
    env = _five_minute_env(cryptopipe_bin, replay, pg, source_db)

    res = _dags_test(airflow, "crypto_prices", "2024-01-01T00:05:00+00:00", env)
    assert res.returncode == 0, f"{res.stdout[-4000:]}\n{res.stderr[-4000:]}"
    states = _task_states(airflow, "crypto_prices", "2024-01-01 00:05:00")
    assert {(t, s, n) for t, _, s, n in states} == {
        ("load_postgres_create_only", "success", 1), ("plan_symbols", "success", 1),
        ("extract_transform_load_postgres", "success", 1)}
    assert sorted(m for t, m, _, _ in states if t == "extract_transform_load_postgres") == [0, 1, 2]

    # Exactly the window [00:00, 00:05): one 5-minute candle per symbol, with the API's exact decimal text.
    rows = pg.query(source_db, f"SELECT {COLUMNS} FROM ohlcv ORDER BY symbol_id, time_period_start")
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        (s, "5MIN", "2024-01-01 00:00:00+00", "2024-01-01 00:05:00+00") for s in SYMBOLS]
    for row in rows:
        (expected,) = replay.fixture_candles("bitstamp", row[0], WINDOW_START, WINDOW_START + 300)
        assert row[6:11] == (expected["price_open"], expected["price_high"], expected["price_low"],
                             expected["price_close"], expected["volume_traded"])
        assert row[12] == "bitstamp"

    # The rendered commands cover exactly [start, end), one per symbol, and carry no secret.
    commands = _rendered_commands(airflow, "crypto_prices", "extract_transform_load_postgres",
                                  "2024-01-01 00:05:00")
    assert len(commands) == 3
    for symbol, command in zip(SYMBOLS, commands):
        assert f"--symbol {symbol} --period 5MIN --start 2024-01-01T00:00:00Z --end 2024-01-01T00:05:00Z" in command
    # The API was asked for exactly that window.
    starts = [r["query"].get("start") for r in replay.requests() if r["path"].startswith("/api/v2/ohlc/")]
    assert len(starts) >= 3 and all(s == [str(WINDOW_START)] for s in starts), starts
    _assert_no_secret(airflow, res, PG_PASSWORD)

    before = pg.query(source_db, f"SELECT {COLUMNS}, loaded_at FROM ohlcv ORDER BY symbol_id")

    # Run the same window again: nothing is inserted or updated, loaded_at does not move.
    res = _dags_test(airflow, "crypto_prices", "2024-01-01T00:05:00+00:00", env)
    assert res.returncode == 0, f"{res.stdout[-4000:]}\n{res.stderr[-4000:]}"
    assert pg.query(source_db, f"SELECT {COLUMNS}, loaded_at FROM ohlcv ORDER BY symbol_id") == before
    summaries = airflow.sql("SELECT value FROM xcom WHERE dag_id = 'crypto_prices' AND run_id = ? "
                            "AND task_id = 'extract_transform_load_postgres' AND key = 'return_value'",
                            (_run_id(airflow, "crypto_prices", "2024-01-01 00:05:00"),))
    assert len(summaries) == 3
    for (value,) in summaries:
        text = value.decode() if isinstance(value, bytes) else value
        assert "inserted 0, updated 0, unchanged 1" in text


def test_a_refused_request_fails_that_symbol_at_once_without_retry(airflow, pg, replay, cryptopipe_bin):
    db = pg.create_db("airflow_refused")
    replay.reset()
    # Bitstamp answers 403 for BTC only: exit 4 must fail BTC's task on its first try, the others still load.
    replay.set_faults([{"kind": "status", "status": 403}] * 3, path_prefix="/api/v2/ohlc/btcusd")
    try:
        res = _dags_test(airflow, "crypto_prices", "2024-01-01T00:10:00+00:00",
                         _five_minute_env(cryptopipe_bin, replay, pg, db))
    finally:
        replay.reset()
    states = {m: (s, n) for t, m, s, n in _task_states(airflow, "crypto_prices", "2024-01-01 00:10:00")
              if t == "extract_transform_load_postgres"}
    assert states[0] == ("failed", 1), res.stdout[-4000:]
    assert states[1] == states[2] == ("success", 1)
    assert "exit code 4" in _all_logs(airflow) + res.stdout + res.stderr
    assert [r[0] for r in pg.query(db, "SELECT symbol_id FROM ohlcv ORDER BY 1")] == SYMBOLS[1:]


def test_a_transient_failure_is_retried_and_then_loads(airflow, pg, replay, cryptopipe_bin):
    db = pg.create_db("airflow_transient")
    replay.reset()
    # BTC: 503 for every one of extract's 6 attempts (default --max-attempts) → exit 5 → Airflow retries the
    # task, and the second try finds the API healthy again.
    replay.set_faults([{"kind": "status", "status": 503, "retry_after": 0}] * 6, path_prefix="/api/v2/ohlc/btcusd")
    env = {**_five_minute_env(cryptopipe_bin, replay, pg, db), "CRYPTOPIPE_RETRY_DELAY_SECONDS": "1"}
    try:
        res = _dags_test(airflow, "crypto_prices", "2024-01-01T00:25:00+00:00", env)
    finally:
        replay.reset()
    assert res.returncode == 0, f"{res.stdout[-4000:]}\n{res.stderr[-4000:]}"
    states = {m: (s, n) for t, m, s, n in _task_states(airflow, "crypto_prices", "2024-01-01 00:25:00")
              if t == "extract_transform_load_postgres"}
    assert states == {0: ("success", 2), 1: ("success", 1), 2: ("success", 1)}
    assert "exit code 5" in _all_logs(airflow) + res.stdout + res.stderr
    assert [r[0] for r in pg.query(db, "SELECT symbol_id FROM ohlcv ORDER BY 1")] == SYMBOLS


def _seed_day(cli, pg, db, replay):
    """Candles 2024-01-01 22:00 → 2024-01-02 01:00 for BTC and ETH: the day's last hours plus the next day's first."""
    replay.reset()
    for symbol in SYMBOLS[:2]:
        ex = cli(["extract", "--provider", "bitstamp", "--symbol", symbol, "--start", "2024-01-01T22:00:00Z",
                  "--end", "2024-01-02T01:00:00Z", "--api-base", replay.url])
        assert ex.returncode == 0, ex.stderr
        tr = cli(["transform"], input=ex.stdout)
        assert tr.returncode == 0, tr.stderr
        ld = cli(["load-postgres"], env=pg.env(db), input=tr.stdout)
        assert ld.returncode == 0, ld.stderr


def test_daily_dag_exports_uploads_and_upserts_one_utc_day(airflow, pg, replay, moto, cli, cryptopipe_bin):
    source = pg.create_db("airflow_daily_source")
    warehouse = pg.create_db("airflow_warehouse")
    _seed_day(cli, pg, source, replay)
    bucket = moto.create_bucket("crypto-lake-airflow")
    env = {
        "CRYPTOPIPE_BIN": str(cryptopipe_bin),
        "AIRFLOW_CONN_CRYPTO_POSTGRES": postgres_conn(pg, source, PG_PASSWORD),
        "AIRFLOW_CONN_REDSHIFT_DEFAULT": postgres_conn(pg, warehouse, WAREHOUSE_PASSWORD),
        "AIRFLOW_CONN_AWS_DEFAULT": aws_conn(moto),
        "CRYPTOPIPE_S3_BUCKET": bucket,
        "CRYPTOPIPE_COPY_TARGET": "postgres",  # the warehouse is PostgreSQL here; Redshift in production
    }
    day_rows_sql = (f"SELECT {COLUMNS} FROM ohlcv WHERE time_period_start >= '2024-01-01' "
                    f"AND time_period_start < '2024-01-02' ORDER BY symbol_id, time_period_start")
    expected = pg.query(source, day_rows_sql)
    assert len(expected) == 2 * 24  # 22:00–24:00 for two symbols; the next day's hour is left out below

    # Logical date 2024-01-02 = the day before it, [2024-01-01, 2024-01-02) (see the DAG's doc_md).
    res = _dags_test(airflow, "crypto_prices_load_to_s3_redshift", "2024-01-02", env)
    assert res.returncode == 0, f"{res.stdout[-4000:]}\n{res.stderr[-4000:]}"
    assert {(t, s) for t, _, s, _ in _task_states(airflow, "crypto_prices_load_to_s3_redshift", "2024-01-02 00:00:00")} == {
        ("wait_for_late_candles", "success"), ("export_csv_upload_s3", "success"), ("copy_redshift", "success")}

    key = "ohlcv/period=5MIN/date=2024-01-01/ohlcv.csv.gz"
    body = moto.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    table = list(csv.reader(io.StringIO(gzip.decompress(body).decode())))
    assert table[0] == CANONICAL_HEADER
    assert len(table) - 1 == len(expected)
    assert {r[2][:10] for r in table[1:]} == {"2024-01-01"}

    warehouse_rows = pg.query(warehouse, day_rows_sql)
    assert warehouse_rows == expected
    assert pg.query(warehouse, "SELECT count(*) FROM ohlcv") == [(str(len(expected)),)]
    _assert_no_secret(airflow, res, PG_PASSWORD, WAREHOUSE_PASSWORD, moto.secret_access_key)

    # Rerun: same object key, the warehouse unchanged.
    before = pg.query(warehouse, f"SELECT {COLUMNS}, loaded_at FROM ohlcv ORDER BY 1, 3")
    res = _dags_test(airflow, "crypto_prices_load_to_s3_redshift", "2024-01-02", env)
    assert res.returncode == 0, f"{res.stdout[-4000:]}\n{res.stderr[-4000:]}"
    assert pg.query(warehouse, f"SELECT {COLUMNS}, loaded_at FROM ohlcv ORDER BY 1, 3") == before
    keys = [o["Key"] for o in moto.s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert keys == [key]


RUN_WITHOUT_LOGICAL_DATE = r"""
import json, runpy, sys
sys.path.insert(0, sys.argv[1])
dag = runpy.run_path(sys.argv[1] + "/crypto_prices.py")["dag"]
dag.test(logical_date=None, run_conf=json.loads(sys.argv[2]))
"""


def test_manual_run_without_logical_date_with_coinapi_chosen_by_params(airflow, pg, replay, cryptopipe_bin):
    """A manual run with no logical date (Airflow 3 gives it no data interval either) loads the last 5-minute
    period closed before the run; its conf picks provider and symbols; COINAPI_KEY comes from the
    `coinapi_default` connection and stays out of every log."""
    db = pg.create_db("airflow_no_logical_date")
    replay.reset()
    env = {**_five_minute_env(cryptopipe_bin, replay, pg, db),
           "AIRFLOW_CONN_COINAPI_DEFAULT": json.dumps({"conn_type": "http", "password": replay.coinapi_key})}
    conf = json.dumps({"provider": "coinapi", "symbols": ["COINBASE_SPOT_BTC_USD", "BITSTAMP_SPOT_ETH_USD"]})
    before = int(time.time()) // 300 * 300 - 300
    res = subprocess.run([sys.executable, "-c", RUN_WITHOUT_LOGICAL_DATE, str(DAGS), conf], env=airflow.env(env),
                         capture_output=True, text=True, timeout=400, cwd=airflow.home)
    after = int(time.time()) // 300 * 300 - 300
    assert res.returncode == 0, f"{res.stdout[-4000:]}\n{res.stderr[-4000:]}"
    rows = pg.query(db, "SELECT symbol_id, extract(epoch FROM time_period_start)::bigint, source FROM ohlcv ORDER BY 1")
    assert [(r[0], r[2]) for r in rows] == [("BITSTAMP_SPOT_ETH_USD", "coinapi"), ("COINBASE_SPOT_BTC_USD", "coinapi")]
    assert len({r[1] for r in rows}) == 1 and int(rows[0][1]) in (before, after)
    # It really was a run without logical date and data interval.
    assert airflow.sql("SELECT count(*) FROM dag_run WHERE dag_id = 'crypto_prices' AND logical_date IS NULL "
                       "AND data_interval_start IS NULL") == [(1,)]
    requests = [r for r in replay.requests() if r["path"].startswith("/v1/ohlcv/")]
    assert len(requests) >= 2 and all(r["key_present"] for r in requests)
    _assert_no_secret(airflow, res, replay.coinapi_key)
