#!/usr/bin/env python3
"""Replay API server: serves CoinAPI's and Bitstamp's OHLC wire formats from deterministic fixture candles.

Standard library only, so `scripts/run.sh` and CI can start it with any python3:

    python3 tests/replay/replay_server.py --port 0 --port-file /tmp/replay.port [--coinapi-key K]

The port is written to --port-file (atomically) once the server accepts connections.

Endpoints (the real paths, so `cryptopipe extract --api-base http://127.0.0.1:PORT` works unchanged):
  GET /v1/ohlcv/{symbol_id}/history?period_id=5MIN&time_start=ISO&time_end=ISO&limit=N     (CoinAPI)
  GET /api/v2/ohlc/{pair}/?step=300&limit=1000&start=UNIX&end=UNIX                         (Bitstamp)
Admin API (never part of any real provider):
  POST /__admin/faults   {"faults": [{"kind": ...}, ...], "path_prefix": "/v1"}  queue faults; each is consumed
                         by one request whose path starts with its path_prefix (a fault's own "path_prefix" wins)
  POST /__admin/reset    clear faults, request log, overrides and config
  POST /__admin/config   {"coinapi_page_cap": N|null, "now": UNIX|null, "gzip": bool,
                          "overrides": [{"provider": "coinapi"|"bitstamp"|"*", "symbol_id": ..., "period_id": "5MIN",
                                         "time_period_start": UNIX|ISO, "fields": {"price_close": "1.23", ...}}]}
  GET  /__admin/requests request log: method, path, query (without any apikey), key_present, fault, status
  GET  /__admin/health   {"ok": true}
Fault kinds: status (status, retry_after, body, content_type), reset (RST mid-body), stall (seconds, then the
normal answer), truncate (Content-Length promises more than is sent), truncated_json (complete HTTP message whose
JSON is cut), html200, empty (200 with a zero-length body), empty_page (a valid page with no candles),
body (status, body, content_type: anything verbatim).

Wire formats, as documented by the providers (looked up, see the comments at each renderer):
- CoinAPI: a JSON array of objects; timestamps `2024-01-01T00:00:00.0000000Z` (7 fractional digits); prices and
  volume are JSON numbers (the fixture's exact number text is emitted, e.g. `1.5E-07`); prices, time_open and
  time_close may be null; `limit` default 100, 1..100000.
- Bitstamp: {"data": {"pair": "BTC/USD", "ohlc": [{"timestamp": "1704067200", "open": "42000.00", ...}]}},
  every value a string, ascending by timestamp; `step` from a fixed set of seconds, `limit` 1..1000.
"""
from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import os
import random
import re
import socket
import struct
import sys
import threading
import time
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

# --------------------------------------------------------------------------------------------------
# Fixture candles
# --------------------------------------------------------------------------------------------------
# Candles exist for ANY time (generated per UTC day from a seeded random walk), so the same server answers
# the fixed test range and "the last closed 5-minute window" of scripts/run.sh. The special cases below sit at
# fixed, known places inside the reference range.

FIXTURE_START = 1704067200  # 2024-01-01T00:00:00Z: start of the reference range used by the tests
FIXTURE_END = FIXTURE_START + 5 * 86400  # 2024-01-06T00:00:00Z (exclusive)

PERIODS = {"1MIN": 60, "5MIN": 300, "15MIN": 900, "1HRS": 3600, "1DAY": 86400}

# symbol_id -> price in integer ticks at the start of the walk, decimals of one tick, max volume per minute in 1e-8
SYMBOLS = {
    "BITSTAMP_SPOT_BTC_USD": {"base": 4_200_000, "decimals": 2, "vol_max": 150_000_000},
    "BITSTAMP_SPOT_ETH_USD": {"base": 230_000, "decimals": 2, "vol_max": 2_000_000_000},
    "BITSTAMP_SPOT_XRP_USD": {"base": 60_000, "decimals": 5, "vol_max": 500_000_000_000},
    "COINBASE_SPOT_BTC_USD": {"base": 4_201_000, "decimals": 2, "vol_max": 300_000_000},
}
COINAPI_SYMBOLS = tuple(SYMBOLS)
BITSTAMP_PAIRS = {"btcusd": "BITSTAMP_SPOT_BTC_USD", "ethusd": "BITSTAMP_SPOT_ETH_USD", "xrpusd": "BITSTAMP_SPOT_XRP_USD"}
BITSTAMP_STEPS = (60, 180, 300, 900, 1800, 3600, 7200, 14400, 21600, 43200, 86400, 259200)
STEP_TO_PERIOD = {v: k for k, v in PERIODS.items()}

