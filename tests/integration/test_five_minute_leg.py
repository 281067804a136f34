"""Issue 2's 5-minute leg end to end: `extract | transform | load-postgres` through real shell pipes, against the
real binary, the replay API server and a real PostgreSQL. Expected rows come from the replay fixture
(replay_server.fixture_candles), computed independently of cryptopipe.
"""
from __future__ import annotations

import csv
import datetime as dt
import email.utils
import io
import json
import re
import shlex
import subprocess
import time

import pytest

from harness import base_env

import replay_server as rs

D0 = rs.FIXTURE_START  # 2024-01-01T00:00:00Z
DAY = 86400
HEADER = ("symbol_id,period_id,time_period_start,time_period_end,time_open,time_close,price_open,price_high,"
          "price_low,price_close,volume_traded,trades_count,source")
ERROR_LINE = re.compile(r"^cryptopipe: error: (?P<cmd>[a-z0-9-]+): .+$", re.M)


def iso(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ------------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------------

@pytest.fixture
def db(pg):
    return pg.create_db("five_min")


@pytest.fixture
def env(pg, db, replay_clean):
    """The CLI environment: PG* for the fresh database, the replay server as API base, the CoinAPI key."""
    return {**pg.env(db), "CRYPTOPIPE_API_BASE": replay_clean.url, "COINAPI_KEY": replay_clean.coinapi_key}


def pipeline(bin_path, provider: str, symbol: str, start: str, end: str, env: dict, extract_args=(),
             load_args=(), timeout=300) -> subprocess.CompletedProcess:
    """extract | transform | load-postgres in bash with pipefail; stdout is load-postgres's summary."""
    b = shlex.quote(str(bin_path))
    extract = " ".join(map(shlex.quote, ["--provider", provider, "--symbol", symbol, "--start", start, "--end", end,
                                         *extract_args]))
    load = " ".join(map(shlex.quote, load_args))
    script = f"set -o pipefail; {b} extract {extract} | {b} transform | {b} load-postgres {load}"
    return subprocess.run(["bash", "-c", script], env=base_env(env), capture_output=True, text=True,
                          timeout=timeout)


def expected_rows(provider: str, symbol: str, start: int, end: int, overrides=None) -> list[tuple]:
    """What the table must hold, as text, in the shape of table_rows()."""
    rows = []
    for c in rs.fixture_candles(provider, symbol, start, end, "5MIN", overrides):
        rows.append((
            symbol, "5MIN", str(c["time_period_start"]), str(c["time_period_end"]),
            c["time_open"][:26] if c["time_open"] else None,  # 7 fractional digits -> microseconds
            c["time_close"][:26] if c["time_close"] else None,
            *(rs.plain_decimal(c[f]) for f in ("price_open", "price_high", "price_low", "price_close",
                                                "volume_traded")),
            str(c["trades_count"]) if c["trades_count"] is not None else None,
            provider,
        ))
    return rows


def table_rows(pg, db: str, symbol: str, table: str = "public.ohlcv") -> list[tuple]:
    us = "'YYYY-MM-DD\"T\"HH24:MI:SS.US'"
    return pg.query(db, f"""
        SELECT symbol_id, period_id,
               extract(epoch FROM time_period_start)::bigint::text, extract(epoch FROM time_period_end)::bigint::text,
               to_char(time_open AT TIME ZONE 'UTC', {us}), to_char(time_close AT TIME ZONE 'UTC', {us}),
               price_open::text, price_high::text, price_low::text, price_close::text, volume_traded::text,
               trades_count::text, source
          FROM {table} WHERE symbol_id = '{symbol}' ORDER BY time_period_start""")


def assert_rows_equal(got: list[tuple], want: list[tuple]) -> None:
    assert len(got) == len(want), f"{len(got)} rows in the table, {len(want)} expected"
    for g, w in zip(got, want):
        assert g == w, f"row differs:\n got  {g}\n want {w}"


def assert_error_line(stderr: str, command: str, *needles: str) -> None:
    lines = [m for m in ERROR_LINE.finditer(stderr) if m.group("cmd") == command]
    assert lines, f"no `cryptopipe: error: {command}: ...` line in stderr:\n{stderr}"
    text = lines[-1].group(0)
    for n in needles:
        assert n.lower() in text.lower(), f"{n!r} not in error line {text!r}"


def summary(stdout: str) -> str:
    return stdout.strip()


def data_requests(replay, prefix: str) -> list[dict]:
    return [r for r in replay.requests() if r["path"].startswith(prefix)]


# ------------------------------------------------------------------------------------------------
# the happy path, per provider, over several pages
# ------------------------------------------------------------------------------------------------

def test_bitstamp_multi_page_window_lands_exact_rows(cryptopipe_bin, pg, db, env, replay_clean):
    start, end = D0, D0 + 4 * DAY  # 1152 candles: more than one 1000-candle Bitstamp page
    symbol = "BITSTAMP_SPOT_BTC_USD"
    res = pipeline(cryptopipe_bin, "bitstamp", symbol, iso(start), iso(end), env)
    assert res.returncode == 0, res.stderr
    assert summary(res.stdout) == "inserted 1152, updated 0, unchanged 0"
    assert len(data_requests(replay_clean, "/api/v2/ohlc/btcusd")) >= 2  # it really paged
    for r in data_requests(replay_clean, "/api/v2/ohlc/"):
        assert int(r["query"]["limit"][0]) <= 1000 and r["query"]["step"] == ["300"]
    assert_rows_equal(table_rows(pg, db, symbol), expected_rows("bitstamp", symbol, start, end))
    # the special cases, spelled out
    special = dict(((r[2], r) for r in table_rows(pg, db, symbol)))
    assert len(special[str(rs.SPECIAL_LONG_PRICE)][7].replace(".", "").lstrip("0")) == 20
    assert special[str(rs.SPECIAL_TRAILING_ZEROS)][10] == "100.10"
    assert pg.query(db, "SELECT count(*), count(DISTINCT (symbol_id, period_id, time_period_start)) "
                        "FROM ohlcv") == [("1152", "1152")]


def test_coinapi_multi_page_window_lands_exact_rows(cryptopipe_bin, pg, db, env, replay_clean):
    replay_clean.configure(coinapi_page_cap=100)  # answer 100 per request whatever the limit: forces paging
    start, end = D0, D0 + DAY
    symbol = "COINBASE_SPOT_BTC_USD"
    res = pipeline(cryptopipe_bin, "coinapi", symbol, "2024-01-01", "2024-01-02", env,
                   extract_args=["--api-base", replay_clean.url])
    assert res.returncode == 0, res.stderr
    assert summary(res.stdout) == "inserted 288, updated 0, unchanged 0"
    reqs = data_requests(replay_clean, f"/v1/ohlcv/{symbol}/history")
    assert len(reqs) >= 3 and all(r["key_present"] for r in reqs)
    assert_rows_equal(table_rows(pg, db, symbol), expected_rows("coinapi", symbol, start, end))
    by_start = {r[2]: r for r in table_rows(pg, db, symbol)}
    assert by_start[str(rs.SPECIAL_EXPONENT_VOLUME)][10] == "0.00000015"
    assert len(by_start[str(rs.SPECIAL_LONG_PRICE)][7].replace(".", "").lstrip("0")) == 20
    assert by_start[str(rs.SPECIAL_NULL_PRICES)][6:10] == (None, None, None, None)
    assert by_start[str(rs.SPECIAL_TRAILING_ZEROS)][10] == "100.10"


def test_rerun_changes_nothing_and_a_corrected_candle_updates_in_place(cryptopipe_bin, pg, db, env, replay_clean):
    symbol = "BITSTAMP_SPOT_ETH_USD"
    start, end = D0 + DAY, D0 + DAY + 6 * 3600  # 72 candles
    args = (cryptopipe_bin, "bitstamp", symbol, iso(start), iso(end), env)
    first = pipeline(*args)
    assert first.returncode == 0, first.stderr
    assert summary(first.stdout) == "inserted 72, updated 0, unchanged 0"
    loaded_at = pg.query(db, "SELECT min(loaded_at)::text, max(loaded_at)::text FROM ohlcv")

    again = pipeline(*args)
    assert again.returncode == 0, again.stderr
    assert summary(again.stdout) == "inserted 0, updated 0, unchanged 72"
    assert pg.query(db, "SELECT min(loaded_at)::text, max(loaded_at)::text FROM ohlcv") == loaded_at

    fixed = start + 10 * 300
    override = {"provider": "bitstamp", "symbol_id": symbol, "time_period_start": fixed,
                "fields": {"volume_traded": "7.77777777"}}
    replay_clean.configure(overrides=[override])
    corrected = pipeline(*args)
    assert corrected.returncode == 0, corrected.stderr
    assert summary(corrected.stdout) == "inserted 0, updated 1, unchanged 71"
    overrides = {("bitstamp", symbol, "5MIN", fixed): {"volume_traded": "7.77777777"}}
    assert_rows_equal(table_rows(pg, db, symbol), expected_rows("bitstamp", symbol, start, end, overrides))


def test_two_symbols_share_the_table(cryptopipe_bin, pg, db, env, replay_clean):
    start, end = D0 + 2 * DAY, D0 + 2 * DAY + 3600
    for sym in ("BITSTAMP_SPOT_XRP_USD", "BITSTAMP_SPOT_BTC_USD"):
        res = pipeline(cryptopipe_bin, "bitstamp", sym, iso(start), iso(end), env)
        assert res.returncode == 0, res.stderr
        assert summary(res.stdout) == "inserted 12, updated 0, unchanged 0"
    for sym in ("BITSTAMP_SPOT_XRP_USD", "BITSTAMP_SPOT_BTC_USD"):
        assert_rows_equal(table_rows(pg, db, sym), expected_rows("bitstamp", sym, start, end))


# ------------------------------------------------------------------------------------------------
# each stage's own output
# ------------------------------------------------------------------------------------------------

def test_extract_writes_raw_responses_as_json_lines(cli, replay_clean, tmp_path):
    out = tmp_path / "raw.jsonl"
    res = cli(["extract", "--provider", "coinapi", "--symbol", "BITSTAMP_SPOT_BTC_USD", "--start", "2024-01-01",
               "--end", "2024-01-01T02:00:00Z", "--api-base", replay_clean.url, "-o", out],
              env={"COINAPI_KEY": replay_clean.coinapi_key})
    assert res.returncode == 0, res.stderr
    text = out.read_text()
    lines = text.splitlines()
    assert lines, "no output"
    for line in lines:
        rec = json.loads(line)
        for k in ("provider", "symbol_id", "period_id", "url", "fetched_at", "status", "body"):
            assert k in rec, k
        assert rec["provider"] == "coinapi" and rec["symbol_id"] == "BITSTAMP_SPOT_BTC_USD"
        assert rec["period_id"] == "5MIN" and rec["status"] == 200
        assert rec["url"].startswith(replay_clean.url + "/v1/ohlcv/BITSTAMP_SPOT_BTC_USD/history?")
    # number text unchanged in the raw zone
    assert "1.5E-07" in text and "100.10" in text
    assert replay_clean.coinapi_key not in text + res.stderr + res.stdout


def test_transform_writes_canonical_csv(cli, replay_clean, tmp_path):
    raw = tmp_path / "raw.jsonl"
    symbol = "BITSTAMP_SPOT_BTC_USD"
    res = cli(["extract", "--provider", "coinapi", "--symbol", symbol, "--start", "2024-01-01", "--end",
               "2024-01-01T01:00:00Z", "-o", raw],
              env={"COINAPI_KEY": replay_clean.coinapi_key, "CRYPTOPIPE_API_BASE": replay_clean.url})
    assert res.returncode == 0, res.stderr
    out = tmp_path / "candles.csv"
    res = cli(["transform", "-i", raw, "-o", out])
    assert res.returncode == 0, res.stderr
    data = out.read_bytes()
    assert b"\r" not in data and data.endswith(b"\n")
    text = data.decode()
    assert text.split("\n", 1)[0] == HEADER
    rows = list(csv.DictReader(io.StringIO(text)))
    want = rs.fixture_candles("coinapi", symbol, D0, D0 + 3600)
    assert len(rows) == len(want) == 12
    ts_re = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,6})?\+00$")

    def ts_value(text):
        return dt.datetime.strptime(text.replace("+00", "+0000"),
                                    "%Y-%m-%d %H:%M:%S.%f%z" if "." in text else "%Y-%m-%d %H:%M:%S%z")

    for row, c in zip(rows, want):
        assert row["symbol_id"] == symbol and row["period_id"] == "5MIN" and row["source"] == "coinapi"
        assert ts_re.match(row["time_period_start"]) and ts_re.match(row["time_period_end"])
        assert ts_value(row["time_period_start"]).timestamp() == c["time_period_start"]
        assert ts_value(row["time_period_end"]).timestamp() == c["time_period_end"]
        for f in ("time_open", "time_close"):
            if c[f] is None:
                assert row[f] == ""
            else:
                assert ts_re.match(row[f]), row[f]
                assert ts_value(row[f]) == dt.datetime.strptime(c[f][:26] + "+0000", "%Y-%m-%dT%H:%M:%S.%f%z")
        for f in ("price_open", "price_high", "price_low", "price_close", "volume_traded"):
            assert row[f] == (rs.plain_decimal(c[f]) or ""), (f, row[f], c[f])
        assert row["trades_count"] == str(c["trades_count"])


