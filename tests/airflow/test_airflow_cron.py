"""The cron fallback (dags/cron/cryptopipe-cron) with a fixed clock, against the replay API server, the harness
PostgreSQL and moto: aligned windows, no overlapping runs, idempotent reruns, the command's exit code."""
from __future__ import annotations

import csv
import fcntl
import gzip
import io
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WRAPPER = ROOT / "dags" / "cron" / "cryptopipe-cron"
SYMBOLS = ["BITSTAMP_SPOT_BTC_USD", "BITSTAMP_SPOT_ETH_USD", "BITSTAMP_SPOT_XRP_USD"]
PG_PASSWORD = "cron-Secret-5e6f"


@pytest.fixture
def cron(tmp_path, pg, replay, cryptopipe_bin):
    """Runs the wrapper with a clean env: the given clock, its own log and lock dirs, and a fresh database."""
    db = pg.create_db("cron")
    lock_dir = tmp_path / "lock"
    lock_dir.mkdir()
    log_file = tmp_path / "log" / "cron.log"

    def run(job, now, extra=None, timeout=120):
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(tmp_path),
            "LANG": "C.UTF-8",
            "CRYPTOPIPE_ENV_FILE": str(tmp_path / "absent.env"),
            "CRYPTOPIPE_BIN": str(cryptopipe_bin),
            "CRYPTOPIPE_API_BASE": replay.url,
            "CRYPTOPIPE_NOW": now,
            "CRYPTOPIPE_LOG_FILE": str(log_file),
            "CRYPTOPIPE_LOCK_DIR": str(lock_dir),
            "PGPASSWORD": PG_PASSWORD,  # trust auth ignores it; it must never be logged
            **pg.env(db),
            **(extra or {}),
        }
        return subprocess.run([str(WRAPPER), job], env=env, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)

    run.db = db
    run.log = log_file
    run.lock_dir = lock_dir
    return run


def _rows(pg, db):
    return pg.query(db, "SELECT symbol_id, time_period_start, loaded_at FROM ohlcv ORDER BY 1, 2")


def test_five_minute_job_loads_the_last_closed_window(cron, pg, replay):
    replay.reset()
    res = cron("five-minute", "2024-01-01T00:07:42Z")
    assert res.returncode == 0, cron.log.read_text()
    # 00:07:42 → the window that closed last, [00:00, 00:05), for each default symbol.
    assert [(s, t) for s, t, _ in _rows(pg, cron.db)] == [(s, "2024-01-01 00:00:00+00") for s in SYMBOLS]
    log = cron.log.read_text()
    assert "start [2024-01-01T00:00:00Z, 2024-01-01T00:05:00Z)" in log
    assert "done [2024-01-01T00:00:00Z, 2024-01-01T00:05:00Z) exit 0" in log
    assert PG_PASSWORD not in log
    starts = {tuple(r["query"]["start"]) for r in replay.requests() if r["path"].startswith("/api/v2/ohlc/")}
    assert starts == {("1704067200",)}


@pytest.mark.parametrize("now, expected", [
    ("2024-01-01T00:10:00Z", "2024-01-01 00:05:00+00"),   # on a boundary: the window ending now
    ("2024-01-01T00:14:59Z", "2024-01-01 00:05:00+00"),
    ("2024-01-01T00:15:00.5+00:00", "2024-01-01 00:10:00+00"),
])
def test_windows_are_aligned_on_five_minutes(cron, pg, replay, now, expected):
    replay.reset()
    res = cron("five-minute", now, {"CRYPTOPIPE_SYMBOLS": "BITSTAMP_SPOT_BTC_USD"})
    assert res.returncode == 0, cron.log.read_text()
    assert [(s, t) for s, t, _ in _rows(pg, cron.db)] == [("BITSTAMP_SPOT_BTC_USD", expected)]


def test_rerun_of_the_same_window_changes_nothing(cron, pg, replay):
    replay.reset()
    assert cron("five-minute", "2024-01-01T00:05:00Z").returncode == 0
    before = _rows(pg, cron.db)
    res = cron("five-minute", "2024-01-01T00:09:00Z")
    assert res.returncode == 0, cron.log.read_text()
    assert _rows(pg, cron.db) == before
    assert cron.log.read_text().count("inserted 0, updated 0, unchanged 1") == 3