# Special cases (5MIN candles of 2024-01-01, index = minutes/5 after midnight), the same for every symbol:
SPECIAL_EXPONENT_VOLUME = FIXTURE_START + 3 * 300  # coinapi: volume_traded `1.5E-07` -> `0.00000015`
SPECIAL_LONG_PRICE = FIXTURE_START + 5 * 300  # both: price_high with 20 significant digits
SPECIAL_NULL_PRICES = FIXTURE_START + 7 * 300  # coinapi: an empty period: prices/time_open/time_close null
SPECIAL_TRAILING_ZEROS = FIXTURE_START + 9 * 300  # both: volume `100.10` (trailing zero kept)
SPECIALS = {
    "coinapi": (SPECIAL_EXPONENT_VOLUME, SPECIAL_LONG_PRICE, SPECIAL_NULL_PRICES, SPECIAL_TRAILING_ZEROS),
    "bitstamp": (SPECIAL_LONG_PRICE, SPECIAL_TRAILING_ZEROS),
}
CANDLE_FIELDS = ("time_open", "time_close", "price_open", "price_high", "price_low", "price_close",
                 "volume_traded", "trades_count")


@lru_cache(maxsize=256)
def _minute_walk(symbol_id: str, day: int) -> tuple:
    """1440 one-minute candles of one UTC day: (open, high, low, close, volume_1e8, trades, open_ms, close_ms)."""
    spec = SYMBOLS[symbol_id]
    rng = random.Random(f"{symbol_id}|{day}")
    base = spec["base"]
    step = max(1, base // 2000)
    price = base + rng.randint(-base // 20, base // 20)
    out = []
    for _ in range(1440):
        o = price
        c = max(1, o + rng.randint(-step, step))
        h = max(o, c) + rng.randint(0, step // 2)
        lo = max(1, min(o, c) - rng.randint(0, step // 2))
        vol = rng.randint(1, spec["vol_max"])
        trades = rng.randint(1, 40)
        open_ms = rng.randint(0, 59_999)
        close_ms = rng.randint(open_ms, 59_999)
        out.append((o, h, lo, c, vol, trades, open_ms, close_ms))
        price = c
    return tuple(out)


def _ticks_text(ticks: int, decimals: int, strip: bool) -> str:
    q, r = divmod(ticks, 10**decimals)
    text = f"{q}.{r:0{decimals}d}"
    if strip:  # what a JSON serializer of doubles prints: no trailing zeros
        text = text.rstrip("0").rstrip(".")
    return text


def _long_text(ticks: int, decimals: int) -> str:
    """A decimal just above `ticks` with exactly 20 significant digits (more than a double can hold)."""
    text = _ticks_text(ticks, decimals, strip=False)
    filler = "3456789123456789123456789"
    i = 0
    while len(text.replace(".", "").lstrip("0")) < 20:
        text += filler[i]
        i += 1
    return text


def iso7(ts_ms: int) -> str:
    """CoinAPI timestamp text: 2024-01-01T00:00:00.1230000Z (7 fractional digits)."""
    sec, ms = divmod(ts_ms, 1000)
    return dt.datetime.fromtimestamp(sec, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") + f".{ms:03d}0000Z"


def fixture_candles(provider: str, symbol_id: str, start: int = FIXTURE_START, end: int = FIXTURE_END,
                    period_id: str = "5MIN", overrides: dict | None = None) -> list[dict]:
    """The candles the server answers with, as dicts of the provider's wire TEXT (strings, None for null).

    Keys: symbol_id, period_id, time_period_start (unix seconds), time_period_end, time_open, time_close
    (CoinAPI ISO text with 7 digits, None when null), price_open/high/low/close and volume_traded (the exact number
    text sent), trades_count (int or None). Candles whose start is in [start, end), ascending.
    `overrides` maps (provider|'*', symbol_id, period_id, start) -> {field: text}.
    """
    if symbol_id not in SYMBOLS:
        raise KeyError(symbol_id)
    if provider not in ("coinapi", "bitstamp"):
        raise ValueError(provider)
    period = PERIODS[period_id]
    spec = SYMBOLS[symbol_id]
    dec = spec["decimals"]
    strip = provider == "coinapi"
    minutes_per = period // 60
    first = -(-start // period) * period  # first period start >= start
    out = []
    t = first
    while t < end:
        day = t // 86400
        walk = _minute_walk(symbol_id, day)
        m0 = (t - day * 86400) // 60
        chunk = walk[m0:m0 + minutes_per]
        o, c = chunk[0][0], chunk[-1][3]
        h = max(x[1] for x in chunk)
        lo = min(x[2] for x in chunk)
        vol = sum(x[4] for x in chunk)
        trades = sum(x[5] for x in chunk)
        candle = {
            "symbol_id": symbol_id,
            "period_id": period_id,
            "time_period_start": t,
            "time_period_end": t + period,
            "time_open": iso7(t * 1000 + chunk[0][6]),
            "time_close": iso7((t + (len(chunk) - 1) * 60) * 1000 + chunk[-1][7]),
            "price_open": _ticks_text(o, dec, strip),
            "price_high": _ticks_text(h, dec, strip),
            "price_low": _ticks_text(lo, dec, strip),
            "price_close": _ticks_text(c, dec, strip),
            "volume_traded": _ticks_text(vol, 8, strip),
            "trades_count": trades,
        }
        if provider == "bitstamp":  # Bitstamp's OHLC has no open/close times or trade counts
            candle["time_open"] = candle["time_close"] = candle["trades_count"] = None
        if period_id == "5MIN" and t in SPECIALS[provider]:
            if t == SPECIAL_EXPONENT_VOLUME:
                candle["volume_traded"] = "1.5E-07"
            elif t == SPECIAL_LONG_PRICE:
                candle["price_high"] = _long_text(max(o, c), dec)
            elif t == SPECIAL_NULL_PRICES:
                for f in ("time_open", "time_close", "price_open", "price_high", "price_low", "price_close"):
                    candle[f] = None
                candle["volume_traded"] = "0"
                candle["trades_count"] = 0
            elif t == SPECIAL_TRAILING_ZEROS:
                candle["volume_traded"] = "100.10"
        if overrides:
            for key in ((provider, symbol_id, period_id, t), ("*", symbol_id, period_id, t)):
                candle.update(overrides.get(key, {}))
        out.append(candle)
        t += period
    return out


def plain_decimal(text: str | None) -> str | None:
    """Exponent notation rewritten to plain decimal, digits otherwise unchanged (what transform must output)."""
    if text is None:
        return None
    m = re.fullmatch(r"([+-]?)(\d*)(?:\.(\d*))?[eE]([+-]?\d+)", text)
    if not m:
        return text
    sign, ip, fp, exp = m.group(1), m.group(2) or "", m.group(3) or "", int(m.group(4))
    digits, point = ip + fp, len(ip) + exp
    if point <= 0:
        res = "0." + "0" * (-point) + digits
    elif point >= len(digits):
        res = digits + "0" * (point - len(digits))
    else:
        res = digits[:point] + "." + digits[point:]
    int_part, _, frac = res.partition(".")
    int_part = int_part.lstrip("0") or "0"
    res = int_part + ("." + frac if frac else "")
    return ("-" if sign == "-" else "") + res


# --------------------------------------------------------------------------------------------------
# Wire renderers
# --------------------------------------------------------------------------------------------------

def _json_num(text) -> str:
    if text is None:
        return "null"
    return str(text)  # number text verbatim: json.dumps would go through float


def _json_str(text) -> str:
    return "null" if text is None else json.dumps(text)


def render_coinapi(candles: list[dict]) -> bytes:
    """CoinAPI /v1/ohlcv/{symbol}/history body (field order as in CoinAPI's documented example)."""
    items = []
    for c in candles:
        items.append(
            "{"
            f'"time_period_start":"{iso7(c["time_period_start"] * 1000)}",'
            f'"time_period_end":"{iso7(c["time_period_end"] * 1000)}",'
            f'"time_open":{_json_str(c["time_open"])},'
            f'"time_close":{_json_str(c["time_close"])},'
            f'"price_open":{_json_num(c["price_open"])},'
            f'"price_high":{_json_num(c["price_high"])},'
            f'"price_low":{_json_num(c["price_low"])},'
            f'"price_close":{_json_num(c["price_close"])},'
            f'"volume_traded":{_json_num(c["volume_traded"])},'
            f'"trades_count":{_json_num(c["trades_count"])}'
            "}")
    return ("[" + ",".join(items) + "]").encode()


def render_bitstamp(pair_display: str, candles: list[dict]) -> bytes:
    """Bitstamp /api/v2/ohlc/{pair}/ body: every value a string."""
    ohlc = [{"high": c["price_high"], "timestamp": str(c["time_period_start"]), "volume": c["volume_traded"],
             "low": c["price_low"], "close": c["price_close"], "open": c["price_open"]} for c in candles]
    return json.dumps({"data": {"pair": pair_display, "ohlc": ohlc}}, separators=(", ", ": ")).encode()


_ISO_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d{1,7}))?)?)?)?"
                     r"(Z|[+-]00:?00)?")


def parse_iso(text: str) -> float:
    """CoinAPI accepts several ISO 8601 shapes (yyyy-MM-ddTHH:mm:ss.fffffff, ..., yyyy-MM-dd); UTC assumed."""
    m = _ISO_RE.fullmatch(text.strip())
    if not m:
        raise ValueError(text)
    y, mo, d, h, mi, s, frac, _ = m.groups()
    base = dt.datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0), tzinfo=dt.timezone.utc)
    return base.timestamp() + (int(frac.ljust(7, "0")) / 1e7 if frac else 0.0)


