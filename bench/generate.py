#!/usr/bin/env python3
"""Synthetic 5-minute OHLCV candles for the bench: a deterministic random walk per symbol, written either in
CoinAPI's wire format wrapped in `cryptopipe extract`'s JSON-lines envelope (what `transform` reads) or as the
canonical candle CSV (what `load-postgres` reads and `transform` writes).

Rows are spread over as many symbols as it takes to keep each symbol's history within a realistic range (one
year of 5-minute candles per symbol at most), so 10M rows look like 96 markets over a year, not one market over
95 years. Prices move in integer ticks (exact decimal text, no float noise), volumes carry 8 decimals, and the
numbers are printed the way CoinAPI prints JSON numbers (no trailing zeros).

    python bench/generate.py --rows 100000 --format coinapi -o /tmp/c.jsonl
    python bench/generate.py --rows 100000 --format csv -o /tmp/c.csv

Stdlib only: the smoke test runs it from the main test venv.
"""
from __future__ import annotations

import argparse
import datetime as dt
import math
import random
import sys
from typing import Iterator

PERIOD_SECONDS = 300
PER_SYMBOL_MAX = 365 * 288  # one year of 5-minute candles
START = int(dt.datetime(2023, 1, 1, tzinfo=dt.timezone.utc).timestamp())
PAGE_LIMIT = 100_000  # CoinAPI's page size limit: one envelope line per page, as extract writes them
HEADER = ("symbol_id,period_id,time_period_start,time_period_end,time_open,time_close,price_open,price_high,"
          "price_low,price_close,volume_traded,trades_count,source")

EXCHANGES = ["BITSTAMP", "COINBASE", "KRAKEN", "BINANCE", "BITFINEX", "GEMINI"]
# base asset -> (start price, price decimals, typical volume per 5 minutes)
ASSETS = {
    "BTC": (16500.0, 2, 12.0), "ETH": (1200.0, 2, 150.0), "XRP": (0.34, 5, 400000.0), "LTC": (70.0, 2, 900.0),
    "SOL": (10.0, 3, 8000.0), "ADA": (0.25, 6, 600000.0), "DOGE": (0.07, 7, 2000000.0), "DOT": (4.3, 4, 30000.0),
    "LINK": (5.6, 4, 20000.0), "BCH": (97.0, 2, 500.0),
}
QUOTES = {"USD": 1.0, "EUR": 0.93}


def symbols() -> list[tuple[str, float, int, float]]:
    """All (symbol_id, start price, decimals, volume) in canonical sort order."""
    out = []
    for ex in EXCHANGES:
        for base, (price, dec, vol) in ASSETS.items():
            for quote, fx in QUOTES.items():
                out.append((f"{ex}_SPOT_{base}_{quote}", price * fx, dec, vol))
    return sorted(out)


