"""The replay server on its own: wire formats, pagination parameters, limits, auth, faults, admin API."""
from __future__ import annotations

import email.utils
import gzip
import http.client
import json
import socket
import time
import urllib.error
import urllib.request

import pytest

import replay_server as rs

D0 = rs.FIXTURE_START  # 2024-01-01T00:00:00Z


def get(replay, path, headers=None, timeout=10):
    """(status, headers, raw body bytes) without raising on HTTP errors."""
    req = urllib.request.Request(replay.url + path, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def coinapi(replay, symbol="COINBASE_SPOT_BTC_USD", key=True, **params):
    params.setdefault("period_id", "5MIN")
    qs = "&".join(f"{k}={v}" for k, v in params.items())
    headers = {"X-CoinAPI-Key": replay.coinapi_key} if key is True else ({"X-CoinAPI-Key": key} if key else {})
    return get(replay, f"/v1/ohlcv/{symbol}/history?{qs}", headers)


def bitstamp(replay, pair="btcusd", **params):
    params.setdefault("step", 300)
    params.setdefault("limit", 1000)
    qs = "&".join(f"{k}={v}" for k, v in params.items())
    return get(replay, f"/api/v2/ohlc/{pair}/?{qs}")


# ---- fixtures (pure functions) ----------------------------------------------------------------

def test_fixture_is_deterministic_and_contiguous():
    a = rs.fixture_candles("coinapi", "BITSTAMP_SPOT_ETH_USD")
    b = rs.fixture_candles("coinapi", "BITSTAMP_SPOT_ETH_USD")
    assert a == b
    assert len(a) == 5 * 288
    starts = [c["time_period_start"] for c in a]
    assert starts == list(range(D0, rs.FIXTURE_END, 300))


def test_fixture_candles_are_valid_ohlc():
    from decimal import Decimal
    for provider in ("coinapi", "bitstamp"):
        for sym in ("BITSTAMP_SPOT_BTC_USD", "BITSTAMP_SPOT_XRP_USD"):
            for c in rs.fixture_candles(provider, sym):
                if c["price_open"] is None:
                    continue
                o, h, lo, cl = (Decimal(c[f]) for f in ("price_open", "price_high", "price_low", "price_close"))
                assert lo <= min(o, cl) and max(o, cl) <= h, c
                assert Decimal(c["volume_traded"]) >= 0


def test_fixture_special_cases_sit_at_known_places():
    c = {x["time_period_start"]: x for x in rs.fixture_candles("coinapi", "COINBASE_SPOT_BTC_USD", D0, D0 + 3600)}
    assert c[rs.SPECIAL_EXPONENT_VOLUME]["volume_traded"] == "1.5E-07"
    long_high = c[rs.SPECIAL_LONG_PRICE]["price_high"]
    assert len(long_high.replace(".", "").lstrip("0")) == 20
    assert c[rs.SPECIAL_NULL_PRICES]["price_open"] is None and c[rs.SPECIAL_NULL_PRICES]["time_open"] is None
    assert c[rs.SPECIAL_TRAILING_ZEROS]["volume_traded"] == "100.10"
    b = {x["time_period_start"]: x for x in rs.fixture_candles("bitstamp", "BITSTAMP_SPOT_XRP_USD", D0, D0 + 3600)}
    assert len(b[rs.SPECIAL_LONG_PRICE]["price_high"].replace(".", "").lstrip("0")) == 20
    assert b[rs.SPECIAL_TRAILING_ZEROS]["volume_traded"] == "100.10"
    assert all(x["price_open"] is not None for x in b.values())


@pytest.mark.parametrize("text,plain", [
    ("1.5E-07", "0.00000015"), ("1.5e-7", "0.00000015"), ("2E+3", "2000"), ("1.25E2", "125"),
    ("-3.1E-2", "-0.031"), ("100.10", "100.10"), ("42", "42"), ("1.2345E+2", "123.45"),
])
def test_plain_decimal(text, plain):
    assert rs.plain_decimal(text) == plain


def test_aggregated_periods_match_five_minute_candles():
    five = rs.fixture_candles("bitstamp", "BITSTAMP_SPOT_BTC_USD", D0 + 86400, D0 + 86400 + 3600)
    hour = rs.fixture_candles("bitstamp", "BITSTAMP_SPOT_BTC_USD", D0 + 86400, D0 + 86400 + 3600, "1HRS")
    assert len(hour) == 1
    assert hour[0]["price_open"] == five[0]["price_open"]
    assert hour[0]["price_close"] == five[-1]["price_close"]
    assert max(five, key=lambda c: float(c["price_high"]))["price_high"] == hour[0]["price_high"]


# ---- CoinAPI over HTTP ------------------------------------------------------------------------

def test_coinapi_wire_format_keeps_number_text(replay_clean):
    st, hdr, body = coinapi(replay_clean, time_start="2024-01-01T00:00:00", time_end="2024-01-01T01:00:00",
                            limit=100)
    assert st == 200 and hdr["Content-Type"].startswith("application/json")
    text = body.decode()
    rows = json.loads(text)
    assert len(rows) == 12
    assert list(rows[0]) == ["time_period_start", "time_period_end", "time_open", "time_close", "price_open",
                             "price_high", "price_low", "price_close", "volume_traded", "trades_count"]
    assert rows[0]["time_period_start"] == "2024-01-01T00:00:00.0000000Z"
    assert rows[0]["time_period_end"] == "2024-01-01T00:05:00.0000000Z"
    assert '"volume_traded":1.5E-07' in text
    assert '"volume_traded":100.10' in text
    assert '"price_open":null' in text
    expected = rs.fixture_candles("coinapi", "COINBASE_SPOT_BTC_USD", D0, D0 + 3600)
    assert rs.render_coinapi(expected) == body


def test_coinapi_pagination_by_time_start_and_limit(replay_clean):
    got = []
    start = "2024-01-01T00:00:00.0000000Z"
    for _ in range(10):
        st, _, body = coinapi(replay_clean, time_start=start, time_end="2024-01-01T12:00:00", limit=50)
        assert st == 200
        page = json.loads(body)
        assert len(page) <= 50
        if not page:
            break
        got += page
        start = page[-1]["time_period_end"]
    assert [r["time_period_start"] for r in got] == [rs.iso7(t * 1000) for t in range(D0, D0 + 12 * 3600, 300)]


def test_coinapi_default_limit_is_100(replay_clean):
    st, _, body = coinapi(replay_clean, time_start="2024-01-01", time_end="2024-01-03")
    assert st == 200 and len(json.loads(body)) == 100


def test_coinapi_page_cap_forces_short_pages(replay_clean):
    replay_clean.configure(coinapi_page_cap=7)
    st, _, body = coinapi(replay_clean, time_start="2024-01-01", time_end="2024-01-03", limit=100000)
    assert st == 200 and len(json.loads(body)) == 7


@pytest.mark.parametrize("limit", [0, 100001, "abc"])
def test_coinapi_bad_limit_is_400(replay_clean, limit):
    st, _, body = coinapi(replay_clean, time_start="2024-01-01", time_end="2024-01-02", limit=limit)
    assert st == 400 and "error" in json.loads(body)


@pytest.mark.parametrize("key", [None, "wrong-key"])
def test_coinapi_missing_or_wrong_key_is_401(replay_clean, key):
    st, _, body = coinapi(replay_clean, key=key, time_start="2024-01-01")
    assert st == 401 and json.loads(body) == {"error": "Invalid API key"}
    log = replay_clean.requests()
    assert log[-1]["key_present"] is (key is not None)
    assert "wrong-key" not in json.dumps(log)


def test_coinapi_unknown_symbol_is_550(replay_clean):
    st, _, body = coinapi(replay_clean, symbol="NOPE_SPOT_FOO_BAR", time_start="2024-01-01")
    assert st == 550 and "error" in json.loads(body)


def test_coinapi_excludes_future_and_includes_forming_candle(replay_clean):
    now = D0 + 3600 + 120  # 01:02 -> the 01:00 candle is still forming
    replay_clean.configure(now=now)
    st, _, body = coinapi(replay_clean, time_start="2024-01-01T00:30:00", time_end="2024-01-01T03:00:00",
                          limit=1000)
    starts = [r["time_period_start"] for r in json.loads(body)]
    assert starts[0] == "2024-01-01T00:30:00.0000000Z"
    assert starts[-1] == "2024-01-01T01:00:00.0000000Z"


# ---- Bitstamp over HTTP -----------------------------------------------------------------------

def test_bitstamp_wire_format_all_strings(replay_clean):
    st, _, body = bitstamp(replay_clean, start=D0, limit=12)
    assert st == 200
    doc = json.loads(body)
    assert doc["data"]["pair"] == "BTC/USD"
    ohlc = doc["data"]["ohlc"]
    assert len(ohlc) == 12
    assert set(ohlc[0]) == {"timestamp", "open", "high", "low", "close", "volume"}
    assert all(isinstance(v, str) for row in ohlc for v in row.values())
    assert ohlc[0]["timestamp"] == str(D0)
    exp = rs.fixture_candles("bitstamp", "BITSTAMP_SPOT_BTC_USD", D0, D0 + 3600)
    assert [r["close"] for r in ohlc] == [c["price_close"] for c in exp]
    assert ohlc[9]["volume"] == "100.10"


def test_bitstamp_pagination_by_start(replay_clean):
    end = D0 + 4 * 86400  # 1152 candles: two pages of <= 1000
    got, start = [], D0
    while start < end:
        st, _, body = bitstamp(replay_clean, start=start, limit=min(1000, (end - start) // 300))
        page = json.loads(body)["data"]["ohlc"]
        assert st == 200 and 0 < len(page) <= 1000
        got += [int(r["timestamp"]) for r in page]
        start = int(page[-1]["timestamp"]) + 300
    assert got == list(range(D0, end, 300))


def test_bitstamp_start_rounds_up(replay_clean):
    st, _, body = bitstamp(replay_clean, start=D0 + 1, limit=3)
    ts = [int(r["timestamp"]) for r in json.loads(body)["data"]["ohlc"]]
    assert ts == [D0 + 300, D0 + 600, D0 + 900]


def test_bitstamp_end_wins_over_start_as_documented(replay_clean):
    st, _, body = bitstamp(replay_clean, start=D0, end=D0 + 86400, limit=3)
    ts = [int(r["timestamp"]) for r in json.loads(body)["data"]["ohlc"]]
    assert ts == [D0 + 86400 - 600, D0 + 86400 - 300, D0 + 86400]


def test_bitstamp_only_end_gives_last_limit_candles(replay_clean):
    st, _, body = bitstamp(replay_clean, end=D0 + 3000, limit=3)
    ts = [int(r["timestamp"]) for r in json.loads(body)["data"]["ohlc"]]
    assert ts == [D0 + 2400, D0 + 2700, D0 + 3000]


@pytest.mark.parametrize("params", [{"limit": 1001}, {"limit": 0}, {"step": 301}, {"step": "x"}])
def test_bitstamp_bad_params_are_400(replay_clean, params):
    st, _, body = bitstamp(replay_clean, start=D0, **params)
    assert st == 400
    assert json.loads(body)["errors"][0]["field"] in ("limit", "step")


def test_bitstamp_unknown_pair_is_404(replay_clean):
    st, _, _ = bitstamp(replay_clean, pair="foobar", start=D0)
    assert st == 404


def test_bitstamp_exclude_current_candle(replay_clean):
    replay_clean.configure(now=D0 + 1000)  # forming: D0+900
    _, _, body = bitstamp(replay_clean, start=D0, limit=10)
    assert int(json.loads(body)["data"]["ohlc"][-1]["timestamp"]) == D0 + 900
    _, _, body = bitstamp(replay_clean, start=D0, limit=10, exclude_current_candle="true")
    assert int(json.loads(body)["data"]["ohlc"][-1]["timestamp"]) == D0 + 600


def test_gzip_when_accepted(replay_clean):
    req = urllib.request.Request(replay_clean.url + f"/api/v2/ohlc/ethusd/?step=300&limit=5&start={D0}",
                                 headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.headers["Content-Encoding"] == "gzip"
        assert len(json.loads(gzip.decompress(r.read()))["data"]["ohlc"]) == 5


def test_overrides_change_one_candle(replay_clean):
    replay_clean.configure(overrides=[{"provider": "bitstamp", "symbol_id": "BITSTAMP_SPOT_BTC_USD",
                                       "time_period_start": "2024-01-01T00:10:00Z",
                                       "fields": {"price_close": "12345.67"}}])
    _, _, body = bitstamp(replay_clean, start=D0, limit=4)
    closes = [r["close"] for r in json.loads(body)["data"]["ohlc"]]
    exp = rs.fixture_candles("bitstamp", "BITSTAMP_SPOT_BTC_USD", D0, D0 + 1200)
    assert closes[2] == "12345.67" and closes[1] == exp[1]["price_close"] and closes[3] == exp[3]["price_close"]


# ---- faults -----------------------------------------------------------------------------------

def test_fault_429_retry_after_then_normal(replay_clean):
    date = email.utils.formatdate(time.time() + 2, usegmt=True)
    replay_clean.set_faults([{"kind": "status", "status": 429, "retry_after": "1"},
                             {"kind": "status", "status": 429, "retry_after": date}], path_prefix="/api/v2")
    st1, h1, b1 = bitstamp(replay_clean, start=D0, limit=2)
    st2, h2, _ = bitstamp(replay_clean, start=D0, limit=2)
    st3, _, b3 = bitstamp(replay_clean, start=D0, limit=2)
    assert (st1, h1["Retry-After"]) == (429, "1")
    assert (st2, h2["Retry-After"]) == (429, date)
    assert st3 == 200 and len(json.loads(b3)["data"]["ohlc"]) == 2
    assert [r["fault"] for r in replay_clean.requests()] == ["status", "status", None]


def test_fault_prefix_only_matches_its_provider(replay_clean):
    replay_clean.set_faults([{"kind": "status", "status": 500}], path_prefix="/v1")
    st, _, _ = bitstamp(replay_clean, start=D0, limit=2)
    assert st == 200
    st, _, body = coinapi(replay_clean, time_start="2024-01-01", limit=2)
    assert st == 500 and "error" in json.loads(body)
    st, _, _ = coinapi(replay_clean, time_start="2024-01-01", limit=2)
    assert st == 200


def _raw_get(replay, path, timeout=5):
    conn = http.client.HTTPConnection("127.0.0.1", replay.port, timeout=timeout)
    conn.request("GET", path)
    resp = conn.getresponse()
    return resp, resp.read()


def test_fault_truncate_body_shorter_than_content_length(replay_clean):
    replay_clean.set_faults([{"kind": "truncate"}])
    with pytest.raises(http.client.IncompleteRead):
        _raw_get(replay_clean, f"/api/v2/ohlc/btcusd/?step=300&limit=50&start={D0}")


def test_fault_reset_mid_body(replay_clean):
    replay_clean.set_faults([{"kind": "reset"}])
    with pytest.raises((http.client.IncompleteRead, ConnectionResetError)):
        _raw_get(replay_clean, f"/api/v2/ohlc/btcusd/?step=300&limit=50&start={D0}")


def test_fault_truncated_json_is_complete_http(replay_clean):
    replay_clean.set_faults([{"kind": "truncated_json"}])
    resp, body = _raw_get(replay_clean, f"/api/v2/ohlc/btcusd/?step=300&limit=50&start={D0}")
    assert resp.status == 200 and int(resp.headers["Content-Length"]) == len(body)
    with pytest.raises(ValueError):
        json.loads(body)


def test_fault_stall_delays_answer(replay_clean):
    replay_clean.set_faults([{"kind": "stall", "seconds": 1.5}])
    t0 = time.monotonic()
    with pytest.raises((socket.timeout, TimeoutError)):
        _raw_get(replay_clean, f"/api/v2/ohlc/btcusd/?step=300&limit=5&start={D0}", timeout=0.5)
    assert time.monotonic() - t0 < 1.4
    time.sleep(1.2)
    resp, body = _raw_get(replay_clean, f"/api/v2/ohlc/btcusd/?step=300&limit=5&start={D0}")
    assert resp.status == 200


@pytest.mark.parametrize("kind,check", [
    ("html200", lambda st, h, b: st == 200 and h["Content-Type"].startswith("text/html") and b"<html>" in b),
    ("empty", lambda st, h, b: st == 200 and b == b""),
    ("empty_page", lambda st, h, b: st == 200 and json.loads(b) == []),
])
def test_fault_bad_200_answers(replay_clean, kind, check):
    replay_clean.set_faults([{"kind": kind}])
    st, h, b = coinapi(replay_clean, time_start="2024-01-01", limit=5)
    assert check(st, h, b)


def test_reset_clears_faults_and_log(replay_clean):
    replay_clean.set_faults([{"kind": "status", "status": 500}])
    bitstamp(replay_clean, start=D0, limit=1)
    replay_clean.set_faults([{"kind": "status", "status": 500}])
    replay_clean.reset()
    assert replay_clean.requests() == []
    st, _, _ = bitstamp(replay_clean, start=D0, limit=1)
    assert st == 200
