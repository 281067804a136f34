#!/usr/bin/env python3
"""cryptopipe side by side with the Python pipeline it replaces and with PostgreSQL's own COPY (issue 6).

One run starts its own PostgreSQL and moto S3 server, generates the data (bench/generate.py), and measures every
tool interleaved (for each size: for run in range(R): for each tool) so a busy neighbour slows all tools alike.
Each sample: wall time, peak RSS (`/usr/bin/time -v`), and a check of the outcome (rows in the table, rows in the
file, bytes of the object). Reports medians, throughput and ratios to each baseline, as Markdown, JSON and a PNG.

    bench/run.sh                                   # 100k and 1M rows, 5 runs; 10M for cryptopipe alone
    bench/run.sh --sizes 100000,1000000 --runs 5
    bench/run.sh --smoke                           # tiny N, one run: what the test suite runs

Tools whose dependencies are missing (pandas, SQLAlchemy, matplotlib, aws CLI: the bench venv made by
bench/setup.sh) or cryptopipe subcommands not implemented yet are skipped and listed as skipped.
"""
from __future__ import annotations

import argparse
import datetime as dt
import filecmp
import gzip
import hashlib
import importlib.util
import json
import os
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
import generate  # noqa: E402
from services import Moto, Postgres, base_env  # noqa: E402

DB = "bench"
TABLE = "ohlcv"
BUCKET = "bench"
MIB = 1024 * 1024
COLUMNS = generate.HEADER

# (category, tool, is_cryptopipe): the order inside one run. Loads end with cryptopipe's own load-postgres so the
# table holds the canonical rows (exact decimals, microsecond times) that every export then reads.
TOOLS = [
    ("transform", "cryptopipe transform", True),
    ("transform", "python json→csv", False),
    ("load", "pandas to_sql", False),
    ("load", "psycopg2 execute_batch", False),
    ("load", "psql \\copy", False),
    ("load", "cryptopipe transform | load-postgres", True),
    ("load", "cryptopipe load-postgres", True),
    ("export", "cryptopipe export-csv --gzip", True),
    ("export", "psql \\copy | gzip -6", False),
    ("export", "pandas read_sql → to_csv gzip", False),
    ("upload", "cryptopipe upload-s3", True),
    ("upload", "boto3 upload_file", False),
    ("upload", "aws s3 cp", False),
]
# The Python baselines take minutes per run at 1M rows: above 100k they run --python-runs times (default 2).
SLOW_PYTHON = ("pandas", "psycopg2", "python")
# Which cryptopipe figure each baseline is compared with (the same work: json->table for to_sql).
COMPARE = {
    "python json→csv": "cryptopipe transform",
    "pandas to_sql": "cryptopipe transform | load-postgres",
    "psycopg2 execute_batch": "cryptopipe load-postgres",
    "psql \\copy": "cryptopipe load-postgres",
    "psql \\copy | gzip -6": "cryptopipe export-csv --gzip",
    "pandas read_sql → to_csv gzip": "cryptopipe export-csv --gzip",
    "boto3 upload_file": "cryptopipe upload-s3",
    "aws s3 cp": "cryptopipe upload-s3",
}