# ------------------------------------------------------------------------------------------------
# failures: exit code AND message
# ------------------------------------------------------------------------------------------------

def test_coinapi_without_key_is_a_config_error(cli, replay_clean):
    res = cli(["extract", "--provider", "coinapi", "--symbol", "COINBASE_SPOT_BTC_USD", "--start", "2024-01-01",
               "--end", "2024-01-02", "--api-base", replay_clean.url])
    assert res.returncode == 2, res.stderr
    assert_error_line(res.stderr, "extract", "COINAPI_KEY")
    assert data_requests(replay_clean, "/v1/") == []  # refused before touching the network


def test_coinapi_wrong_key_is_refused_with_the_status(cli, replay_clean):
    secret = "wrong-key-0123456789abcdef"
    res = cli(["extract", "--provider", "coinapi", "--symbol", "COINBASE_SPOT_BTC_USD", "--start", "2024-01-01",
               "--end", "2024-01-02", "--api-base", replay_clean.url], env={"COINAPI_KEY": secret})
    assert res.returncode == 4, res.stderr
    assert_error_line(res.stderr, "extract", "401")
    assert "Invalid API key" in res.stderr  # the API's own message
    assert secret not in res.stderr + res.stdout
    assert len(data_requests(replay_clean, "/v1/")) == 1  # a 401 is not retried