def plan(rows: int) -> list[tuple[str, float, int, float, int]]:
    """(symbol_id, price, decimals, volume, candle count) for `rows` candles in total, sorted by symbol_id."""
    syms = symbols()
    count = max(1, math.ceil(rows / PER_SYMBOL_MAX))
    if count > len(syms):
        raise ValueError(f"--rows {rows}: more than {len(syms) * PER_SYMBOL_MAX} rows needs more symbols")
    chosen = sorted(syms[i * len(syms) // count] for i in range(count))
    per, extra = divmod(rows, count)
    return [(s, p, d, v, per + (1 if i < extra else 0)) for i, (s, p, d, v) in enumerate(chosen)]


def ticks_text(ticks: int, dec: int) -> str:
    """Exact decimal text of ticks * 10^-dec without trailing zeros (CoinAPI's JSON number style)."""
    if dec == 0:
        return str(ticks)
    whole, frac = divmod(ticks, 10 ** dec)
    frac_s = f"{frac:0{dec}d}".rstrip("0")
    return f"{whole}.{frac_s}" if frac_s else str(whole)


def candles(rows: int, seed: int = 42) -> Iterator[tuple]:
    """Yields (symbol_id, start, open, high, low, close, volume, trades, open_ms, close_ms) in canonical order:
    prices/volume as exact decimal text; open_ms/close_ms = milliseconds after start of the first/last trade."""
    for symbol_id, price, dec, vol, n in plan(rows):
        rng = random.Random(f"{seed}:{symbol_id}")
        scale = 10 ** dec
        ticks = max(1, round(price * scale))
        sigma = 0.0015  # ~0.15 % per 5 minutes, about 80 % annualised: crypto-like
        for i in range(n):
            start = START + i * PERIOD_SECONDS
            o = ticks
            steps = [o]
            for _ in range(4):  # intra-period path gives high/low that differ from open/close
                steps.append(max(1, round(steps[-1] * (1 + rng.gauss(0, sigma / 2)))))
            c = steps[-1]
            h = max(steps) + rng.randrange(0, max(1, o // 2000) + 1)
            lo = max(1, min(steps) - rng.randrange(0, max(1, o // 2000) + 1))
            v = int(vol * rng.lognormvariate(0, 0.8) * 1e8)
            trades = max(1, int(v / 1e8 / vol * 120))
            open_ms = rng.randrange(0, 30000)
            close_ms = rng.randrange(270000, 300000)
            ticks = c
            yield (symbol_id, start, ticks_text(o, dec), ticks_text(h, dec), ticks_text(lo, dec), ticks_text(c, dec),
                   ticks_text(v, 8), trades, open_ms, close_ms)


def _iso7(t: int, ms: int = 0) -> str:
    """CoinAPI's timestamp text: 7 fractional digits, Z."""
    d = dt.datetime.fromtimestamp(t + ms // 1000, dt.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}0000Z"


def _rfc3339(t: int) -> str:
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _canonical_ts(t: int, ms: int | None = None) -> str:
    d = dt.datetime.fromtimestamp(t + (ms or 0) // 1000, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    return d + (f".{ms % 1000:03d}000+00" if ms is not None and ms % 1000 else "+00")


def write_coinapi(out, rows: int, seed: int = 42) -> int:
    """Writes extract's envelope lines, one per page of up to PAGE_LIMIT candles of one symbol; returns bytes."""
    written = 0
    page: list[str] = []
    page_sym = None
    page_start = 0

    def flush():
        nonlocal written, page
        if not page:
            return
        end = page_start + len(page) * PERIOD_SECONDS
        url = (f"https://rest.coinapi.io/v1/ohlcv/{page_sym}/history?period_id=5MIN&time_start="
               f"{_rfc3339(page_start)[:-1]}&time_end={_rfc3339(end)[:-1]}&limit={PAGE_LIMIT}")
        line = (f'{{"provider":"coinapi","symbol_id":"{page_sym}","period_id":"5MIN","url":"{url}",'
                f'"fetched_at":"{_rfc3339(end + 60)}","status":200,"window_start":"{_rfc3339(page_start)}",'
                f'"window_end":"{_rfc3339(end)}","include_open":false,"body":[' + ",".join(page) + "]}\n")
        out.write(line)
        written += len(line)
        page = []

    for sym, t, o, h, lo, c, v, trades, oms, cms in candles(rows, seed):
        if sym != page_sym or len(page) >= PAGE_LIMIT:
            flush()
            page_sym, page_start = sym, t
        page.append(f'{{"time_period_start":"{_iso7(t)}","time_period_end":"{_iso7(t + PERIOD_SECONDS)}",'
                    f'"time_open":"{_iso7(t, oms)}","time_close":"{_iso7(t, cms)}","price_open":{o},'
                    f'"price_high":{h},"price_low":{lo},"price_close":{c},"volume_traded":{v},'
                    f'"trades_count":{trades}}}')
    flush()
    return written


def write_csv(out, rows: int, seed: int = 42) -> int:
    """Writes the canonical CSV (header + rows, sorted) that `cryptopipe transform` makes of write_coinapi's output."""
    written = 0
    out.write(HEADER + "\n")
    written += len(HEADER) + 1
    buf = []
    for sym, t, o, h, lo, c, v, trades, oms, cms in candles(rows, seed):
        buf.append(f"{sym},5MIN,{_canonical_ts(t)},{_canonical_ts(t + PERIOD_SECONDS)},{_canonical_ts(t, oms)},"
                   f"{_canonical_ts(t, cms)},{o},{h},{lo},{c},{v},{trades},coinapi\n")
        if len(buf) >= 10000:
            s = "".join(buf)
            out.write(s)
            written += len(s)
            buf = []
    s = "".join(buf)
    out.write(s)
    return written + len(s)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, required=True)
    ap.add_argument("--format", choices=["coinapi", "csv"], required=True)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("-o", "--output", default="-")
    a = ap.parse_args(argv)
    if a.output == "-":
        (write_coinapi if a.format == "coinapi" else write_csv)(sys.stdout, a.rows, a.seed)
    else:
        with open(a.output, "w", newline="", buffering=1 << 20) as f:
            (write_coinapi if a.format == "coinapi" else write_csv)(f, a.rows, a.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
