"""Issue 7, fault matrix: under the faults a production pipeline meets, cryptopipe finishes correctly or fails
cleanly with nothing half-written. Real services only: the replay API server (its admin fault API), real
PostgreSQL clusters (a dedicated one for the destructive tests), moto behind a small fault-injecting proxy, real
read-only and full filesystems (tmpfs mounts).

tests/integration/test_five_minute_leg.py already covers: 429 + Retry-After (seconds and HTTP-date) then OK, 500
forever bounded by --max-attempts, truncate/reset/truncated_json once then OK, truncated forever. This file adds
the rest of the matrix.
"""
from __future__ import annotations

import datetime as dt
import os
import shlex
import signal
import subprocess
import time
from decimal import Decimal
from pathlib import Path

import pytest

import replay_server as rs
from harness import base_env
from rel_helpers import (HEADER, assert_one_error_line, big_canonical_csv, csv_row, popen_cli, sigterm_and_wait,
                         wait_until)

D0 = rs.FIXTURE_START
BTC = "BITSTAMP_SPOT_BTC_USD"


def iso(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def pipeline(binary, provider, symbol, start, end, env, extract_args=(), timeout=180):
    b = shlex.quote(str(binary))
    ex = " ".join(map(shlex.quote, ["--provider", provider, "--symbol", symbol, "--start", iso(start), "--end",
                                    iso(end), *extract_args]))
    script = f"set -o pipefail; {b} extract {ex} | {b} transform | {b} load-postgres"
    return subprocess.run(["bash", "-c", script], env=base_env(env), capture_output=True, text=True, timeout=timeout)


def expected(provider, symbol, start, end, overrides=None) -> list[tuple]:
    out = []
    for c in rs.fixture_candles(provider, symbol, start, end, "5MIN", overrides):
        out.append((str(c["time_period_start"]), *(rs.plain_decimal(c[f]) for f in
                    ("price_open", "price_high", "price_low", "price_close", "volume_traded"))))
    return out


def loaded(pg, db, symbol) -> list[tuple]:
    return pg.query(db, f"""SELECT extract(epoch FROM time_period_start)::bigint::text, price_open::text,
        price_high::text, price_low::text, price_close::text, volume_traded::text FROM ohlcv
        WHERE symbol_id = '{symbol}' ORDER BY time_period_start""")


def api_requests(replay, prefix):
    return [r for r in replay.requests() if r["path"].startswith(prefix)]


@pytest.fixture
def db(pg):
    return pg.create_db("faults")


@pytest.fixture
def env(pg, db, replay_clean):
    return {**pg.env(db), "CRYPTOPIPE_API_BASE": replay_clean.url, "COINAPI_KEY": replay_clean.coinapi_key}


# ================================================================================================
# API faults
# ================================================================================================

@pytest.mark.parametrize("statuses", [[500, 502, 503], [503, 503], [502]], ids=["500-502-503", "503x2", "502"])
def test_api_5xx_burst_is_retried_then_lands_exact_rows(cryptopipe_bin, pg, db, env, replay_clean, statuses):
    replay_clean.set_faults([{"kind": "status", "status": s} for s in statuses], path_prefix="/api/v2")
    res = pipeline(cryptopipe_bin, "bitstamp", BTC, D0, D0 + 3600, env)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "inserted 12, updated 0, unchanged 0"
    assert [r["status"] for r in api_requests(replay_clean, "/api/v2/")] == statuses + [200]
    assert loaded(pg, db, BTC) == expected("bitstamp", BTC, D0, D0 + 3600)


def test_api_503_burst_longer_than_attempts_is_exit_5_bounded(cli, replay_clean):
    replay_clean.set_faults([{"kind": "status", "status": 503}] * 20, path_prefix="/v1")
    res = cli(["extract", "--provider", "coinapi", "--symbol", BTC, "--start", iso(D0), "--end", iso(D0 + 3600),
               "--max-attempts", "4", "--api-base", replay_clean.url],
              env={"COINAPI_KEY": replay_clean.coinapi_key}, timeout=120)
    assert res.returncode == 5, res.stderr
    assert_one_error_line(res.stderr, "extract", "503", "/v1/ohlcv/")
    assert len(api_requests(replay_clean, "/v1/")) == 4
    assert res.stdout == ""


def test_api_429_forever_is_exit_5_and_bounded(cli, replay_clean):
    replay_clean.set_faults([{"kind": "status", "status": 429, "retry_after": "1"}] * 20, path_prefix="/api/v2")
    t0 = time.monotonic()
    res = cli(["extract", "--provider", "bitstamp", "--symbol", BTC, "--start", iso(D0), "--end", iso(D0 + 3600),
               "--max-attempts", "3", "--api-base", replay_clean.url], timeout=120)
    assert res.returncode == 5, res.stderr
    assert_one_error_line(res.stderr, "extract", "429")
    reqs = api_requests(replay_clean, "/api/v2/")
    assert len(reqs) == 3
    assert all(b["time"] - a["time"] >= 0.9 for a, b in zip(reqs, reqs[1:])), "Retry-After: 1 not honoured"
    assert time.monotonic() - t0 < 30


def test_api_429_retry_after_beyond_deadline_fails_fast(cli, replay_clean):
    """A Retry-After of an hour must not park the task for an hour: the --deadline bounds it."""
    replay_clean.set_faults([{"kind": "status", "status": 429, "retry_after": "3600"}], path_prefix="/v1")
    t0 = time.monotonic()
    res = cli(["extract", "--provider", "coinapi", "--symbol", BTC, "--start", iso(D0), "--end", iso(D0 + 3600),
               "--deadline", "5", "--api-base", replay_clean.url], env={"COINAPI_KEY": replay_clean.coinapi_key})
    assert res.returncode == 5, res.stderr
    assert_one_error_line(res.stderr, "extract", "429")
    assert time.monotonic() - t0 < 10


def test_api_reset_mid_body_forever_is_exit_5(cli, replay_clean):
    replay_clean.set_faults([{"kind": "reset"}] * 20, path_prefix="/api/v2")
    res = cli(["extract", "--provider", "bitstamp", "--symbol", BTC, "--start", iso(D0), "--end", iso(D0 + 3600),
               "--max-attempts", "3", "--api-base", replay_clean.url], timeout=120)
    assert res.returncode == 5, res.stderr
    assert_one_error_line(res.stderr, "extract", "/api/v2/ohlc/btcusd")
    assert len(api_requests(replay_clean, "/api/v2/")) == 3


def test_api_stall_past_timeout_is_retried(cryptopipe_bin, pg, db, env, replay_clean):
    replay_clean.set_faults([{"kind": "stall", "seconds": 8}], path_prefix="/v1")
    t0 = time.monotonic()
    res = pipeline(cryptopipe_bin, "coinapi", BTC, D0, D0 + 3600, env, extract_args=["--timeout", "1"])
    assert res.returncode == 0, res.stderr
    assert time.monotonic() - t0 < 7, "the stalled request was not abandoned at --timeout"
    assert res.stdout.strip() == "inserted 12, updated 0, unchanged 0"
    assert len(api_requests(replay_clean, "/v1/")) == 2
    assert loaded(pg, db, BTC) == expected("coinapi", BTC, D0, D0 + 3600)


def test_api_stall_forever_is_exit_5_in_bounded_time(cli, replay_clean):
    replay_clean.set_faults([{"kind": "stall", "seconds": 30}] * 5, path_prefix="/v1")
    t0 = time.monotonic()
    res = cli(["extract", "--provider", "coinapi", "--symbol", BTC, "--start", iso(D0), "--end", iso(D0 + 3600),
               "--timeout", "1", "--max-attempts", "2", "--api-base", replay_clean.url],
              env={"COINAPI_KEY": replay_clean.coinapi_key}, timeout=60)
    assert res.returncode == 5, res.stderr
    assert_one_error_line(res.stderr, "extract", "/v1/ohlcv/")
    assert time.monotonic() - t0 < 10


@pytest.mark.parametrize("kind", ["html200", "empty"])
def test_api_200_that_is_not_json_is_retried(cryptopipe_bin, pg, db, env, replay_clean, kind):
    replay_clean.set_faults([{"kind": kind}], path_prefix="/api/v2")
    res = pipeline(cryptopipe_bin, "bitstamp", BTC, D0, D0 + 3600, env)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "inserted 12, updated 0, unchanged 0"
    assert len(api_requests(replay_clean, "/api/v2/")) == 2
    assert loaded(pg, db, BTC) == expected("bitstamp", BTC, D0, D0 + 3600)


def test_api_html200_forever_is_exit_5_naming_the_url(cli, replay_clean):
    replay_clean.set_faults([{"kind": "html200"}] * 10, path_prefix="/api/v2")
    res = cli(["extract", "--provider", "bitstamp", "--symbol", BTC, "--start", iso(D0), "--end", iso(D0 + 3600),
               "--max-attempts", "2", "--api-base", replay_clean.url])
    assert res.returncode == 5, res.stderr
    assert_one_error_line(res.stderr, "extract", "/api/v2/ohlc/btcusd", "json")
    assert "<html" not in res.stderr.lower() or len(res.stderr) < 2000


def test_api_empty_page_for_the_whole_window_loads_nothing(cryptopipe_bin, pg, db, env, replay_clean):
    replay_clean.set_faults([{"kind": "empty_page"}], path_prefix="/api/v2")
    res = pipeline(cryptopipe_bin, "bitstamp", BTC, D0, D0 + 3600, env)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "inserted 0, updated 0, unchanged 0"
    assert len(api_requests(replay_clean, "/api/v2/")) == 1  # no loop on an empty answer


@pytest.mark.xfail(strict=True, reason="extract stops paging at the first empty page (lib/pipeline/extract.cpp "
                   "`if (page.entries == 0 ...) break`), so an empty page in the middle of a window ends the run with "
                   "exit 0 and the rest of the window silently missing (here 152 of 1152 candles)")
def test_api_empty_page_mid_window_is_not_silent_data_loss(cryptopipe_bin, pg, db, env, replay_clean):
    # page 1 is exactly what the server would answer (1000 candles); page 2 comes back empty
    page1 = rs.render_bitstamp("BTC/USD", rs.fixture_candles("bitstamp", BTC, D0, D0 + 1000 * 300)).decode()
    replay_clean.set_faults([{"kind": "body", "status": 200, "body": page1}, {"kind": "empty_page"}],
                            path_prefix="/api/v2")
    res = pipeline(cryptopipe_bin, "bitstamp", BTC, D0, D0 + 4 * 86400, env)
    n = int(pg.query(db, "SELECT count(*) FROM ohlcv")[0][0]) if res.returncode == 0 else 0
    assert res.returncode != 0 or n == 1152, f"exit 0 with {n} of 1152 candles"


def test_api_duplicate_and_out_of_order_candles_across_pages(cryptopipe_bin, pg, db, env, replay_clean):
    """Page 1 is out of order and repeats a candle; page 2 repeats page 1's last candle with a corrected volume.
    The table must hold each candle once, page 2's correction winning."""
    cs = rs.fixture_candles("bitstamp", BTC, D0, D0 + 3600)  # 12 candles
    fixed = dict(cs[6], volume_traded="9.99999999")
    page1 = [cs[2], cs[0], cs[1], cs[1], cs[4], cs[3], cs[5], cs[6]] + [cs[6]] * 4  # 12 entries, last start cs[6]
    page2 = [fixed, cs[9], cs[7], cs[8], cs[10], cs[11], cs[11]]
    replay_clean.set_faults([
        {"kind": "body", "status": 200, "body": rs.render_bitstamp("BTC/USD", page1).decode()},
        {"kind": "body", "status": 200, "body": rs.render_bitstamp("BTC/USD", page2).decode()},
    ], path_prefix="/api/v2")
    res = pipeline(cryptopipe_bin, "bitstamp", BTC, D0, D0 + 3600, env)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "inserted 12, updated 0, unchanged 0"
    want = expected("bitstamp", BTC, D0, D0 + 3600, {("bitstamp", BTC, "5MIN", cs[6]["time_period_start"]):
                                                     {"volume_traded": "9.99999999"}})
    assert loaded(pg, db, BTC) == want
    assert pg.query(db, "SELECT count(*) = count(DISTINCT (symbol_id, period_id, time_period_start)) FROM ohlcv") \
        == [("t",)]


def test_api_provider_error_body_is_exit_4_with_its_message(cli, replay_clean):
    replay_clean.set_faults([{"kind": "status", "status": 403,
                              "body": '{"error": "Forbidden: your quota of 100 requests is used up"}'}],
                            path_prefix="/v1")
    res = cli(["extract", "--provider", "coinapi", "--symbol", BTC, "--start", iso(D0), "--end", iso(D0 + 3600),
               "--api-base", replay_clean.url], env={"COINAPI_KEY": replay_clean.coinapi_key})
    assert res.returncode == 4, res.stderr
    assert_one_error_line(res.stderr, "extract", "403", "quota of 100 requests")
    assert len(api_requests(replay_clean, "/v1/")) == 1  # a 4xx is not retried


def test_api_bitstamp_error_object_with_200_is_a_clear_error(cli, replay_clean):
    replay_clean.set_faults([{"kind": "body", "status": 200,
                              "body": '{"status": "error", "reason": "Invalid currency pair", "code": "API0003"}'}],
                            path_prefix="/api/v2")
    res = cli(["extract", "--provider", "bitstamp", "--symbol", BTC, "--start", iso(D0), "--end", iso(D0 + 3600),
               "--api-base", replay_clean.url])
    assert res.returncode in (3, 4), res.stderr
    assert_one_error_line(res.stderr, "extract", "Invalid currency pair")
    assert res.stdout == ""


# ================================================================================================
# PostgreSQL faults
# ================================================================================================

@pytest.fixture(scope="module")
def own_pg(pg):
    """A dedicated PostgreSQL cluster for destructive tests (stopped, killed, restarted): never the session one."""
    server = type(pg)()
    server.start()
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture(scope="module")
def big_csv(tmp_path_factory) -> tuple[Path, int]:
    path = tmp_path_factory.mktemp("bigcsv") / "big.csv"
    n = big_canonical_csv(path, symbols=40, candles_per_symbol=5000)  # 200k rows, ~45 MB
    return path, n


def _feed_until_copy_active(proc, data: bytes, pg_server, dbname, first=8 << 20):
    """Writes the first `first` bytes to the loader's stdin and waits until its COPY is running in the server."""
    proc.stdin.write(data[:first])
    proc.stdin.flush()
    wait_until(lambda: pg_server.query("postgres", f"SELECT count(*) FROM pg_stat_activity WHERE datname = "
                                       f"'{dbname}' AND query ILIKE 'COPY%'")[0][0] != "0", 30,
               what="the COPY to start")


def test_pg_down_at_start_is_exit_5(cli, own_pg, tmp_path):
    db = own_pg.create_db("down_at_start")
    src = tmp_path / "rows.csv"
    src.write_text(HEADER + "\n" + csv_row() + "\n")
    own_pg.stop("fast")
    try:
        t0 = time.monotonic()
        res = cli(["load-postgres", "-i", src], env=own_pg.env(db), timeout=60)
        assert res.returncode == 5, res.stderr
        assert_one_error_line(res.stderr, "load-postgres", f"{own_pg.port}")
        assert res.stdout == ""
        assert time.monotonic() - t0 < 15
    finally:
        own_pg.start()
    again = cli(["load-postgres", "-i", src], env=own_pg.env(db))
    assert again.returncode == 0 and again.stdout.strip() == "inserted 1, updated 0, unchanged 0", again.stderr


def test_pg_stopped_mid_copy_leaves_no_rows_and_rerun_is_exact(cryptopipe_bin, cli, own_pg, big_csv):
    path, n = big_csv
    data = path.read_bytes()
    db = own_pg.create_db("mid_copy")
    env = own_pg.env(db)
    proc = popen_cli(cryptopipe_bin, ["load-postgres"], env=env, stdin=subprocess.PIPE)
    try:
        _feed_until_copy_active(proc, data, own_pg, db)
        own_pg.stop("immediate")
        try:
            proc.stdin.write(data[8 << 20:])
            proc.stdin.close()
        except (BrokenPipeError, ValueError):
            pass
        _, err = proc.communicate(timeout=60)
        err = err.decode(errors="replace")
        assert proc.returncode not in (0, None), err
        assert proc.returncode == 5, f"exit {proc.returncode}: {err}"  # the server went away: transient
        assert_one_error_line(err, "load-postgres")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if not own_pg.is_running():
            own_pg.start()
    # the table may not even exist (created in the same transaction as the COPY): either way no partial rows
    if own_pg.query(db, "SELECT to_regclass('public.ohlcv') IS NOT NULL") == [("t",)]:
        assert own_pg.query(db, "SELECT count(*) FROM ohlcv") == [("0",)], "partial rows after the crash"
    rerun = cli(["load-postgres", "-i", path], env=env, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert rerun.stdout.strip() == f"inserted {n}, updated 0, unchanged 0"
    got = own_pg.query(db, "SELECT count(*), count(DISTINCT (symbol_id, time_period_start)), "
                           "sum(volume_traded)::text FROM ohlcv")
    want_vol = sum(Decimal(f"{i}.{s:08d}") for s in range(40) for i in range(5000))
    assert got == [(str(n), str(n), str(want_vol))]


def test_pg_sigterm_during_load_rolls_back_and_exits_within_2s(cryptopipe_bin, cli, own_pg, big_csv):
    path, n = big_csv
    data = path.read_bytes()
    db = own_pg.create_db("sigterm")
    env = own_pg.env(db)
    seed = path.with_name("seed.csv")
    seed.write_text(HEADER + "\n" + csv_row() + "\n")
    assert cli(["load-postgres", "-i", seed], env=env).returncode == 0
    proc = popen_cli(cryptopipe_bin, ["load-postgres"], env=env, stdin=subprocess.PIPE)
    try:
        _feed_until_copy_active(proc, data, own_pg, db)
        rc, took = sigterm_and_wait(proc, timeout=5)
        err = proc.stderr.read().decode(errors="replace")
        assert rc != 0, err
        assert took < 2.0, f"took {took:.2f}s to exit after SIGTERM"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        try:
            proc.stdin.close()
        except BrokenPipeError:
            pass
    # the server side is gone too: no backend left holding the transaction or its locks
    wait_until(lambda: own_pg.query("postgres", f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{db}'")
               == [("0",)], 10, what="the loader's backend to end")
    assert own_pg.query(db, "SELECT count(*) FROM ohlcv") == [("1",)], "rows of the killed load are visible"
    again = cli(["load-postgres", "-i", path], env=env, timeout=300)
    assert again.returncode == 0 and again.stdout.strip() == f"inserted {n}, updated 0, unchanged 0", again.stderr


def test_pg_two_overlapping_loads_at_once_no_duplicates_no_deadlock(cryptopipe_bin, pg, tmp_path):
    """Two load-postgres of overlapping windows at the same time, three rounds, starting with no table at all
    (both race to create it)."""
    db = pg.create_db("overlap")
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    big_canonical_csv(a, symbols=10, candles_per_symbol=2000)
    big_canonical_csv(b, symbols=10, candles_per_symbol=2000, start_epoch=1704067200 + 1000 * 300)
    unique = 10 * 3000
    for round_ in range(3):
        procs = [popen_cli(cryptopipe_bin, ["load-postgres", "-i", p], env=pg.env(db)) for p in (a, b)]
        outs = [p.communicate(timeout=300) for p in procs]
        for p, (out, err) in zip(procs, outs):
            err = err.decode(errors="replace")
            assert p.returncode == 0, f"round {round_}: exit {p.returncode}: {err}"
            assert "deadlock" not in err.lower(), err
        if round_ == 0:
            counts = sorted(o.decode().strip() for o, _ in outs)
            # together they inserted every key exactly once; the overlap was updated-or-unchanged by the second
            ins = sum(int(c.split()[1].rstrip(",")) for c in counts)
            assert ins == unique, counts
    assert pg.query(db, "SELECT count(*), count(DISTINCT (symbol_id, period_id, time_period_start)) FROM ohlcv") == \
        [(str(unique), str(unique))]


def test_sigterm_to_the_whole_pipeline_mid_extract_loads_nothing(cryptopipe_bin, pg, db, env, replay_clean):
    """What Airflow does on kill: SIGTERM to the task's process group while extract is mid-window (page 1 done,
    page 2 stalled). All three processes end within 2 s and nothing reaches the table."""
    replay_clean.set_faults([{"kind": "body", "status": 200, "body": rs.render_bitstamp(
        "BTC/USD", rs.fixture_candles("bitstamp", BTC, D0, D0 + 1000 * 300)).decode()},
        {"kind": "stall", "seconds": 20}], path_prefix="/api/v2")
    b = shlex.quote(str(cryptopipe_bin))
    script = (f"set -o pipefail; {b} extract --provider bitstamp --symbol {BTC} --start {iso(D0)} "
              f"--end {iso(D0 + 4 * 86400)} | {b} transform | {b} load-postgres")
    proc = subprocess.Popen(["bash", "-c", script], env=base_env(env), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        wait_until(lambda: len(api_requests(replay_clean, "/api/v2/")) >= 2, 30, what="page 2 to be requested")
        wait_until(lambda: pg.query("postgres", f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{db}'")
                   != [("0",)], 30, what="load-postgres to connect")
        t0 = time.monotonic()
        os.killpg(proc.pid, signal.SIGTERM)
        proc.communicate(timeout=5)
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode != 0
    assert took < 2.0, f"{took:.2f}s to end after SIGTERM"
    def alive():
        out = subprocess.run(["ps", "-o", "pid=,stat=,args=", "-g", str(proc.pid)], capture_output=True,
                             text=True).stdout
        return [x for x in out.splitlines() if x.split()[1][0] != "Z"]  # zombies await their reaper: gone
    time.sleep(0.5)
    assert alive() == [], f"processes of the pipeline still running after SIGTERM: {alive()}"
    wait_until(lambda: pg.query("postgres", f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{db}'")
               == [("0",)], 10, what="the loader's backend to end")
    exists = pg.query(db, "SELECT to_regclass('public.ohlcv') IS NOT NULL")[0][0] == "t"
    assert not exists or pg.query(db, "SELECT count(*) FROM ohlcv") == [("0",)]


def test_load_postgres_stderr_has_only_cryptopipe_lines(cli, pg, tmp_path):
    db = pg.create_db("notices")
    src = tmp_path / "rows.csv"
    src.write_text(HEADER + "\n" + csv_row() + "\n")
    for _ in range(2):
        res = cli(["load-postgres", "-i", src, "--log-format", "json"], env=pg.env(db))
        assert res.returncode == 0, res.stderr
    stray = [x for x in res.stderr.splitlines() if x and not x.startswith(("{", "cryptopipe: "))]
    assert stray == [], stray


# ================================================================================================
# Disk: read-only and full directories (real tmpfs mounts)
# ================================================================================================

@pytest.fixture
def mounts(tmp_path):
    mounted = []

    def mount(name: str, opts: str) -> Path:
        d = tmp_path / name
        d.mkdir()
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(d)], capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN): {r.stderr.strip()}")
        mounted.append(d)
        return d

    yield mount
    for d in reversed(mounted):
        subprocess.run(["umount", "-l", str(d)], capture_output=True)


def _raw_file(cli, replay, tmp_path, hours=24) -> Path:
    raw = tmp_path / "raw.jsonl"
    res = cli(["extract", "--provider", "bitstamp", "--symbol", BTC, "--start", iso(D0), "--end",
               iso(D0 + hours * 3600), "-o", raw], env={"CRYPTOPIPE_API_BASE": replay.url})
    assert res.returncode == 0, res.stderr
    return raw


def test_transform_into_read_only_dir_is_clear_error_no_file(cli, replay_clean, tmp_path, mounts):
    raw = _raw_file(cli, replay_clean, tmp_path)
    ro = mounts("ro", "ro,size=1m")
    res = cli(["transform", "-i", raw, "-o", ro / "candles.csv"])
    assert res.returncode != 0
    assert res.returncode in (1, 2), res.stderr
    assert_one_error_line(res.stderr, "transform", str(ro / "candles.csv"), alternatives=("read-only",))
    assert list(ro.iterdir()) == []


def test_transform_into_full_disk_is_clear_error_no_partial_file(cli, replay_clean, tmp_path, mounts):
    raw = _raw_file(cli, replay_clean, tmp_path, hours=96)  # ~1152 rows, ~200 KB of CSV
    full = mounts("full", "size=64k")
    res = cli(["transform", "-i", raw, "-o", full / "candles.csv"])
    assert res.returncode == 1, res.stderr
    assert_one_error_line(res.stderr, "transform", "candles.csv", alternatives=("no space",))
    assert list(full.iterdir()) == [], "a partial or temp file was left on the full disk"


def _export_or_skip(res):
    if "not yet implemented" in res.stderr:
        pytest.skip("export-csv is not implemented yet in this build")


def _seeded_db(cli, pg, tmp_path, n_rows=2000) -> str:
    db = pg.create_db("export_disk")
    src = tmp_path / "seed.csv"
    big_canonical_csv(src, symbols=1, candles_per_symbol=n_rows)  # 2024-01-01 .. 2024-01-07
    res = cli(["load-postgres", "-i", src], env=pg.env(db))
    assert res.returncode == 0, res.stderr
    return db


def test_export_csv_into_read_only_dir_is_clear_error_no_file(cli, pg, tmp_path, mounts):
    db = _seeded_db(cli, pg, tmp_path)
    ro = mounts("ro", "ro,size=1m")
    res = cli(["export-csv", "--date", "2024-01-01", "-o", ro / "ohlcv.csv"], env=pg.env(db))
    _export_or_skip(res)
    assert res.returncode in (1, 2), res.stderr
    assert_one_error_line(res.stderr, "export-csv", "ohlcv.csv", alternatives=("read-only",))
    assert list(ro.iterdir()) == []


@pytest.mark.parametrize("gzip", [False, True], ids=["plain", "gzip"])
def test_export_csv_into_full_disk_is_clear_error_no_partial_file(cli, pg, tmp_path, mounts, gzip):
    db = _seeded_db(cli, pg, tmp_path)
    full = mounts("full", "size=16k")
    out = full / ("ohlcv.csv.gz" if gzip else "ohlcv.csv")
    res = cli(["export-csv", "--start", "2024-01-01", "--end", "2024-01-08", "-o", out,
               *(["--gzip"] if gzip else [])], env=pg.env(db))
    _export_or_skip(res)
    assert res.returncode == 1, res.stderr
    assert_one_error_line(res.stderr, "export-csv", out.name, alternatives=("no space",))
    assert list(full.iterdir()) == [], "a partial or temp file was left on the full disk"


# ================================================================================================
# S3 faults (moto behind tests/reliability/fault_proxy.py; signatures still checked by moto)
# ================================================================================================

MiB = 1 << 20


@pytest.fixture
def s3_proxy(moto):
    from fault_proxy import FaultProxy
    host, port = moto.endpoint.rsplit("/", 1)[-1].split(":")
    proxy = FaultProxy(host, int(port))
    yield proxy
    proxy.close()


@pytest.fixture
def s3_file(tmp_path) -> Path:
    p = tmp_path / "export.csv.gz"
    p.write_bytes(os.urandom(17 * MiB))  # 4 parts of 5 MiB (the last one 2 MiB)
    return p


def _bucket(moto) -> str:
    return moto.create_bucket("faults-" + os.urandom(4).hex())


def _upload_args(src, bucket, key, proxy, *extra):
    return ["upload-s3", src, f"s3://{bucket}/{key}", "--endpoint-url", proxy.endpoint, "--part-size", "5MiB",
            "--multipart-threshold", "5MiB", "--concurrency", "2", *extra]


def _no_upload_left(moto, bucket, key):
    assert moto.s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == [], "multipart upload left behind"
    keys = [o["Key"] for o in moto.s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert key not in keys, "an object exists after a failed upload"


def _object_bytes(moto, bucket, key) -> bytes:
    return moto.s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def _parts(proxy, outcome=None):
    return [(q.get("partNumber", ["?"])[0], o) for (m, p, q, o, t) in proxy.log
            if m == "PUT" and "partNumber" in q and (outcome is None or o == outcome)]


def test_s3_server_down_is_exit_5_bounded(cli, moto, s3_file):
    from harness import free_port
    bucket = _bucket(moto)
    t0 = time.monotonic()
    res = cli(["upload-s3", s3_file, f"s3://{bucket}/k.csv.gz", "--endpoint-url", f"http://127.0.0.1:{free_port()}",
               "--max-attempts", "2"], env=moto.env(), timeout=120)
    assert res.returncode == 5, res.stderr
    assert_one_error_line(res.stderr, "upload-s3", f"s3://{bucket}/k.csv.gz")
    assert time.monotonic() - t0 < 30
    _no_upload_left(moto, bucket, "k.csv.gz")


def test_s3_part_failing_with_500_is_retried_object_exact(cli, moto, s3_proxy, s3_file):
    from fault_proxy import is_upload_part
    bucket = _bucket(moto)
    s3_proxy.rules.append({"match": lambda m, p, q: is_upload_part(m, p, q) and q["partNumber"] == ["2"],
                           "action": "status", "status": 500, "times": 2})
    res = cli(_upload_args(s3_file, bucket, "k.csv.gz", s3_proxy), env=moto.env(), timeout=180)
    assert res.returncode == 0, res.stderr
    assert _object_bytes(moto, bucket, "k.csv.gz") == s3_file.read_bytes()
    assert [o for n, o in _parts(s3_proxy) if n == "2"] == ["status", "status", "forward"]
    assert moto.s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_s3_connection_dropped_on_a_part_is_retried_object_exact(cli, moto, s3_proxy, s3_file):
    from fault_proxy import is_upload_part
    bucket = _bucket(moto)
    s3_proxy.rules.append({"match": is_upload_part, "action": "drop", "times": 1})
    res = cli(_upload_args(s3_file, bucket, "k.csv.gz", s3_proxy), env=moto.env(), timeout=180)
    assert res.returncode == 0, res.stderr
    assert _object_bytes(moto, bucket, "k.csv.gz") == s3_file.read_bytes()


def test_s3_part_failing_for_good_aborts_upload_no_object(cli, moto, s3_proxy, s3_file):
    from fault_proxy import is_upload_part
    bucket = _bucket(moto)
    s3_proxy.rules.append({"match": lambda m, p, q: is_upload_part(m, p, q) and q["partNumber"] == ["3"],
                           "action": "status", "status": 500, "times": None})
    res = cli(_upload_args(s3_file, bucket, "k.csv.gz", s3_proxy, "--max-attempts", "3"), env=moto.env(),
              timeout=180)
    assert res.returncode == 5, res.stderr
    assert_one_error_line(res.stderr, "upload-s3", "500")
    assert len([1 for n, o in _parts(s3_proxy) if n == "3"]) == 3  # bounded by --max-attempts
    assert any(m == "DELETE" and "uploadId" in q for (m, p, q, o, t) in s3_proxy.log), "no AbortMultipartUpload"
    _no_upload_left(moto, bucket, "k.csv.gz")


def test_s3_complete_failing_for_good_aborts_upload_no_object(cli, moto, s3_proxy, s3_file):
    bucket = _bucket(moto)
    s3_proxy.rules.append({"match": lambda m, p, q: m == "POST" and "uploadId" in q, "action": "status",
                           "status": 503, "times": None})
    res = cli(_upload_args(s3_file, bucket, "k.csv.gz", s3_proxy, "--max-attempts", "2"), env=moto.env(),
              timeout=180)
    assert res.returncode == 5, res.stderr
    assert_one_error_line(res.stderr, "upload-s3", "503")
    _no_upload_left(moto, bucket, "k.csv.gz")


def test_s3_sigterm_mid_upload_aborts_and_rerun_is_exact(cryptopipe_bin, cli, moto, s3_proxy, s3_file):
    from fault_proxy import is_upload_part
    bucket = _bucket(moto)
    s3_proxy.rules.append({"match": lambda m, p, q: is_upload_part(m, p, q) and q["partNumber"] != ["1"],
                           "action": "stall", "seconds": 8, "times": None})
    proc = popen_cli(cryptopipe_bin, _upload_args(s3_file, bucket, "k.csv.gz", s3_proxy), env=moto.env())
    try:
        wait_until(lambda: _parts(s3_proxy, "stall"), 30, what="a part upload in flight")
        rc, took = sigterm_and_wait(proc, timeout=5)
        err = proc.stderr.read().decode(errors="replace")
        assert rc != 0, err
        assert took < 2.0, f"{took:.2f}s to exit after SIGTERM"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    _no_upload_left(moto, bucket, "k.csv.gz")
    s3_proxy.rules.clear()
    again = cli(_upload_args(s3_file, bucket, "k.csv.gz", s3_proxy), env=moto.env(), timeout=180)
    assert again.returncode == 0, again.stderr
    assert _object_bytes(moto, bucket, "k.csv.gz") == s3_file.read_bytes()
    assert moto.s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