class Bench:
    def __init__(self, args):
        self.args = args
        self.py_bench = Path(args.python)
        self.work = Path(tempfile.mkdtemp(prefix="cryptopipe-bench-", dir=args.work_dir))
        os.chmod(self.work, 0o711)  # the postgres OS user owns the cluster below it
        # A copy: others rebuild build/cryptopipe while a long run goes on; every sample must measure one binary.
        self.bin = self.work / "cryptopipe"
        shutil.copy2(Path(args.binary).resolve(), self.bin)
        self.bin_sha256 = hashlib.sha256(self.bin.read_bytes()).hexdigest()
        self.samples: list[dict] = []
        self.skipped: dict[str, str] = {}
        self.pg = self.moto = None
        self.time_v = Path("/usr/bin/time").exists()

    # ---------------------------------------------------------------- setup
    def availability(self) -> None:
        """Decides which tools can run here; the reason for each one that cannot."""
        def has_modules(*mods) -> bool:
            code = "import importlib.util,sys; sys.exit(0 if all(importlib.util.find_spec(m) for m in sys.argv[1:]) else 1)"
            return subprocess.run([str(self.py_bench), "-c", code, *mods]).returncode == 0

        pandas_ok = has_modules("pandas", "sqlalchemy", "psycopg2")
        self.aws = self.aws_cli()
        needs = {
            "pandas to_sql": (pandas_ok, "pandas/sqlalchemy missing: run bench/setup.sh"),
            "pandas read_sql → to_csv gzip": (pandas_ok, "pandas/sqlalchemy missing: run bench/setup.sh"),
            "psycopg2 execute_batch": (has_modules("psycopg2"), "psycopg2 missing: run bench/setup.sh"),
            "boto3 upload_file": (has_modules("boto3"), "boto3 missing: run bench/setup.sh"),
            "aws s3 cp": (self.aws is not None, "aws CLI missing or not working: run bench/setup.sh"),
            "psql \\copy": (shutil.which("psql") is not None, "psql missing"),
            "psql \\copy | gzip -6": (shutil.which("psql") is not None and shutil.which("gzip") is not None,
                                      "psql or gzip missing"),
        }
        for sub in ("transform", "load-postgres", "export-csv", "upload-s3"):
            res = subprocess.run([str(self.bin), sub, "--bench-probe"], capture_output=True, text=True, stdin=subprocess.DEVNULL,
                                 env=base_env())
            if "not yet implemented" in res.stderr:
                for _, tool, mine in TOOLS:
                    if mine and sub in tool:
                        needs[tool] = (False, f"cryptopipe {sub}: not yet implemented")
        only = set(self.args.tools.split(",")) if self.args.tools else None
        for cat, tool, _ in TOOLS:
            ok, why = needs.get(tool, (True, ""))
            if only and cat not in only:
                ok, why = False, f"not selected (--tools {self.args.tools})"
            if self.args.skip_python and tool.startswith(SLOW_PYTHON):
                ok, why = False, "not selected (--skip-python)"
            if not ok:
                self.skipped[tool] = why

    def aws_cli(self) -> str | None:
        """The bench venv's aws CLI, else one on PATH that actually runs (a pyenv shim may not)."""
        p = self.py_bench.with_name("aws")
        exe = str(p) if p.exists() else shutil.which("aws")
        if exe is None:
            return None
        try:
            ok = subprocess.run([exe, "--version"], capture_output=True, timeout=60).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            ok = False
        return exe if ok else None

    def start_services(self) -> None:
        self.pg = Postgres(self.work)
        self.pg.start()
        self.pg.psql("postgres", f"CREATE DATABASE {DB}")
        self.pg_env = self.pg.env(DB)
        res = subprocess.run([str(self.bin), "load-postgres", "--create-only", "--table", TABLE],
                             capture_output=True, text=True, env=base_env(self.pg_env))
        if res.returncode != 0:
            raise RuntimeError(f"load-postgres --create-only failed: {res.stderr.strip()}")
        if any(cat == "upload" and tool not in self.skipped for cat, tool, _ in TOOLS):
            self.moto = Moto(self.work)
            self.s3 = self.moto.client()
            self.s3.create_bucket(Bucket=BUCKET)

    def close(self) -> None:
        if self.pg:
            self.pg.close()
        if self.moto:
            self.moto.close()
        if not self.args.keep_work:
            shutil.rmtree(self.work, ignore_errors=True)

    # ---------------------------------------------------------------- measuring
    def measure(self, argv: list[str], env: dict) -> dict:
        """Runs argv once; wall seconds, peak RSS of the largest process (KiB), exit code, stderr tail."""
        tfile = self.work / "time.txt"
        full = ["/usr/bin/time", "-v", "-o", str(tfile), *argv] if self.time_v else argv
        t0 = time.perf_counter()
        proc = subprocess.Popen(full, env=base_env(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        try:
            out, err = proc.communicate(timeout=self.args.timeout)
        except BaseException:  # timeout, Ctrl-C, SIGTERM: never leave a measured process group behind
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
        wall = time.perf_counter() - t0
        if self.time_v:
            text = tfile.read_text()
            rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1))
            cpu = sum(float(x) for x in re.findall(r"(?:User|System) time \(seconds\): ([\d.]+)", text))
        else:  # no GNU time: report no RSS rather than a wrong one
            rss = cpu = None
        # cpu_s: user + system seconds of the client processes (not the PostgreSQL/moto server): on a machine
        # shared with other work, the figure a busy neighbour distorts least.
        return {"wall_s": wall, "cpu_s": cpu, "rss_kib": rss, "rc": proc.returncode, "stdout": out[-400:],
                "stderr": err[-800:]}

    def run_tool(self, cat: str, tool: str, n: int, data: dict) -> dict:
        """Prepares, measures and checks one tool on one size; the sample dict."""
        w = self.work
        env = dict(self.pg_env)
        check = {}
        if cat == "transform":
            out = w / "transform.csv"
            if tool == "cryptopipe transform":
                argv = [str(self.bin), "transform", "-i", str(data["json"]), "-o", str(out)]
            else:
                argv = [str(self.py_bench), str(BENCH / "baselines" / "transform_json_csv.py"), str(data["json"]),
                        str(out)]
            s = self.measure(argv, env)
            if s["rc"] == 0:
                check["rows"] = count_lines(out) - 1
                check["identical_to_generated_csv"] = filecmp.cmp(out, data["csv"], shallow=False)
            s["bytes_in"] = data["json"].stat().st_size
            out.unlink(missing_ok=True)
        elif cat == "load":
            self.pg.psql(DB, f"TRUNCATE {TABLE}; CHECKPOINT")  # every load does the same work: an empty keyed table
            b = shlex.quote(str(self.bin))
            if tool == "cryptopipe load-postgres":
                argv = [str(self.bin), "load-postgres", "-i", str(data["csv"]), "--table", TABLE]
            elif tool == "cryptopipe transform | load-postgres":
                argv = ["bash", "-o", "pipefail", "-c",
                        f"{b} transform -i {shlex.quote(str(data['json']))} | {b} load-postgres --table {TABLE}"]
            elif tool == "psql \\copy":
                argv = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c",
                        f"\\copy public.{TABLE} ({COLUMNS}) FROM '{data['csv']}' WITH (FORMAT csv, HEADER true)"]
            elif tool == "psycopg2 execute_batch":
                argv = [str(self.py_bench), str(BENCH / "baselines" / "load_execute_batch.py"), str(data["csv"]), TABLE]
            else:
                argv = [str(self.py_bench), str(BENCH / "baselines" / "load_to_sql.py"), str(data["json"]), TABLE]
            s = self.measure(argv, env)
            if s["rc"] == 0:
                check["rows"] = int(self.pg.psql(DB, f"SELECT count(*) FROM {TABLE}"))
                if tool.startswith("cryptopipe"):
                    check["summary"] = s["stdout"].strip()
            s["bytes_in"] = (data["json"] if tool in ("pandas to_sql", "cryptopipe transform | load-postgres")
                             else data["csv"]).stat().st_size
        elif cat == "export":
            rows_in_table = int(self.pg.psql(DB, f"SELECT count(*) FROM {TABLE}"))
            if rows_in_table != n:  # a failed load left the table short: refill it untimed
                self.pg.psql(DB, f"TRUNCATE {TABLE}")
                subprocess.run([str(self.bin), "load-postgres", "-i", str(data["csv"]), "--table", TABLE],
                               env=base_env(env), capture_output=True, check=True)
            out = w / "export.csv.gz"
            start, end = data["window"]
            if tool == "cryptopipe export-csv --gzip":
                argv = [str(self.bin), "export-csv", "--table", TABLE, "--start", start, "--end", end, "--gzip",
                        "-o", str(out)]
            elif tool == "psql \\copy | gzip -6":
                sql = (f"SELECT {COLUMNS} FROM public.{TABLE} WHERE time_period_start >= '{start}' AND "
                       f"time_period_start < '{end}' ORDER BY symbol_id, period_id, time_period_start")
                cmd = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c",
                       f"\\copy ({sql}) TO STDOUT WITH (FORMAT csv, HEADER true)"]
                argv = ["bash", "-o", "pipefail", "-c", f"{shlex.join(cmd)} | gzip -6 > {shlex.quote(str(out))}"]
            else:
                argv = [str(self.py_bench), str(BENCH / "baselines" / "export_pandas.py"), TABLE, start, end, str(out)]
            s = self.measure(argv, env)
            if s["rc"] == 0:
                produced = sorted(w.glob("export.csv*"))  # a splitting exporter may name parts differently
                check["files"] = [p.name for p in produced]
                check["rows"] = sum(count_gzip_lines(p) - 1 for p in produced)
                if tool.startswith("cryptopipe") and len(produced) == 1:
                    check["identical_to_generated_csv"] = gunzip_equals(produced[0], data["csv"])
                s["bytes_out"] = sum(p.stat().st_size for p in produced)
            for p in w.glob("export.csv*"):
                p.unlink()
            s["bytes_in"] = data["csv"].stat().st_size
        else:  # upload
            env = self.moto.env()
            key = f"bench/{n}/{tool.split()[0]}.bin"
            src = str(data["blob"])
            if tool == "cryptopipe upload-s3":
                argv = [str(self.bin), "upload-s3", src, f"s3://{BUCKET}/{key}", "--endpoint-url", self.moto.endpoint,
                        "--region", self.moto.region]
            elif tool == "boto3 upload_file":
                argv = [str(self.py_bench), str(BENCH / "baselines" / "upload_boto3.py"), src, BUCKET, key]
            else:
                argv = [self.aws, "s3", "cp", "--only-show-errors", src, f"s3://{BUCKET}/{key}",
                        "--endpoint-url", self.moto.endpoint]
            s = self.measure(argv, env)
            if s["rc"] == 0:
                head = self.s3.head_object(Bucket=BUCKET, Key=key)
                check["object_bytes"] = head["ContentLength"]
            try:
                self.s3.delete_object(Bucket=BUCKET, Key=key)
            except Exception:  # noqa: BLE001 - nothing to delete after a failed upload
                pass
            s["bytes_in"] = data["blob"].stat().st_size
        s["check"] = check
        s["ok"] = s["rc"] == 0 and self.check_ok(cat, tool, n, s)
        return s

    def check_ok(self, cat: str, tool: str, n: int, s: dict) -> bool:
        c = s["check"]
        if cat == "upload":
            return c.get("object_bytes") == s["bytes_in"]
        if c.get("rows") != n:
            return False
        if tool.startswith("cryptopipe") and c.get("identical_to_generated_csv") is False:
            return False
        if tool.endswith("load-postgres") and c.get("summary") != f"inserted {n}, updated 0, unchanged 0":
            return False
        return True

    # ---------------------------------------------------------------- data
    def make_data(self, n: int) -> dict:
        d = Path(self.args.data_cache) if self.args.data_cache else self.work / f"data-{n}"
        d.mkdir(parents=True, exist_ok=True)
        data = {"json": d / f"candles-{n}-{self.args.seed}.jsonl", "csv": d / f"candles-{n}-{self.args.seed}.csv"}
        for key, write in (("json", generate.write_coinapi), ("csv", generate.write_csv)):
            if data[key].exists():  # only a cache holds earlier files: written whole, then renamed
                continue
            tmp = data[key].with_suffix(".tmp")
            with open(tmp, "w", newline="", buffering=1 << 20) as f:
                write(f, n, self.args.seed)
            tmp.rename(data[key])
        last = max(c for _, _, _, _, c in generate.plan(n))
        end = generate.START + last * generate.PERIOD_SECONDS
        data["window"] = (fmt_day(generate.START), fmt_day(end + 86400 - end % 86400))
        return data

    def make_blob(self) -> Path:
        """The upload file: `--upload-mb` MB of a gzip-like (incompressible) payload."""
        p = self.work / "upload.bin"
        size = self.args.upload_mb * 1_000_000
        rnd = os.urandom(1 << 20)
        with open(p, "wb") as f:
            left = size
            while left > 0:
                f.write(rnd[: min(left, len(rnd))])
                left -= len(rnd)
        return p

    def save_partial(self) -> None:
        """The samples so far, so an interrupted long run can still be merged (--merge) into a later one."""
        self.partial.write_text(json.dumps({"meta": self.meta, "samples": self.samples}, ensure_ascii=False) + "\n")

    # ---------------------------------------------------------------- driving
    def run(self) -> dict:
        self.availability()
        self.start_services()
        self.meta = meta = {"started_at": now_iso(), "argv": sys.argv[1:], "host": platform.node(), "cpus": os.cpu_count(),
                "kernel": platform.release(), "python_bench": str(self.py_bench),
                "cryptopipe_version": subprocess.run([str(self.bin), "--version"], capture_output=True,
                                                     text=True).stdout.strip(),
                "cryptopipe_sha256": self.bin_sha256, "git_head": git_head(),
                "postgres": self.pg.psql(DB, "SHOW server_version"), "time_v": self.time_v,
                "loadavg_start": os.getloadavg(), "uptime_start": uptime(), "skipped": self.skipped,
                "loadavg_end": None, "finished_at": None}
        Path(self.args.results_dir).mkdir(parents=True, exist_ok=True)
        self.partial = Path(self.args.results_dir) / f"partial-{stamp_of(meta['started_at'])}.json"
        sizes = [int(x) for x in self.args.sizes.split(",")]
        for n in sizes:
            mine_only = n > self.args.baseline_max_rows
            runs = self.args.large_runs if mine_only else self.args.runs
            # Above the baseline sizes only cryptopipe's own subcommands run: they show memory stays flat.
            tools = [(c, t, m) for c, t, m in TOOLS if c != "upload" and t not in self.skipped
                     and (not mine_only or (m and "|" not in t))]
            if not tools:
                continue
            log(f"size {n:,} rows: generating data")
            data = self.make_data(n)
            log(f"size {n:,}: {data['json'].stat().st_size / 1e6:.1f} MB JSON, {data['csv'].stat().st_size / 1e6:.1f}"
                f" MB CSV; {runs} run(s) of {len(tools)} tools; load average {os.getloadavg()[0]:.2f}")
            self.rounds(n, runs, tools, data)
            shutil.rmtree(self.work / f"data-{n}", ignore_errors=True)
        uploads = [(c, t, m) for c, t, m in TOOLS if c == "upload" and t not in self.skipped]
        if uploads:
            blob = self.make_blob()
            log(f"upload: {self.args.upload_mb} MB file, {self.args.runs} run(s) of {len(uploads)} tools")
            self.rounds(0, self.args.runs, uploads, {"blob": blob})
            blob.unlink()
        meta.update(finished_at=now_iso(), loadavg_end=os.getloadavg(), uptime_end=uptime())
        return {"meta": meta, "samples": self.samples}

    def rounds(self, n: int, runs: int, tools: list, data: dict) -> None:
        for r in range(runs):
            for cat, tool, mine in tools:
                if r >= self.args.python_runs and n > 100_000 and tool.startswith(SLOW_PYTHON):
                    continue
                s = self.run_tool(cat, tool, n, data)
                s.update(category=cat, tool=tool, cryptopipe=mine, rows=n, run=r, loadavg_1m=os.getloadavg()[0])
                self.samples.append(s)
                self.save_partial()
                rss = f"{s['rss_kib'] / 1024:.1f} MiB" if s["rss_kib"] else "n/a"
                log(f"  run {r + 1}/{runs} {tool:<38} {s['wall_s']:8.3f} s  {rss:>10}  "
                    f"{'ok' if s['ok'] else 'FAILED rc=' + str(s['rc']) + ' ' + json.dumps(s['check'])}"
                    + ("" if s["ok"] else f"\n      {s['stderr'].strip()[-300:]}"))