@pytest.mark.parametrize("retry_after", ["1", "http-date"])
def test_429_with_retry_after_then_ok(cryptopipe_bin, pg, db, env, replay_clean, retry_after):
    if retry_after == "http-date":
        # whole seconds, counted from now, while the (possibly sanitizer-slowed) pipeline is still starting
        retry_after = email.utils.formatdate(time.time() + 3, usegmt=True)
    replay_clean.set_faults([{"kind": "status", "status": 429, "retry_after": retry_after}], path_prefix="/api/v2")
    symbol = "BITSTAMP_SPOT_BTC_USD"
    t0 = time.monotonic()
    res = pipeline(cryptopipe_bin, "bitstamp", symbol, iso(D0), iso(D0 + 3600), env)
    elapsed = time.monotonic() - t0
    assert res.returncode == 0, res.stderr
    assert summary(res.stdout) == "inserted 12, updated 0, unchanged 0"
    reqs = data_requests(replay_clean, "/api/v2/")
    assert [r["status"] for r in reqs] == [429, 200]
    gap = reqs[1]["time"] - reqs[0]["time"]
    assert gap >= 0.9, f"retried after {gap:.2f}s, Retry-After not honoured"
    assert elapsed < 60
    assert_rows_equal(table_rows(pg, db, symbol), expected_rows("bitstamp", symbol, D0, D0 + 3600))