def _hold_lock(lock_file: Path, release: threading.Event, started: threading.Event, seconds: float = 60):
    """Holds the job's lock (flock(2), as flock(1) takes it) until `release` is set or `seconds` pass."""
    with open(lock_file, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        started.set()
        release.wait(seconds)


def test_an_overlapping_run_exits_cleanly_without_touching_anything(cron, pg, replay):
    replay.reset()
    started, release = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold_lock,
                              args=(cron.lock_dir / "cryptopipe-cron-five-minute.lock", release, started))
    holder.start()
    try:
        assert started.wait(10)
        # Returns while the lock is still held: it did not wait (if it did, it would time out here).
        res = cron("five-minute", "2024-01-01T00:07:00Z", timeout=30)
        still_held = holder.is_alive()
    finally:
        release.set()
        holder.join()
    assert res.returncode == 0
    assert still_held
    assert "skipped [2024-01-01T00:00:00Z, 2024-01-01T00:05:00Z): a previous run still holds" in cron.log.read_text()
    assert replay.requests() == []
    assert pg.query(cron.db, "SELECT to_regclass('ohlcv') IS NULL") == [("t",)]


def test_an_overlapping_run_may_wait_for_the_lock(cron, pg, replay):
    replay.reset()
    started, release = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold_lock,
                              args=(cron.lock_dir / "cryptopipe-cron-five-minute.lock", release, started, 1.5))
    holder.start()
    try:
        assert started.wait(10)
        t0 = time.monotonic()
        res = cron("five-minute", "2024-01-01T00:07:00Z", {"CRYPTOPIPE_LOCK_WAIT": "30"})
        elapsed = time.monotonic() - t0
    finally:
        release.set()
        holder.join()
    assert res.returncode == 0, cron.log.read_text()
    assert elapsed >= 1.0  # waited for the holder, then ran
    assert len(_rows(pg, cron.db)) == 3


def test_exit_code_is_the_failing_commands(cron, pg, replay):
    replay.reset()
    replay.set_faults([{"kind": "status", "status": 403}], path_prefix="/api/v2/ohlc/ethusd")
    try:
        res = cron("five-minute", "2024-01-01T00:07:00Z")
    finally:
        replay.reset()
    log = cron.log.read_text()
    assert res.returncode == 4, log  # remote refused, as cryptopipe said
    assert "cryptopipe: error: extract" in log
    assert "BITSTAMP_SPOT_ETH_USD failed with exit code 4" in log
    # The other symbols still got their window.
    assert [s for s, _, _ in _rows(pg, cron.db)] == [SYMBOLS[0], SYMBOLS[2]]


def test_usage_error_exits_2(cron):
    res = cron("hourly", "2024-01-01T00:07:00Z")
    assert res.returncode == 2
    assert "usage: cryptopipe-cron five-minute|daily" in res.stderr


@pytest.mark.slow
def test_daily_job_exports_the_previous_utc_day_to_s3_and_the_warehouse(cron, pg, replay, moto, cli):
    replay.reset()
    # The 5-minute job loads 23:50 and 23:55 of 2024-01-01, and 00:00 of 2024-01-02 (outside the day).
    for now in ("2024-01-01T23:55:10Z", "2024-01-02T00:00:10Z", "2024-01-02T00:05:10Z"):
        assert cron("five-minute", now, {"CRYPTOPIPE_SYMBOLS": "BITSTAMP_SPOT_BTC_USD"}).returncode == 0
    warehouse = pg.create_db("cron_warehouse")
    bucket = moto.create_bucket("crypto-lake-cron")
    extra = {
        **moto.env(),
        "CRYPTOPIPE_S3_BUCKET": bucket,
        "CRYPTOPIPE_COPY_TARGET": "postgres",
        "CRYPTOPIPE_WAREHOUSE_PGDATABASE": warehouse,
    }
    res = cron("daily", "2024-01-02T00:15:00Z", extra)
    log = cron.log.read_text()
    assert res.returncode == 0, log
    assert "2024-01-01 [2024-01-01T00:00:00Z, 2024-01-02T00:00:00Z)" in log
    for secret in (PG_PASSWORD, moto.secret_access_key):
        assert secret not in log

    body = moto.s3.get_object(Bucket=bucket, Key="ohlcv/period=5MIN/date=2024-01-01/ohlcv.csv.gz")["Body"].read()
    rows = list(csv.reader(io.StringIO(gzip.decompress(body).decode())))[1:]
    assert [(r[0], r[2]) for r in rows] == [("BITSTAMP_SPOT_BTC_USD", "2024-01-01 23:50:00+00"),
                                           ("BITSTAMP_SPOT_BTC_USD", "2024-01-01 23:55:00+00")]
    day = "SELECT symbol_id, time_period_start, price_close FROM ohlcv WHERE time_period_start < '2024-01-02' ORDER BY 2"
    assert pg.query(warehouse, "SELECT symbol_id, time_period_start, price_close FROM ohlcv ORDER BY 2") \
        == pg.query(cron.db, day)

    before = pg.query(warehouse, "SELECT *, loaded_at FROM ohlcv ORDER BY 1, 3")
    assert cron("daily", "2024-01-02T03:00:00Z", extra).returncode == 0  # rerun, same day
    assert pg.query(warehouse, "SELECT *, loaded_at FROM ohlcv ORDER BY 1, 3") == before