def merge(result: dict, paths: list[str]) -> None:
    """Adds earlier runs' samples for (tool, rows) pairs not measured now; their metadata goes to meta.merged."""
    have = {(s["tool"], s["rows"]) for s in result["samples"]}
    merged = []
    for p in paths:
        old = json.loads(Path(p).read_text())
        taken = [s for s in old["samples"] if (s["tool"], s["rows"]) not in have]
        have |= {(s["tool"], s["rows"]) for s in taken}
        result["samples"] += taken
        m = old["meta"]
        merged.append({k: m.get(k) for k in ("started_at", "finished_at", "argv", "cryptopipe_sha256", "git_head",
                                             "loadavg_start", "loadavg_end", "uptime_start", "uptime_end")}
                      | {"file": Path(p).name, "samples_taken": len(taken),
                         "tools": sorted({s["tool"] for s in taken})})
        merged += m.get("merged", [])
    result["meta"]["merged"] = merged
    # A tool measured in an earlier part is not skipped in the combined report.
    for t in {s["tool"] for s in result["samples"]}:
        result["meta"]["skipped"].pop(t, None)


# -------------------------------------------------------------------- summarising
def summarise(result: dict) -> list[dict]:
    """One row per (category, tool, rows): medians over the successful runs, throughput, ratios."""
    groups: dict[tuple, list] = {}
    for s in result["samples"]:
        groups.setdefault((s["category"], s["tool"], s["rows"]), []).append(s)
    rows = []
    for (cat, tool, n), ss in groups.items():
        good = [s for s in ss if s["ok"]]
        row = {"category": cat, "tool": tool, "rows": n, "runs": len(ss), "ok_runs": len(good),
               "cryptopipe": ss[0]["cryptopipe"], "bytes_in": ss[0]["bytes_in"]}
        if good:
            wall = statistics.median(s["wall_s"] for s in good)
            rss = [s["rss_kib"] for s in good if s["rss_kib"]]
            cpu = [s["cpu_s"] for s in good if s.get("cpu_s") is not None]
            row.update(wall_s=wall, wall_min_s=min(s["wall_s"] for s in good), wall_max_s=max(s["wall_s"] for s in good),
                       rss_mib=statistics.median(rss) / 1024 if rss else None,
                       rss_max_mib=max(rss) / 1024 if rss else None,
                       mb_s=row["bytes_in"] / 1e6 / wall, rows_s=n / wall if n else None,
                       cpu_s=statistics.median(cpu) if cpu else None,
                       loadavg_1m=statistics.median(s["loadavg_1m"] for s in good))
        rows.append(row)
    by_key = {(r["category"], r["tool"], r["rows"]): r for r in rows}
    for r in rows:
        mine = COMPARE.get(r["tool"])
        other = by_key.get((r["category"], mine, r["rows"])) if mine else None
        if other and other.get("wall_s") and r.get("wall_s"):
            r["cryptopipe_speedup"] = r["wall_s"] / other["wall_s"]  # > 1: cryptopipe is faster
            r["compared_with"] = mine
    order = {t: i for i, (_, t, _) in enumerate(TOOLS)}
    rows.sort(key=lambda r: ({"transform": 0, "load": 1, "export": 2, "upload": 3}[r["category"]], r["rows"],
                             order[r["tool"]]))
    return rows