def test_500_forever_is_transient_exit_5(cli, replay_clean):
    replay_clean.set_faults([{"kind": "status", "status": 500}] * 50, path_prefix="/api/v2")
    t0 = time.monotonic()
    res = cli(["extract", "--provider", "bitstamp", "--symbol", "BITSTAMP_SPOT_BTC_USD", "--start", iso(D0),
               "--end", iso(D0 + 3600), "--max-attempts", "3", "--api-base", replay_clean.url], timeout=120)
    assert res.returncode == 5, res.stderr
    assert_error_line(res.stderr, "extract", "500")
    assert len(data_requests(replay_clean, "/api/v2/")) == 3  # bounded by --max-attempts
    assert time.monotonic() - t0 < 60


@pytest.mark.parametrize("kind", ["truncate", "reset", "truncated_json"])
def test_broken_body_once_is_retried(cryptopipe_bin, pg, db, env, replay_clean, kind):
    replay_clean.set_faults([{"kind": kind}], path_prefix="/v1")
    symbol = "COINBASE_SPOT_BTC_USD"
    res = pipeline(cryptopipe_bin, "coinapi", symbol, iso(D0), iso(D0 + 3600), env)
    assert res.returncode == 0, res.stderr
    assert summary(res.stdout) == "inserted 12, updated 0, unchanged 0"
    assert len(data_requests(replay_clean, "/v1/")) == 2
    assert_rows_equal(table_rows(pg, db, symbol), expected_rows("coinapi", symbol, D0, D0 + 3600))


