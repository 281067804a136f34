"""Helpers shared by the reliability suites (tests/reliability). Plain functions, no fixtures: the fixtures are
tests/conftest.py's (pg, replay, moto, cli, cryptopipe_bin)."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

from harness import base_env

HEADER = ("symbol_id,period_id,time_period_start,time_period_end,time_open,time_close,price_open,price_high,"
          "price_low,price_close,volume_traded,trades_count,source")
ERROR_PREFIX = "cryptopipe: error: "


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith(ERROR_PREFIX)]


def assert_one_error_line(stderr: str, command: str, *needles: str, alternatives: tuple = ()) -> str:
    """Exactly one `cryptopipe: error: <command>: ...` line, containing every needle (case-insensitive) and, when
    given, at least one of `alternatives`. Every other stderr line must be one of cryptopipe's own log lines (no
    sanitizer report, no stack trace, no half-printed data). Returns the error line."""
    lines = error_lines(stderr)
    assert len(lines) == 1, f"expected exactly one error line, got {len(lines)}:\n{stderr[-3000:]}"
    line = lines[0]
    assert line.startswith(f"{ERROR_PREFIX}{command}: "), f"error line is not for {command}: {line!r}"
    low = line.lower()
    for n in needles:
        assert n.lower() in low, f"{n!r} not in error line {line!r}"
    if alternatives:
        assert any(a.lower() in low for a in alternatives), f"none of {alternatives} in error line {line!r}"
    # PostgreSQL NOTICEs printed by libpq's default notice processor are a known, separately tested gap
    # (test_fault_matrix.py::test_load_postgres_stderr_has_only_cryptopipe_lines); ignored here.
    others = [x for x in stderr.splitlines()
              if x and not x.startswith("cryptopipe: ") and not x.startswith(("NOTICE:  ", "WARNING:  "))]
    assert not others, f"stray stderr lines (crash? sanitizer?): {others[:5]}"
    assert len(line) < 2000, f"error line of {len(line)} characters: it echoes input"
    return line


def coinapi_candle(**over) -> dict:
    """One valid CoinAPI candle as {field: raw JSON text}; a value of None in `over` removes the field."""
    c = {
        "time_period_start": '"2024-01-01T00:00:00.0000000Z"',
        "time_period_end": '"2024-01-01T00:05:00.0000000Z"',
        "time_open": '"2024-01-01T00:00:23.6390000Z"',
        "time_close": '"2024-01-01T00:04:33.4180000Z"',
        "price_open": "40468.94",
        "price_high": "40516.93",
        "price_low": "40468.11",
        "price_close": "40506.2",
        "volume_traded": "2.47415916",
        "trades_count": "102",
    }
    for k, v in over.items():
        if v is None:
            c.pop(k, None)
        else:
            c[k] = v
    return c


def bitstamp_candle(**over) -> dict:
    c = {"high": '"40516.93"', "timestamp": '"1704067200"', "volume": '"2.47415916"', "low": '"40468.11"',
         "close": '"40506.20"', "open": '"40468.94"'}
    for k, v in over.items():
        if v is None:
            c.pop(k, None)
        else:
            c[k] = v
    return c


def obj_text(fields: dict) -> str:
    return "{" + ",".join(f'"{k}":{v}' for k, v in fields.items()) + "}"


def extract_line(provider: str, body_text: str, symbol_id: str = "BITSTAMP_SPOT_BTC_USD", period_id: str = "5MIN",
                 envelope_over: dict | None = None) -> str:
    """One line in the shape `cryptopipe extract` writes, with `body_text` spliced in verbatim."""
    env = {"provider": json.dumps(provider), "symbol_id": json.dumps(symbol_id), "period_id": json.dumps(period_id),
           "url": json.dumps("http://127.0.0.1:1/x"), "fetched_at": json.dumps("2024-01-02T00:00:00Z"),
           "status": "200", "window_start": json.dumps("2024-01-01T00:00:00Z"),
           "window_end": json.dumps("2024-01-02T00:00:00Z"), "include_open": "false"}
    for k, v in (envelope_over or {}).items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    env["body"] = body_text
    return obj_text(env)


def coinapi_page(*candles: dict) -> str:
    return "[" + ",".join(obj_text(c) for c in candles) + "]"


def bitstamp_page(*candles: dict) -> str:
    return '{"data":{"pair":"BTC/USD","ohlc":[' + ",".join(obj_text(c) for c in candles) + "]}}"


def csv_row(symbol="BITSTAMP_SPOT_BTC_USD", start="2024-01-01 00:00:00+00", end="2024-01-01 00:05:00+00",
            **over) -> str:
    """One canonical CSV row (no newline); keyword overrides by column name."""
    row = {"symbol_id": symbol, "period_id": "5MIN", "time_period_start": start, "time_period_end": end,
           "time_open": "", "time_close": "", "price_open": "40468.94", "price_high": "40516.93",
           "price_low": "40468.11", "price_close": "40506.20", "volume_traded": "2.47415916", "trades_count": "",
           "source": "bitstamp"}
    row.update(over)
    return ",".join(row[c] for c in HEADER.split(","))


def pg_activity_count(pg, dbname: str) -> int:
    return int(pg.query("postgres", f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{dbname}'")[0][0])


def popen_cli(binary, args, env=None, stdin=subprocess.DEVNULL, **kw) -> subprocess.Popen:
    return subprocess.Popen([str(binary), *map(str, args)], env=base_env(env), stdin=stdin, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, **kw)


def wait_until(pred, timeout: float, step: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def sigterm_and_wait(proc: subprocess.Popen, timeout: float) -> tuple[int, float]:
    """SIGTERM `proc` (as Airflow does on kill); returns (returncode, seconds until it exited)."""
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError(f"still running {timeout}s after SIGTERM")
    return proc.returncode, time.monotonic() - t0


def big_canonical_csv(path: Path, symbols: int, candles_per_symbol: int, start_epoch: int = 1704067200) -> int:
    """Writes a valid canonical CSV with symbols x candles rows (bitstamp-shaped rows); returns the row count."""
    import datetime as dt
    with open(path, "w", newline="") as f:
        f.write(HEADER + "\n")
        n = 0
        for s in range(symbols):
            sym = f"LOADTEST_SPOT_S{s:03d}_USD"
            for i in range(candles_per_symbol):
                t = start_epoch + i * 300
                a = dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S+00")
                b = dt.datetime.fromtimestamp(t + 300, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S+00")
                f.write(csv_row(sym, a, b, price_open=f"{100 + i % 7}.25", price_high=f"{110 + i % 7}.5",
                                price_low=f"{90 + i % 7}.125", price_close=f"{101 + i % 7}.75",
                                volume_traded=f"{i}.{s:08d}") + "\n")
                n += 1
    return n


def scan_for(secrets: list[str], *texts) -> list[str]:
    """Which secrets occur in any of `texts` (str or bytes)."""
    hits = []
    for s in secrets:
        for t in texts:
            hay = t if isinstance(t, str) else t.decode("utf-8", "replace")
            if s in hay:
                hits.append(s)
                break
    return hits


def proc_cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def proc_environ_is_private(pid: int) -> bool:
    """/proc/<pid>/environ is readable by the owner only (mode 0400): secrets in env are not world-visible."""
    try:
        return (os.stat(f"/proc/{pid}/environ").st_mode & 0o077) == 0
    except OSError:
        return True


ERROR_RE = re.compile(r"^cryptopipe: error: (?P<cmd>[a-z0-9-]+): (?P<msg>.+)$", re.M)
