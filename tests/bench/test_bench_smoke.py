"""The bench's smoke mode (bench/run.py --smoke: a few thousand rows, one run) so the harness never rots.

Runs the real driver end to end: its own PostgreSQL and moto server, the real binary, every tool that can run here.
Without the bench venv (bench/setup.sh) the pandas/aws baselines are skipped and listed as skipped; the cryptopipe
parts still run. Asserts the outcomes the driver checked (rows in the table after each load, rows in each output
file, bytes of each uploaded object) and that the Markdown/JSON reports were written.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SMOKE_ROWS = 3000


def bench_python() -> str:
    venv = ROOT / ".venv-bench" / "bin" / "python"
    return str(venv if venv.exists() else Path(sys.executable))


@pytest.fixture(scope="module")
def smoke(tmp_path_factory, cryptopipe_bin):
    out = tmp_path_factory.mktemp("bench-results")
    res = subprocess.run([bench_python(), str(ROOT / "bench" / "run.py"), "--smoke", "--binary", str(cryptopipe_bin),
                          "--results-dir", str(out)], capture_output=True, text=True, timeout=300)
    return res, out


def test_smoke_run_exits_zero_and_writes_reports(smoke):
    res, out = smoke
    assert res.returncode == 0, f"bench --smoke failed ({res.returncode}):\n{res.stderr[-3000:]}"
    latest = (out / "latest.md").read_text()
    assert latest.startswith("# cryptopipe bench")
    assert "| step | tool | rows |" in latest
    assert "## Targets (issue 6)" in latest
    stamped = [p for p in out.glob("*.md") if p.name != "latest.md"]
    assert len(stamped) == 1 and stamped[0].read_text() == latest
    assert res.stdout.strip() == latest.strip()  # the table is printed too
    assert (out / "latest.json").exists()


def test_smoke_cryptopipe_rows_are_measured_and_checked(smoke):
    res, out = smoke
    result = json.loads((out / "latest.json").read_text())
    samples = result["samples"]
    assert samples and all(s["ok"] for s in samples), [s for s in samples if not s["ok"]]
    tools = {s["tool"] for s in samples}
    assert {"cryptopipe transform", "cryptopipe load-postgres", "cryptopipe transform | load-postgres"} <= tools
    for s in samples:
        if s["category"] in ("transform", "load", "export"):
            assert s["rows"] == SMOKE_ROWS
            assert s["check"]["rows"] == SMOKE_ROWS  # counted in the table / the output file by the driver
            assert s["wall_s"] > 0
        else:
            assert s["check"]["object_bytes"] == s["bytes_in"] > 0
        if s["tool"].endswith("load-postgres"):
            assert s["check"]["summary"] == f"inserted {SMOKE_ROWS}, updated 0, unchanged 0"
        if s["tool"] in ("cryptopipe transform", "cryptopipe export-csv --gzip"):
            assert s["check"]["identical_to_generated_csv"] is True
    latest = (out / "latest.md").read_text()
    assert f"| transform | **cryptopipe transform** | {SMOKE_ROWS:,} | 1/1 |" in latest
    assert f"| load | **cryptopipe load-postgres** | {SMOKE_ROWS:,} | 1/1 |" in latest


def test_smoke_runs_or_names_every_tool(smoke):
    """Each tool either ran or is listed as skipped with a reason: none silently disappears."""
    res, out = smoke
    result = json.loads((out / "latest.json").read_text())
    sys.path.insert(0, str(ROOT / "bench"))
    import run as bench_run
    ran = {s["tool"] for s in result["samples"]}
    skipped = result["meta"]["skipped"]
    for _, tool, _ in bench_run.TOOLS:
        assert (tool in ran) != (tool in skipped), tool
    if (ROOT / ".venv-bench" / "bin" / "python").exists():
        assert {"pandas to_sql", "psql \\copy", "python json→csv"} <= ran
        assert (out / "latest.png").stat().st_size > 10_000


def test_generator_csv_matches_cryptopipe_transform(tmp_path, cryptopipe_bin):
    """bench/generate.py's two formats describe the same candles: transform of the CoinAPI file is the CSV file."""
    gen = ROOT / "bench" / "generate.py"
    for fmt, name in (("coinapi", "c.jsonl"), ("csv", "c.csv")):
        subprocess.run([sys.executable, str(gen), "--rows", "1500", "--format", fmt, "-o", str(tmp_path / name)],
                       check=True, timeout=60)
    res = subprocess.run([str(cryptopipe_bin), "transform", "-i", str(tmp_path / "c.jsonl"), "-o",
                          str(tmp_path / "t.csv")], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "t.csv").read_bytes() == (tmp_path / "c.csv").read_bytes()
    lines = (tmp_path / "c.csv").read_text().splitlines()
    assert len(lines) == 1501 and lines[0].startswith("symbol_id,period_id,time_period_start")