def test_truncated_forever_is_exit_5_and_loads_nothing(cryptopipe_bin, pg, db, env, replay_clean):
    replay_clean.set_faults([{"kind": "truncate"}] * 50, path_prefix="/v1")
    res = pipeline(cryptopipe_bin, "coinapi", "COINBASE_SPOT_BTC_USD", iso(D0), iso(D0 + 3600), env,
                   extract_args=["--max-attempts", "2"])
    assert res.returncode == 5, res.stderr
    assert_error_line(res.stderr, "extract")
    # load-postgres may or may not have created the table, but it holds no candle
    exists = pg.query(db, "SELECT to_regclass('public.ohlcv') IS NOT NULL")[0][0] == "t"
    if exists:
        assert pg.query(db, "SELECT count(*) FROM ohlcv") == [("0",)]


def test_transform_of_malformed_json_is_bad_data_with_line_number(cli, replay_clean, tmp_path):
    raw = tmp_path / "raw.jsonl"
    res = cli(["extract", "--provider", "bitstamp", "--symbol", "BITSTAMP_SPOT_BTC_USD", "--start", iso(D0),
               "--end", iso(D0 + 900), "-o", raw], env={"CRYPTOPIPE_API_BASE": replay_clean.url})
    assert res.returncode == 0, res.stderr
    good = raw.read_text().splitlines()
    assert len(good) >= 1
    bad = tmp_path / "bad.jsonl"
    bad.write_text(good[0] + "\n" + '{"provider": "bitstamp", "body": {"data": [1, 2\n')
    res = cli(["transform", "-i", bad, "-o", tmp_path / "out.csv"])
    assert res.returncode == 3, res.stderr
    assert_error_line(res.stderr, "transform", "line 2")