def targets(rows: list[dict]) -> list[dict]:
    """The issue's targets, each with the measured figure and met / missed / not measured."""
    def get(tool, n=None, field="wall_s"):
        cands = [r for r in rows if r["tool"] == tool and r.get(field) is not None and (n is None or r["rows"] == n)]
        return max(cands, key=lambda r: r["rows"]) if cands else None

    out = []

    def ratio_target(name, mine, base, need, category):
        # The largest size at which both were measured (above 1M only cryptopipe runs).
        both = sorted({r["rows"] for r in rows if r["tool"] == mine and r.get("wall_s")} &
                      {r["rows"] for r in rows if r["tool"] == base and r.get("wall_s")})
        m = get(mine, both[-1]) if both else None
        b = get(base, both[-1]) if both else None
        if not (m and b):
            out.append({"target": name, "measured": "not measured", "met": None})
            return
        x = b["wall_s"] / m["wall_s"]
        out.append({"target": name, "measured": f"{x:.2f}× at {m['rows']:,} rows" if category != "upload"
                    else f"{x:.2f}× on {m['bytes_in'] / 1e6:.0f} MB", "value": x, "met": x >= need})

    ratio_target("load-postgres ≥ 0.8× psql \\copy floor", "cryptopipe load-postgres", "psql \\copy", 0.8, "load")
    ratio_target("transform | load-postgres ≥ 20× pandas to_sql (json → table)",
                 "cryptopipe transform | load-postgres", "pandas to_sql", 20, "load")
    t = [r for r in rows if r["tool"] == "cryptopipe transform" and r.get("mb_s")]
    if t:
        # "On one core": input MB per CPU second (transform is single-threaded); wall MB/s shown beside it, as a
        # shared machine stretches wall time.
        figures = []
        for r in sorted(t, key=lambda r: r["rows"]):
            per_cpu = r["bytes_in"] / 1e6 / r["cpu_s"] if r.get("cpu_s") else r["mb_s"]
            figures.append((r["rows"], per_cpu, r["mb_s"]))
        out.append({"target": "transform ≥ 150 MB/s of CoinAPI JSON (one core)", "value": min(f[1] for f in figures),
                    "measured": "; ".join(f"{cpu:.0f} MB per CPU-second ({wall:.0f} MB/s wall) at {n:,} rows"
                                          for n, cpu, wall in figures),
                    "met": all(f[1] >= 150 for f in figures)})
    else:
        out.append({"target": "transform ≥ 150 MB/s of CoinAPI JSON", "measured": "not measured", "met": None})
    ratio_target("export-csv --gzip ≥ 0.9× psql \\copy | gzip -6", "cryptopipe export-csv --gzip",
                 "psql \\copy | gzip -6", 0.9, "export")
    ratio_target("export-csv --gzip ≥ 10× pandas", "cryptopipe export-csv --gzip", "pandas read_sql → to_csv gzip",
                 10, "export")
    ratio_target("upload-s3 ≥ 1.0× boto3 upload_file", "cryptopipe upload-s3", "boto3 upload_file", 1.0, "upload")
    for tool in ("cryptopipe transform", "cryptopipe load-postgres", "cryptopipe export-csv --gzip",
                 "cryptopipe upload-s3"):
        rs = sorted((r for r in rows if r["tool"] == tool and r.get("rss_max_mib")), key=lambda r: r["rows"])
        if not rs:
            out.append({"target": f"{tool}: peak RSS ≤ 50 MiB at 1M rows, flat 100k→10M", "measured": "not measured",
                        "met": None})
            continue
        peak = max(r["rss_max_mib"] for r in rs)
        lo, hi = rs[0], rs[-1]
        growth = hi["rss_max_mib"] / lo["rss_max_mib"] - 1
        span = f"{lo['rows']:,}→{hi['rows']:,} rows" if len(rs) > 1 else f"{size_label(lo)} only"
        flat_needed = len(rs) > 1 and tool != "cryptopipe upload-s3"
        out.append({"target": f"{tool}: peak RSS ≤ 50 MiB at 1M rows, flat (±10 %) 100k→10M",
                    "measured": f"max {peak:.1f} MiB; {span}: {lo['rss_max_mib']:.1f} → {hi['rss_max_mib']:.1f} MiB"
                                + (f" ({growth:+.0%})" if len(rs) > 1 else ""),
                    "met": peak <= 50 and (not flat_needed or abs(growth) <= 0.10)})
    return out


