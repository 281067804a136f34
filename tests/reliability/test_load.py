"""Issue 7, load: 100 symbols x 12 consecutive 5-minute windows, each window one `extract | transform |
load-postgres` pipeline, run with bounded parallelism (4 at once, like an Airflow pool) against a real PostgreSQL
and the replay server (serving 100 generated symbols through tests/reliability/load_replay.py). Zero duplicates,
zero missing candles, every value exact; wall time and the maximum number of concurrent connections are reported
(printed, and recorded as junit properties)."""
from __future__ import annotations

import concurrent.futures as cf
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import replay_server as rs
from harness import base_env

HERE = Path(__file__).resolve().parent
SYMBOLS = 100
WINDOWS = 12
PARALLEL = 4
W0 = rs.FIXTURE_START + 86400  # 2024-01-02T00:00:00Z


@pytest.fixture(scope="module")
def load_replay(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("load_replay")
    port_file = tmp / "port"
    log = open(tmp / "replay.log", "w")
    key = "load-key-" + os.urandom(6).hex()
    proc = subprocess.Popen([sys.executable, str(HERE / "load_replay.py"), "--symbols", str(SYMBOLS), "--port", "0",
                             "--port-file", str(port_file), "--coinapi-key", key], stdout=log,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while not port_file.exists():
        assert proc.poll() is None and time.monotonic() < deadline, "load replay server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{int(port_file.read_text())}", key
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def iso(ts: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


class ConnectionSampler:
    """Polls pg_stat_activity for `dbname` every 20 ms through one psycopg2 connection to another database."""

    def __init__(self, pg, dbname):
        import psycopg2
        self.conn = psycopg2.connect(host=pg.host, port=pg.port, user=pg.user, dbname="postgres")
        self.conn.autocommit = True
        self.dbname = dbname
        self.max = 0
        self.samples = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        cur = self.conn.cursor()
        while not self.stop.is_set():
            cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (self.dbname,))
            self.max = max(self.max, cur.fetchone()[0])
            self.samples += 1
            time.sleep(0.02)

    def close(self):
        self.stop.set()
        self.thread.join()
        self.conn.close()


@pytest.mark.slow
def test_load_100_symbols_x_12_windows(cryptopipe_bin, pg, load_replay, record_property, tmp_path):
    # A snapshot of the binary: a rebuild of build/ during the minute this runs must not break it midway.
    binary = tmp_path / "cryptopipe"
    shutil.copy2(cryptopipe_bin, binary)
    sys.path.insert(0, str(HERE))
    import load_replay as lr
    symbols = lr.add_symbols(SYMBOLS)  # the same generated walks in this process, for the expected rows
    url, key = load_replay
    db = pg.create_db("load")
    env = base_env({**pg.env(db), "CRYPTOPIPE_API_BASE": url, "COINAPI_KEY": key})
    b = shlex.quote(str(binary))

    def one(symbol: str, w: int):
        start, end = W0 + w * 300, W0 + (w + 1) * 300
        script = (f"set -o pipefail; {b} extract --provider coinapi --symbol {symbol} --start {iso(start)} "
                  f"--end {iso(end)} | {b} transform | {b} load-postgres")
        r = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=120)
        return symbol, w, r

    jobs = [(s, w) for w in range(WINDOWS) for s in symbols]  # window by window, as the 5-minute DAG runs
    sampler = ConnectionSampler(pg, db)
    t0 = time.monotonic()
    failures = []
    try:
        with cf.ThreadPoolExecutor(PARALLEL) as pool:
            for symbol, w, r in pool.map(lambda j: one(*j), jobs):
                if r.returncode != 0 or r.stdout.strip() != "inserted 1, updated 0, unchanged 0":
                    failures.append((symbol, w, r.returncode, r.stdout.strip(), r.stderr[-500:]))
    finally:
        wall = time.monotonic() - t0
        sampler.close()
    record_property("load_wall_seconds", round(wall, 2))
    record_property("load_max_connections", sampler.max)
    print(f"\nload: {len(jobs)} pipelines ({SYMBOLS} symbols x {WINDOWS} windows), {PARALLEL} at once: "
          f"wall {wall:.1f}s, max concurrent connections {sampler.max} ({sampler.samples} samples)")
    assert failures == [], failures[:5]

    got = pg.query(db, "SELECT symbol_id, extract(epoch FROM time_period_start)::bigint::text, price_open::text, "
                       "price_high::text, price_low::text, price_close::text, volume_traded::text, "
                       "trades_count::text FROM ohlcv ORDER BY 1, 2")
    want = []
    for s in sorted(symbols):
        for c in rs.fixture_candles("coinapi", s, W0, W0 + WINDOWS * 300):
            want.append((s, str(c["time_period_start"]), *(rs.plain_decimal(c[f]) for f in
                         ("price_open", "price_high", "price_low", "price_close", "volume_traded")),
                         str(c["trades_count"])))
    assert len(got) == SYMBOLS * WINDOWS, f"{len(got)} rows, {SYMBOLS * WINDOWS} expected"
    assert pg.query(db, "SELECT count(DISTINCT (symbol_id, period_id, time_period_start)) FROM ohlcv") == \
        [(str(SYMBOLS * WINDOWS),)]
    assert got == want
    assert 1 <= sampler.max <= PARALLEL, f"{sampler.max} connections at once with {PARALLEL} pipelines"