def test_transform_reads_stdin_and_writes_stdout(cli, replay_clean, tmp_path):
    raw = cli(["extract", "--provider", "bitstamp", "--symbol", "BITSTAMP_SPOT_ETH_USD", "--start", iso(D0),
               "--end", iso(D0 + 900)], env={"CRYPTOPIPE_API_BASE": replay_clean.url})
    assert raw.returncode == 0, raw.stderr
    res = cli(["transform"], input=raw.stdout)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.split("\n")
    assert lines[0] == HEADER and lines[-1] == "" and len(lines) == 1 + 3 + 1


# ------------------------------------------------------------------------------------------------
# scripts/run.sh: the README's "run the main job" command, offline against the replay server
# ------------------------------------------------------------------------------------------------



def _run_sh(env: dict, timeout: float = 900) -> subprocess.CompletedProcess:
    from harness import ROOT
    return subprocess.run(["bash", str(ROOT / "scripts" / "run.sh")], env=base_env(env), capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def test_run_sh_without_network_says_so_in_one_line_and_exits_5(cryptopipe_bin, pg, db, replay_clean):
    from harness import free_port
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there: like having no network
    res = _run_sh({**pg.env(db), "CRYPTOPIPE_API_BASE": dead})
    assert res.returncode == 5, res.stdout + res.stderr
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith("run: cannot reach ") and "no network" in last, last
    assert res.stdout == ""


def test_run_sh_runs_both_legs_on_local_defaults(cryptopipe_bin, pg, db, replay_clean):
    from harness import ROOT
    import gzip
    now = int(time.time())
    day = (now - DAY) // DAY * DAY  # the previous UTC day, which run.sh's daily leg exports
    warehouse = pg.create_db("warehouse")
    env = {**pg.env(db), "CRYPTOPIPE_API_BASE": replay_clean.url, "COINAPI_KEY": replay_clean.coinapi_key}
    # an hour of yesterday's candles in the operational table, for the daily leg to carry to the warehouse
    pre = pipeline(cryptopipe_bin, "bitstamp", "BITSTAMP_SPOT_BTC_USD", iso(day), iso(day + 3600), env)
    assert pre.returncode == 0, pre.stderr
    env["CRYPTOPIPE_WAREHOUSE_DSN"] = pg.dsn(warehouse)
    res = _run_sh(env)
    assert res.returncode == 0, res.stdout + res.stderr
    end = int(time.time()) // 300 * 300
    lines = res.stdout.splitlines()
    for x in ("BTC", "ETH", "XRP"):
        assert any(line.startswith(f"BITSTAMP_SPOT_{x}_USD [") and
                   line.endswith("): inserted 1, updated 0, unchanged 0") for line in lines), res.stdout
    # the last closed window of each symbol landed (the minute may have turned while it ran: allow either window)
    for x in ("BTC", "ETH", "XRP"):
        got = pg.query(db, f"SELECT count(*) FROM ohlcv WHERE symbol_id = 'BITSTAMP_SPOT_{x}_USD' AND "
                           f"time_period_start >= to_timestamp({end - 600})")
        assert got == [("1",)], (x, got)
    day_text = time.strftime("%Y-%m-%d", time.gmtime(day))
    lake = ROOT / ".local" / "lake" / "ohlcv" / "period=5MIN" / f"date={day_text}" / "ohlcv.csv.gz"
    rows = gzip.decompress(lake.read_bytes()).decode().splitlines()
    assert rows[0] == HEADER and len(rows) == 1 + 12
    assert pg.query(warehouse, "SELECT count(*) FROM ohlcv") == [("12",)]
    assert_rows_equal(table_rows(pg, warehouse, "BITSTAMP_SPOT_BTC_USD"),
                      expected_rows("bitstamp", "BITSTAMP_SPOT_BTC_USD", day, day + 3600))