def markdown(result: dict, rows: list[dict], goals: list[dict]) -> str:
    m = result["meta"]
    la0, la1 = m["loadavg_start"], m["loadavg_end"]
    lines = [f"# cryptopipe bench — {m['started_at']}", "",
             f"`{m['cryptopipe_version']}` · PostgreSQL {m['postgres']} (fsync off) · moto S3 · {m['cpus']} CPUs · "
             f"load average (1/5/15 min) {la0[0]:.2f}/{la0[1]:.2f}/{la0[2]:.2f} at start, "
             f"{la1[0]:.2f}/{la1[1]:.2f}/{la1[2]:.2f} at end (other work shares this machine) · "
             f"command: `bench/run.sh {' '.join(m['argv'])}` · cryptopipe sha256 {m['cryptopipe_sha256'][:12]} "
             f"(tree {m['git_head']})", ""]
    for old in m.get("merged", []):
        lines += [f"Merged from an earlier part ({old['file']}, {old['started_at']}, `bench/run.sh "
                  f"{' '.join(old['argv'])}`, cryptopipe sha256 {(old['cryptopipe_sha256'] or '')[:12]}, load average "
                  f"{'/'.join(format(x, '.2f') for x in old['loadavg_start'])} at start): "
                  f"{', '.join(md(t) for t in old['tools'])}.", ""]
    lines += [
             "Median of the successful runs (min–max in brackets); throughput of the input (JSON for transform and "
             "to_sql, CSV for the other loads and exports, the file for uploads); peak RSS = the largest process's "
             "maximum resident set (`/usr/bin/time -v`); CPU s = user + system time of the client processes "
             "(not the PostgreSQL or S3 server); *cryptopipe ×* = how many times faster (wall time) the cryptopipe "
             "row it is compared with is (transform ← python; transform \\| load-postgres ← to_sql; load-postgres "
             "← execute_batch and psql \\copy; export-csv ← psql and pandas; upload-s3 ← boto3 and aws).", "",
             "| step | tool | rows | runs ok | wall s (min–max) | CPU s | rows/s | MB/s | peak RSS MiB | cryptopipe × |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        if r.get("wall_s") is None:
            lines.append(f"| {r['category']} | {md(r['tool'])} | {size_label(r)} | 0/{r['runs']} | failed | | | | | |")
            continue
        lines.append(
            f"| {r['category']} | {'**' + md(r['tool']) + '**' if r['cryptopipe'] else md(r['tool'])} | "
            f"{size_label(r)} | {r['ok_runs']}/{r['runs']} | {r['wall_s']:.3f} ({r['wall_min_s']:.3f}–"
            f"{r['wall_max_s']:.3f}) | {'' if r.get('cpu_s') is None else format(r['cpu_s'], '.2f')} | "
            f"{si(r['rows_s']) if r.get('rows_s') else '—'} | {r['mb_s']:.1f} | "
            f"{r['rss_mib']:.1f} | "
            f"{(format(r['cryptopipe_speedup'], '.2f') + '×') if r.get('cryptopipe_speedup') else ''} |")
    lines += ["", "## Targets (issue 6)", "", "| target | measured | met |", "|---|---|---|"]
    for g in goals:
        lines.append(f"| {md(g['target'])} | {g['measured']} | "
                     f"{'yes' if g['met'] else ('—' if g['met'] is None else '**no**')} |")
    if m["skipped"]:
        lines += ["", "## Skipped", ""] + [f"- {md(t)}: {why}" for t, why in m["skipped"].items()]
    failed = [s for s in result["samples"] if not s["ok"]]
    if failed:
        lines += ["", "## Failed runs", ""] + [
            f"- {md(s['tool'])} at {s['rows']:,} rows, run {s['run'] + 1}: rc {s['rc']}, check {json.dumps(s['check'])}"
            f": `{s['stderr'].strip().splitlines()[-1][:200] if s['stderr'].strip() else ''}`" for s in failed]
    return "\n".join(lines) + "\n"


def write_reports(result: dict, out: Path) -> None:
    """Summary, targets, Markdown (printed too), JSON and PNG as <timestamp>.* and latest.* in `out`."""
    rows = summarise(result)
    goals = targets(rows)
    result["summary"], result["targets"] = rows, goals
    text = markdown(result, rows, goals)
    out.mkdir(parents=True, exist_ok=True)
    stamp = stamp_of(result["meta"]["started_at"])
    (out / f"{stamp}.md").write_text(text)
    (out / "latest.md").write_text(text)
    for p in (out / f"{stamp}.json", out / "latest.json"):
        p.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    if chart(rows, out / "latest.png"):
        shutil.copyfile(out / "latest.png", out / f"{stamp}.png")
    print(text)


def chart(rows: list[dict], path: Path) -> bool:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, axes = plt.subplots(1, 2, figsize=(14, 6))
    colors = {"transform": "tab:blue", "load": "tab:green", "export": "tab:orange", "upload": "tab:purple"}
    for (cat, tool, mine) in TOOLS:
        rs = sorted((r for r in rows if r["tool"] == tool and r.get("wall_s") and r["rows"]), key=lambda r: r["rows"])
        if not rs:
            continue
        style = dict(color=colors[cat], linestyle="-" if mine else "--", marker="o" if mine else "x",
                     linewidth=2.2 if mine else 1.2, label=f"{cat}: {tool}")
        xs = [r["rows"] for r in rs]
        axes[0].plot(xs, [r["rows_s"] for r in rs], **style)
        axes[1].plot(xs, [r["rss_mib"] for r in rs], **style)
    axes[0].set(xscale="log", yscale="log", xlabel="rows", ylabel="rows / s (median)",
                title="Throughput (higher is better)")
    axes[1].set(xscale="log", yscale="log", xlabel="rows", ylabel="peak RSS MiB (median)",
                title="Peak memory (lower is better)")
    axes[1].axhline(50, color="red", linewidth=0.8, linestyle=":", label="50 MiB target")
    for ax in axes:
        ax.grid(True, which="both", alpha=0.3)
    axes[1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.suptitle("cryptopipe (solid) vs Python baselines and PostgreSQL COPY (dashed)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


# -------------------------------------------------------------------- helpers
def count_lines(p: Path) -> int:
    n = 0
    with open(p, "rb") as f:
        while chunk := f.read(1 << 20):
            n += chunk.count(b"\n")
    return n


def count_gzip_lines(p: Path) -> int:
    n = 0
    with gzip.open(p, "rb") as f:
        while chunk := f.read(1 << 20):
            n += chunk.count(b"\n")
    return n


def gunzip_equals(gz: Path, plain: Path) -> bool:
    with gzip.open(gz, "rb") as a, open(plain, "rb") as b:
        while True:
            x, y = a.read(1 << 20), b.read(1 << 20)
            if x != y:
                return False
            if not x:
                return True


def fmt_day(t: int) -> str:
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%d")


def size_label(r: dict) -> str:
    return f"{r['rows']:,}" if r["rows"] else f"{r['bytes_in'] / 1e6:.0f} MB file"


def stamp_of(iso: str) -> str:
    return iso.replace(":", "").replace("-", "")


def git_head() -> str:
    try:
        return subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True).stdout.strip()
    except OSError:
        return ""


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return ""


def si(x: float) -> str:
    for unit, div in (("M", 1e6), ("k", 1e3)):
        if x >= div:
            return f"{x / div:.2f}{unit}"
    return f"{x:.0f}"


def md(text: str) -> str:
    return text.replace("|", "\\|")


def log(msg: str) -> None:
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, one run, small upload: the test-suite mode")
    ap.add_argument("--sizes", default="100000,1000000,10000000", help="comma-separated row counts")
    ap.add_argument("--runs", type=int, default=5, help="runs per size (median reported)")
    ap.add_argument("--baseline-max-rows", type=int, default=1_000_000,
                    help="above this size only cryptopipe runs (shows memory stays flat)")
    ap.add_argument("--large-runs", type=int, default=3, help="runs for sizes above --baseline-max-rows")
    ap.add_argument("--python-runs", type=int, default=2,
                    help="runs of the slow Python baselines (pandas, psycopg2, python json) above 100k rows")
    ap.add_argument("--skip-python", action="store_true",
                    help="leave out the slow Python baselines (merge them from an earlier part with --merge)")
    ap.add_argument("--upload-mb", type=int, default=200, help="size of the upload file (MB)")
    ap.add_argument("--tools", default="", help="only these steps: transform,load,export,upload")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--binary", default=os.environ.get("CRYPTOPIPE_BIN") or str(ROOT / "build" / "cryptopipe"))
    ap.add_argument("--python", default=None, help="python for the baselines (default: .venv-bench, else this one)")
    ap.add_argument("--results-dir", default=str(BENCH / "results"))
    ap.add_argument("--work-dir", default=None, help="where data and the PostgreSQL cluster go (default: TMPDIR)")
    ap.add_argument("--data-cache", default=None,
                    help="keep generated data here and reuse it (same rows and seed) instead of regenerating")
    ap.add_argument("--keep-work", action="store_true")
    ap.add_argument("--merge", action="append", default=[], metavar="RESULT.json",
                    help="add an earlier run's samples for the (tool, rows) pairs this run did not measure, so a "
                         "long bench can be run in parts (e.g. --tools transform,load, then export,upload)")
    ap.add_argument("--report", metavar="RESULT.json", help="only re-render the reports of an earlier result")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds one measured command may take")
    a = ap.parse_args(argv)
    if a.smoke:
        a.sizes, a.runs, a.large_runs, a.upload_mb = "3000", 1, 1, 4
    if a.python is None:
        venv = ROOT / ".venv-bench" / "bin" / "python"
        a.python = str(venv if venv.exists() else Path(sys.executable))
    if not Path(a.binary).exists():
        print(f"bench: error: {a.binary}: not found (build with cmake --build build -j2)", file=sys.stderr)
        return 2

    if a.report:  # re-render an earlier result (e.g. after a change to the report) without measuring again
        result = json.loads(Path(a.report).read_text())
        write_reports(result, Path(a.results_dir))
        return 0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: stop PostgreSQL and moto, remove the data
    bench = Bench(a)
    try:
        result = bench.run()
    finally:
        bench.close()
    merge(result, a.merge)
    write_reports(result, Path(a.results_dir))
    bench.partial.unlink(missing_ok=True)
    failed = sum(1 for s in result["samples"] if not s["ok"])
    if failed:
        log(f"{failed} measured run(s) failed their check: see 'Failed runs' in {out / 'latest.md'}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