# --------------------------------------------------------------------------------------------------
# Server state and handler
# --------------------------------------------------------------------------------------------------

class ReplayState:
    def __init__(self, coinapi_key: str, coinapi_page_cap: int | None = None):
        self.lock = threading.Lock()
        self.coinapi_key = coinapi_key
        self.default_page_cap = coinapi_page_cap
        self.shutdown = threading.Event()
        self.reset()

    def reset(self):
        with getattr(self, "lock", threading.Lock()):
            self.faults: list[tuple[str, dict]] = []
            self.requests: list[dict] = []
            self.overrides: dict = {}
            self.coinapi_page_cap = self.default_page_cap
            self.now: float | None = None
            self.gzip = True

    def clock(self) -> float:
        return self.now if self.now is not None else time.time()

    def take_fault(self, path: str) -> dict | None:
        with self.lock:
            for i, (prefix, fault) in enumerate(self.faults):
                if path.startswith(prefix):
                    del self.faults[i]
                    return fault
        return None


class ApiError(Exception):
    def __init__(self, status: int, body: dict | str, headers: dict | None = None):
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers or {}


class ReplayHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real APIs: every answer carries Content-Length
    server_version = "replay/1"
    state: ReplayState  # set on the subclass made by make_server

    def log_message(self, fmt, *args):  # quiet: the request log is the admin API
        pass

    # ---- plumbing ----
    def _read_body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _send(self, status: int, body: bytes, content_type: str = "application/json", headers: dict | None = None,
              allow_gzip: bool = True):
        if allow_gzip and self.state.gzip and "gzip" in (self.headers.get("Accept-Encoding") or "") and body:
            body = gzip.compress(body, mtime=0)
            headers = dict(headers or {}, **{"Content-Encoding": "gzip"})
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def _send_json(self, status: int, obj, headers: dict | None = None):
        body = obj.encode() if isinstance(obj, str) else json.dumps(obj).encode()
        self._send(status, body, "application/json; charset=utf-8", headers)

    def _abort(self, rst: bool):
        """Drop the connection: RST (SO_LINGER 0) or a plain close."""
        try:
            self.wfile.flush()
        except OSError:
            pass
        if rst:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR) if not rst else None
        except OSError:
            pass
        self.connection.close()

    # ---- routing ----
    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def _dispatch(self, method: str):
        url = urlsplit(self.path)
        if url.path.startswith("/__admin/"):
            return self._admin(method, url.path, self._read_body())
        query = parse_qs(url.query, keep_blank_values=True)
        key_present = bool(self.headers.get("X-CoinAPI-Key")) or "apikey" in query
        entry = {"method": method, "path": url.path,
                 "query": {k: v for k, v in query.items() if k.lower() != "apikey"},
                 "key_present": key_present, "fault": None, "status": None, "time": time.time()}
        with self.state.lock:
            self.state.requests.append(entry)
        fault = self.state.take_fault(url.path)
        if fault:
            entry["fault"] = fault.get("kind")
        try:
            if fault and fault.get("kind") == "stall":
                # Hold the request, then answer normally (the client has usually given up by then).
                self.state.shutdown.wait(float(fault.get("seconds", 10)))
                fault = None
            if fault and self._pre_fault(fault, url.path, entry):
                return
            status, body, ctype, headers = self._route(method, url.path, query)
        except ApiError as e:
            body = e.body if isinstance(e.body, str) else json.dumps(e.body)
            status, body, ctype, headers = e.status, body.encode(), "application/json; charset=utf-8", e.headers
        entry["status"] = status
        try:
            if fault:
                self._post_fault(fault, status, body, ctype, headers)
            else:
                self._send(status, body, ctype, headers)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _pre_fault(self, fault: dict, path: str, entry: dict) -> bool:
        """Faults that replace the answer entirely. Returns True when the request has been answered."""
        kind = fault.get("kind")
        if kind == "status":
            st = int(fault.get("status", 500))
            headers = {}
            if fault.get("retry_after") is not None:
                headers["Retry-After"] = str(fault["retry_after"])
            body = fault.get("body")
            if body is None:
                body = json.dumps(_default_error_body(path, st))
            entry["status"] = st
            self._send(st, body.encode(), fault.get("content_type", "application/json; charset=utf-8"), headers)
            return True
        if kind == "body":
            st = int(fault.get("status", 200))
            entry["status"] = st
            self._send(st, str(fault.get("body", "")).encode(), fault.get("content_type", "application/json"))
            return True
        if kind == "html200":
            entry["status"] = 200
            html = ("<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n<body><center><h1>502 Bad "
                    "Gateway</h1></center><hr><center>cloudflare</center></body></html>\n")
            self._send(200, html.encode(), "text/html; charset=UTF-8")
            return True
        if kind == "empty":
            entry["status"] = 200
            self._send(200, b"", "application/json; charset=utf-8")
            return True
        if kind == "empty_page":
            entry["status"] = 200
            if path.startswith("/v1/"):
                self._send(200, b"[]", "application/json; charset=utf-8")
            else:
                pair = path.rstrip("/").rsplit("/", 1)[-1]
                self._send(200, render_bitstamp(_pair_display(pair), []), "application/json")
            return True
        if kind in ("reset", "truncate", "truncated_json"):
            return False  # need the real answer first
        raise ApiError(500, {"error": f"replay: unknown fault kind {kind!r}"})

    def _post_fault(self, fault: dict, status: int, body: bytes, ctype: str, headers: dict):
        kind = fault["kind"]
        if kind == "truncated_json":
            cut = body[: max(1, len(body) // 2)]
            self._send(status, cut, ctype, headers)
            return
        # reset / truncate: promise the whole body, send half of it, then drop the connection.
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body[: max(1, len(body) // 2)])
        self._abort(rst=(kind == "reset"))

    def _route(self, method: str, path: str, query: dict):
        if method != "GET":
            raise ApiError(405, {"error": "Method not allowed"})
        m = re.fullmatch(r"/v1/ohlcv/([^/]+)/history", path)
        if m:
            return self._coinapi_history(m.group(1), query)
        m = re.fullmatch(r"/api/v2/ohlc/([^/]+)/?", path)
        if m:
            return self._bitstamp_ohlc(m.group(1), query)
        raise ApiError(404, {"error": "Not found"})

    # ---- CoinAPI ----
    def _coinapi_history(self, symbol_id: str, query: dict):
        key = self.headers.get("X-CoinAPI-Key") or (query.get("apikey") or [None])[0]
        if not key or key != self.state.coinapi_key:
            # CoinAPI answers 401 with a JSON object carrying one "error" string.
            raise ApiError(401, {"error": "Invalid API key"})

        def one(name):
            v = query.get(name)
            return v[0] if v else None

        period_id = one("period_id")
        if not period_id:
            raise ApiError(400, {"error": "Missing required parameter: period_id"})
        if period_id not in PERIODS:
            # Real CoinAPI knows more periods (1SEC..5YRS); the fixture generates only the contract's five.
            raise ApiError(400, {"error": f"Invalid period_id: {period_id}"})
        if not one("time_start"):
            raise ApiError(400, {"error": "Missing required parameter: time_start"})
        try:
            t_start = parse_iso(one("time_start"))
            t_end = parse_iso(one("time_end")) if one("time_end") else None
        except ValueError as e:
            raise ApiError(400, {"error": f"Invalid date format: {e}"})
        limit_text = one("limit")
        try:
            limit = int(limit_text) if limit_text is not None else 100
        except ValueError:
            raise ApiError(400, {"error": f"Invalid limit: {limit_text}"})
        if not 1 <= limit <= 100000:
            raise ApiError(400, {"error": "Parameter 'limit' must be between 1 and 100000"})
        if symbol_id not in COINAPI_SYMBOLS:
            # Guess: CoinAPI's documented 550 "no data" answer; not verified for the history endpoint.
            raise ApiError(550, {"error": "You requested specific single item that we don't have at this moment."})
        with self.state.lock:
            cap = self.state.coinapi_page_cap
            overrides = dict(self.state.overrides)
        now = self.state.clock()
        period = PERIODS[period_id]
        # The currently forming period is included (its start <= now), like the live API; nothing after it.
        hi = int(now // period) * period + 1
        if t_end is not None:
            hi = min(hi, int(-(-t_end // 1)))
        n = min(limit, cap) if cap else limit
        lo = int(-(-t_start // 1))
        candles = fixture_candles("coinapi", symbol_id, lo, min(hi, lo + n * period), period_id, overrides)
        # A candle "starting" before t_end but whose first second is >= t_end cannot happen with integer starts.
        candles = [c for c in candles if c["time_period_start"] >= t_start and (t_end is None or
                                                                               c["time_period_start"] < t_end)]
        return 200, render_coinapi(candles[:n]), "application/json; charset=utf-8", {}

    # ---- Bitstamp ----
    def _bitstamp_ohlc(self, pair: str, query: dict):
        if pair not in BITSTAMP_PAIRS:
            # Guess at Bitstamp's answer for an unknown market (not verified): 404 with its error object.
            raise ApiError(404, {"status": "error", "reason": "Currency pair not found.", "code": "API0003"})

        def one(name):
            v = query.get(name)
            return v[0] if v else None

        def bad(field, msg):
            # Guess at Bitstamp's validation error shape (not verified): 400 + {"errors": [...]} + code.
            return ApiError(400, {"errors": [{"field": field, "message": msg, "code": "invalid"}],
                                  "code": "API0005", "status": "error"})

        try:
            step = int(one("step") or "")
        except ValueError:
            raise bad("step", "Must be one of: " + ", ".join(map(str, BITSTAMP_STEPS)) + ".")
        if step not in BITSTAMP_STEPS:
            raise bad("step", "Must be one of: " + ", ".join(map(str, BITSTAMP_STEPS)) + ".")
        try:
            limit = int(one("limit") or "")
        except ValueError:
            raise bad("limit", "Not a valid integer.")
        if not 1 <= limit <= 1000:
            raise bad("limit", "Must be between 1 and 1000.")
        try:
            start = int(one("start")) if one("start") is not None else None
            end = int(one("end")) if one("end") is not None else None
        except ValueError:
            raise bad("start" if one("start") else "end", "Not a valid integer.")
        exclude_current = (one("exclude_current_candle") or "").lower() == "true"
        symbol_id = BITSTAMP_PAIRS[pair]
        period_id = STEP_TO_PERIOD.get(step)
        now = self.state.clock()
        last_start = int(now // step) * step  # the currently forming candle
        if exclude_current:
            last_start -= step
        if end is not None:
            last_start = min(last_start, end // step * step)  # end is inclusive of a candle starting at it
        # Bitstamp's documented semantics: `start` alone -> the first `limit` candles from start; `end` (alone OR
        # together with start: "if both start and end are posted, end timestamp will be used") -> the last
        # `limit` candles up to end; neither -> the last `limit` candles up to now. A client paging a window
        # must therefore send start+limit only.
        if start is not None and end is None:
            first = -(-start // step) * step
        else:
            first = last_start - (limit - 1) * step
        stop = min(last_start + step, first + limit * step)
        with self.state.lock:
            overrides = dict(self.state.overrides)
        if period_id is None:
            candles = []  # steps other than the contract periods (180, 1800, ...): no fixture data
        else:
            candles = fixture_candles("bitstamp", symbol_id, first, stop, period_id, overrides) if stop > first else []
        return 200, render_bitstamp(_pair_display(pair), candles), "application/json", {}

    # ---- admin ----
    def _admin(self, method: str, path: str, raw: bytes):
        st = self.state
        try:
            payload = json.loads(raw) if raw else {}
        except ValueError:
            return self._send_json(400, {"error": "admin: body is not JSON"})
        if path == "/__admin/health":
            return self._send_json(200, {"ok": True})
        if path == "/__admin/requests" and method == "GET":
            with st.lock:
                return self._send_json(200, list(st.requests))
        if path == "/__admin/reset" and method == "POST":
            st.reset()
            return self._send_json(200, {"ok": True})
        if path == "/__admin/faults" and method == "POST":
            faults = payload.get("faults", payload if isinstance(payload, list) else [])
            prefix = payload.get("path_prefix", "") if isinstance(payload, dict) else ""
            with st.lock:
                for f in faults:
                    st.faults.append((f.get("path_prefix", prefix), f))
                queued = len(st.faults)
            return self._send_json(200, {"queued": queued})
        if path == "/__admin/config" and method == "POST":
            with st.lock:
                if "coinapi_page_cap" in payload:
                    st.coinapi_page_cap = payload["coinapi_page_cap"]
                if "now" in payload:
                    st.now = payload["now"]
                if "gzip" in payload:
                    st.gzip = bool(payload["gzip"])
                for o in payload.get("overrides", []):
                    t = o["time_period_start"]
                    t = int(parse_iso(t)) if isinstance(t, str) else int(t)
                    key = (o.get("provider", "*"), o["symbol_id"], o.get("period_id", "5MIN"), t)
                    st.overrides.setdefault(key, {}).update(o["fields"])
            return self._send_json(200, {"ok": True})
        return self._send_json(404, {"error": f"admin: no {method} {path}"})


def _pair_display(pair: str) -> str:
    return (pair[:-3] + "/" + pair[-3:]).upper()


def _default_error_body(path: str, status: int) -> dict:
    if path.startswith("/v1/"):
        if status == 429:
            return {"error": "You have exceeded your API key rate limits. Upgrade your subscription."}
        return {"error": f"HTTP {status}"}
    if status == 429:
        return {"status": "error", "reason": "Request rejected due to exceeded rate limit.", "code": "400.002"}
    return {"status": "error", "reason": f"HTTP {status}"}


class ReplayServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def make_server(host: str = "127.0.0.1", port: int = 0, coinapi_key: str = "replay-coinapi-key",
                coinapi_page_cap: int | None = None) -> ReplayServer:
    """A bound (not yet serving) server; call serve_forever() in a thread, shutdown() to stop."""
    state = ReplayState(coinapi_key, coinapi_page_cap)
    handler = type("BoundReplayHandler", (ReplayHandler,), {"state": state})
    srv = ReplayServer((host, port), handler)
    srv.state = state
    return srv


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0 = any free port")
    ap.add_argument("--port-file", help="write the bound port here once ready")
    ap.add_argument("--coinapi-key", default=os.environ.get("REPLAY_COINAPI_KEY", "replay-coinapi-key"),
                    help="the X-CoinAPI-Key value accepted (default: env REPLAY_COINAPI_KEY or replay-coinapi-key)")
    ap.add_argument("--coinapi-page-cap", type=int, default=None,
                    help="answer at most N CoinAPI candles per request whatever `limit` says (forces paging)")
    args = ap.parse_args(argv)
    srv = make_server(args.host, args.port, args.coinapi_key, args.coinapi_page_cap)
    port = srv.server_address[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{port}\n")
        os.replace(tmp, args.port_file)
    print(f"replay: listening on http://{args.host}:{port}", file=sys.stderr, flush=True)
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        srv.state.shutdown.set()
        srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
