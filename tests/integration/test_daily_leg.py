"""Issue 3's daily leg end to end against the real binary: rows loaded by the 5-minute leg (replay API server →
extract | transform | load-postgres into a real PostgreSQL) → export-csv → upload-s3 (moto with signature
checking, or a file:// lake) → copy-redshift --target postgres into a second database acting as the warehouse.
The warehouse must equal the source exactly (every column as text), reruns change nothing, replace mode moves only
what changed.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness import base_env

import replay_server as rs

DAY = "2024-01-01"
SYMBOLS = (("bitstamp", "BITSTAMP_SPOT_BTC_USD"), ("coinapi", "COINBASE_SPOT_BTC_USD"))  # export order
ROWS_PER_SYMBOL = 288
TOTAL = ROWS_PER_SYMBOL * len(SYMBOLS)
HEADER = ("symbol_id,period_id,time_period_start,time_period_end,time_open,time_close,price_open,price_high,"
          "price_low,price_close,volume_traded,trades_count,source")
ERROR_LINE = re.compile(r"^cryptopipe: error: (?P<cmd>[a-z0-9-]+): .+$", re.M)
FILE_LINE = re.compile(r"^(?P<path>\S+): rows (?P<rows>\d+), bytes (?P<bytes>\d+), sha256 (?P<sha>[0-9a-f]{64})$",
                       re.M)
ALL_COLUMNS = ("SELECT symbol_id, period_id, time_period_start::text, time_period_end::text, time_open::text, "
               "time_close::text, price_open::text, price_high::text, price_low::text, price_close::text, "
               "volume_traded::text, trades_count::text, source FROM {table} ORDER BY 1, 2, 3")


@dataclass
class Source:
    db: str
    transform_csv: dict  # symbol -> canonical CSV text transform wrote for the day


def rows(pg, db: str, table: str = "public.ohlcv") -> list[tuple]:
    return pg.query(db, ALL_COLUMNS.format(table=table))


def ok(res: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert res.returncode == 0, f"exit {res.returncode}\nstdout: {res.stdout}\nstderr: {res.stderr}"
    return res


def assert_error(res: subprocess.CompletedProcess, code: int, command: str, *needles: str) -> None:
    assert res.returncode == code, f"exit {res.returncode}, expected {code}: {res.stderr}"
    lines = [m.group(0) for m in ERROR_LINE.finditer(res.stderr) if m.group("cmd") == command]
    assert lines, f"no `cryptopipe: error: {command}: ...` line in stderr:\n{res.stderr}"
    for n in needles:
        assert n.lower() in lines[-1].lower(), f"{n!r} not in {lines[-1]!r}"


def exported_files(stdout: str) -> list[dict]:
    return [m.groupdict() for m in FILE_LINE.finditer(stdout)]


@pytest.fixture(scope="module")
def source(pg, replay, cryptopipe_bin, tmp_path_factory) -> Source:
    """One UTC day of two symbols (both providers, with the fixture's special cases) loaded by the 5-minute leg."""
    replay.reset()
    db = pg.create_db("daily_source")
    work = tmp_path_factory.mktemp("five_minute_leg")
    env = {**pg.env(db), "CRYPTOPIPE_API_BASE": replay.url, "COINAPI_KEY": replay.coinapi_key}
    csvs = {}
    for provider, symbol in SYMBOLS:
        raw, csv = work / f"{symbol}.jsonl", work / f"{symbol}.csv"
        b = str(cryptopipe_bin)
        for argv in ([b, "extract", "--provider", provider, "--symbol", symbol, "--start", DAY, "--end",
                      "2024-01-02", "-o", raw],
                     [b, "transform", "-i", raw, "-o", csv],
                     [b, "load-postgres", "-i", csv]):
            res = subprocess.run(list(map(str, argv)), env=base_env(env), capture_output=True, text=True,
                                 timeout=300)
            ok(res)
        assert res.stdout.strip() == f"inserted {ROWS_PER_SYMBOL}, updated 0, unchanged 0"
        csvs[symbol] = csv.read_text()
    return Source(db, csvs)


@pytest.fixture
def warehouse(pg) -> str:
    return pg.create_db("warehouse")


@pytest.fixture(scope="module")
def bucket(moto) -> str:
    return moto.create_bucket("crypto-exports")


def export(cli, pg, db, out: Path, *args) -> subprocess.CompletedProcess:
    return ok(cli(["export-csv", "--date", DAY, "-o", out, *args], env=pg.env(db)))


def upload(cli, moto, path: Path, uri: str) -> subprocess.CompletedProcess:
    return ok(cli(["upload-s3", path, uri], env=moto.env()))


def copy(cli, pg, moto, db, uri: str, *args) -> subprocess.CompletedProcess:
    return ok(cli(["copy-redshift", "--s3-uri", uri, "--target", "postgres", *args], env={**pg.env(db), **moto.env()}))


# ------------------------------------------------------------------------------------------------
# export-csv
# ------------------------------------------------------------------------------------------------

def test_export_is_byte_identical_to_what_transform_wrote(cli, pg, source, tmp_path):
    out = tmp_path / "day.csv"
    res = export(cli, pg, source.db, out)
    want = HEADER + "\n" + "".join(source.transform_csv[s].split("\n", 1)[1] for _, s in SYMBOLS)
    got = out.read_text()
    assert got.count("\n") == TOTAL + 1
    assert got == want
    # the fixture's special cases survive: 7-digit CoinAPI fractions as 6 digits, exponent volume, nulls, zeros
    assert re.search(r"^COINBASE_SPOT_BTC_USD,5MIN,2024-01-01 00:00:00\+00,2024-01-01 00:05:00\+00,"
                     r"2024-01-01 00:00:\d\d\.\d{6}\+00,", got, re.M)
    assert ",0.00000015," in got and ",100.10," in got
    assert re.search(r"^COINBASE_SPOT_BTC_USD,5MIN,2024-01-01 00:35:00\+00,2024-01-01 00:40:00\+00,,,,,,,", got, re.M)
    (f,) = exported_files(res.stdout)
    assert (f["path"], int(f["rows"]), int(f["bytes"])) == (str(out), TOTAL, out.stat().st_size)
    assert f["sha"] == hashlib.sha256(out.read_bytes()).hexdigest()


def test_export_gzip_and_symbol_filter(cli, pg, source, tmp_path):
    out = tmp_path / "btc.csv.gz"  # the suffix alone asks for gzip
    res = export(cli, pg, source.db, out, "--symbol", "COINBASE_SPOT_BTC_USD")
    assert out.read_bytes()[:2] == b"\x1f\x8b"
    assert gzip.decompress(out.read_bytes()).decode() == source.transform_csv["COINBASE_SPOT_BTC_USD"]
    (f,) = exported_files(res.stdout)
    assert int(f["rows"]) == ROWS_PER_SYMBOL and f["sha"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert not list(tmp_path.glob(".*")), "a temp file was left behind"


def test_export_of_an_empty_day_is_a_header_only_file(cli, pg, source, tmp_path):
    out = tmp_path / "empty.csv"
    res = ok(cli(["export-csv", "--date", "2023-06-01", "-o", out], env=pg.env(source.db)))
    assert out.read_text() == HEADER + "\n"
    assert "header-only" in res.stderr
    assert int(exported_files(res.stdout)[0]["rows"]) == 0


def test_split_export_writes_parts_and_a_redshift_manifest(cli, pg, source, tmp_path):
    out = tmp_path / "day.csv.gz"
    res = export(cli, pg, source.db, out, "--max-rows-per-file", "250")
    parts = sorted(tmp_path.glob("day.part*.csv.gz"))
    assert [p.name for p in parts] == [f"day.part{i:04d}.csv.gz" for i in range(3)]  # 576 rows = 250+250+76
    texts = [gzip.decompress(p.read_bytes()).decode() for p in parts]
    assert all(t.startswith(HEADER + "\n") for t in texts)
    assert [t.count("\n") - 1 for t in texts] == [250, 250, 76]
    whole = HEADER + "\n" + "".join(t.split("\n", 1)[1] for t in texts)
    assert whole == HEADER + "\n" + "".join(source.transform_csv[s].split("\n", 1)[1] for _, s in SYMBOLS)
    manifest = json.loads((tmp_path / "day.manifest").read_text())
    assert manifest["entries"] == [{"url": f"file://{p}", "mandatory": True,
                                    "meta": {"content_length": p.stat().st_size}} for p in parts]
    assert [int(f["rows"]) for f in exported_files(res.stdout)] == [250, 250, 76]
    assert not out.exists()


def test_bad_identifiers_and_flags_are_usage_errors(cli, pg, source, tmp_path):
    env = pg.env(source.db)
    assert_error(cli(["export-csv", "--date", DAY, "--table", "ohlcv; DROP TABLE ohlcv", "-o", tmp_path / "x.csv"],
                     env=env), 2, "export-csv", "table")
    assert_error(cli(["export-csv", "--date", DAY, "--symbol", "BTC' OR '1'='1", "-o", tmp_path / "x.csv"], env=env),
                 2, "export-csv", "--symbol")
    assert_error(cli(["export-csv", "--date", "2024-13-45", "-o", tmp_path / "x.csv"], env=env), 2, "export-csv")
    assert_error(cli(["export-csv", "--date", DAY, "--start", DAY, "-o", tmp_path / "x.csv"], env=env), 2,
                 "export-csv")
    assert_error(cli(["copy-redshift", "--s3-uri", "file:///tmp/x.csv", "--schema", "Bad-Schema"], env=env), 2,
                 "copy-redshift", "schema")
    assert_error(cli(["copy-redshift", "--s3-uri", "file:///tmp/x.csv", "--mode", "merge"], env=env), 2,
                 "copy-redshift", "--mode")
    # a failing export (no such table) leaves no file, not even a partial or temp one
    assert_error(cli(["export-csv", "--date", DAY, "--table", "no_such_table", "-o", tmp_path / "x.csv.gz",
                      "--max-rows-per-file", "10"], env=env), 1, "export-csv", "no_such_table")
    assert not list(tmp_path.iterdir())
    assert pg.query(source.db, "SELECT count(*) FROM ohlcv") == [(str(TOTAL),)]


# ------------------------------------------------------------------------------------------------
# the whole leg
# ------------------------------------------------------------------------------------------------

def test_daily_leg_gzip_through_moto_lands_exact_rows_and_reruns_change_nothing(cli, pg, moto, bucket, source,
                                                                               warehouse, tmp_path):
    out = tmp_path / "ohlcv.csv.gz"
    uri = f"s3://{bucket}/ohlcv/period=5MIN/date={DAY}/ohlcv.csv.gz"
    export(cli, pg, source.db, out, "--gzip")
    upload(cli, moto, out, uri)
    assert moto.s3.get_object(Bucket=bucket, Key=uri.split("/", 3)[3])["Body"].read() == out.read_bytes()
    res = copy(cli, pg, moto, warehouse, uri)
    assert res.stdout.strip() == f"inserted {TOTAL}, updated 0, unchanged 0"
    assert rows(pg, warehouse) == rows(pg, source.db)
    loaded_at = pg.query(warehouse, "SELECT min(loaded_at)::text, max(loaded_at)::text FROM ohlcv")

    export(cli, pg, source.db, out, "--gzip")
    upload(cli, moto, out, uri)
    again = copy(cli, pg, moto, warehouse, uri)
    assert again.stdout.strip() == f"inserted 0, updated 0, unchanged {TOTAL}"
    assert rows(pg, warehouse) == rows(pg, source.db)
    assert pg.query(warehouse, "SELECT min(loaded_at)::text, max(loaded_at)::text FROM ohlcv") == loaded_at


def test_split_export_with_manifest_through_moto(cli, pg, moto, bucket, source, warehouse, tmp_path):
    out = tmp_path / "ohlcv.csv.gz"
    prefix = f"s3://{bucket}/split/date={DAY}/"
    export(cli, pg, source.db, out, "--max-rows-per-file", "200", "--manifest-url-prefix", prefix)
    parts = sorted(tmp_path.glob("ohlcv.part*.csv.gz"))
    assert len(parts) == 3
    manifest = json.loads((tmp_path / "ohlcv.manifest").read_text())
    assert [e["url"] for e in manifest["entries"]] == [prefix + p.name for p in parts]
    for p in parts + [tmp_path / "ohlcv.manifest"]:
        upload(cli, moto, p, prefix + p.name)
    res = copy(cli, pg, moto, warehouse, prefix + "ohlcv.manifest", "--manifest")
    assert res.stdout.strip() == f"inserted {TOTAL}, updated 0, unchanged 0"
    assert rows(pg, warehouse) == rows(pg, source.db)
    again = copy(cli, pg, moto, warehouse, prefix + "ohlcv.manifest", "--manifest")
    assert again.stdout.strip() == f"inserted 0, updated 0, unchanged {TOTAL}"


def test_file_lake_with_default_manifest_urls(cli, pg, moto, source, warehouse, tmp_path):
    out = tmp_path / "export" / "day.csv"
    out.parent.mkdir()
    export(cli, pg, source.db, out, "--max-rows-per-file", "1000")
    res = copy(cli, pg, moto, warehouse, f"file://{tmp_path}/export/day.manifest", "--manifest",
               "--table", "candles", "--schema", "dw")
    assert res.stdout.strip() == f"inserted {TOTAL}, updated 0, unchanged 0"
    assert rows(pg, warehouse, "dw.candles") == rows(pg, source.db)


def test_replace_mode_moves_only_the_changed_candle(cli, pg, moto, source, warehouse, tmp_path):
    lake = tmp_path / "lake"
    uri = f"file://{lake}/ohlcv/date={DAY}/ohlcv.csv.gz"
    out = tmp_path / "ohlcv.csv.gz"
    export(cli, pg, source.db, out)
    ok(cli(["upload-s3", out, uri]))
    copy(cli, pg, moto, warehouse, uri)
    before = rows(pg, warehouse)
    key = ("BITSTAMP_SPOT_BTC_USD", "2024-01-01 10:00:00+00")
    where = f"WHERE symbol_id = '{key[0]}' AND time_period_start = '{key[1]}'"
    (original,) = pg.query(source.db, f"SELECT price_close::text, volume_traded::text FROM ohlcv {where}")
    try:
        # a corrected candle that still satisfies the table's rules (close within low..high)
        pg.query(source.db, f"UPDATE ohlcv SET price_close = price_low, volume_traded = 1.000000001 {where}")
        export(cli, pg, source.db, out)
        ok(cli(["upload-s3", out, uri]))
        res = copy(cli, pg, moto, warehouse, uri, "--mode", "replace")
        assert res.stdout.strip() == f"inserted {TOTAL}, updated 0, unchanged 0, deleted {TOTAL}"
        after = rows(pg, warehouse)
        assert after == rows(pg, source.db)
        moved = [(b, a) for b, a in zip(before, after) if b != a]
        assert len(moved) == 1 and len(after) == len(before)
        ((b, a),) = moved
        assert (a[0], a[2]) == key
        assert (a[9], a[10]) == (a[8], "1.000000001")
        assert a[:9] == b[:9] and a[11:] == b[11:]
    finally:  # the source day is shared by this module's tests
        pg.query(source.db, f"UPDATE ohlcv SET price_close = {original[0]}, volume_traded = {original[1]} {where}")


def test_upsert_after_a_corrected_candle_updates_one_row(cli, pg, moto, source, warehouse, tmp_path):
    uri = f"file://{tmp_path}/lake/day.csv"
    out = tmp_path / "day.csv"
    export(cli, pg, source.db, out)
    ok(cli(["upload-s3", out, uri]))
    copy(cli, pg, moto, warehouse, uri)
    pg.query(warehouse, "UPDATE ohlcv SET trades_count = 999999 WHERE symbol_id = 'COINBASE_SPOT_BTC_USD' "
                        "AND time_period_start = '2024-01-01 23:55:00+00'")
    res = copy(cli, pg, moto, warehouse, uri)
    assert res.stdout.strip() == f"inserted 0, updated 1, unchanged {TOTAL - 1}"
    assert rows(pg, warehouse) == rows(pg, source.db)


def test_copy_of_a_header_only_export_loads_nothing(cli, pg, moto, source, warehouse, tmp_path):
    out = tmp_path / "empty.csv.gz"
    ok(cli(["export-csv", "--date", "2023-06-01", "-o", out], env=pg.env(source.db)))
    res = copy(cli, pg, moto, warehouse, f"file://{out}")
    assert res.stdout.strip() == "inserted 0, updated 0, unchanged 0"
    assert pg.query(warehouse, "SELECT count(*) FROM ohlcv") == [("0",)]


def test_target_auto_picks_postgres_from_select_version(cli, pg, source, warehouse, tmp_path):
    out = tmp_path / "day.csv.gz"
    export(cli, pg, source.db, out)
    res = ok(cli(["copy-redshift", "--s3-uri", f"file://{out}"], env=pg.env(warehouse)))  # --target auto
    assert res.stdout.strip() == f"inserted {TOTAL}, updated 0, unchanged 0"
    assert "PostgreSQL" in res.stderr
    assert rows(pg, warehouse) == rows(pg, source.db)


def test_missing_objects_are_refused_and_load_nothing(cli, pg, moto, bucket, source, warehouse, tmp_path):
    res = cli(["copy-redshift", "--s3-uri", f"file://{tmp_path}/nope.csv.gz", "--target", "postgres"],
              env=pg.env(warehouse))
    assert_error(res, 4, "copy-redshift", "nope.csv.gz")
    res = cli(["copy-redshift", "--s3-uri", f"s3://{bucket}/missing/day.csv.gz", "--target", "postgres"],
              env={**pg.env(warehouse), **moto.env()})
    assert_error(res, 4, "copy-redshift", "missing/day.csv.gz")
    # a manifest whose mandatory part is gone: nothing from the other parts is kept
    export(cli, pg, source.db, tmp_path / "day.csv", "--max-rows-per-file", "300")
    (tmp_path / "day.part0001.csv").unlink()
    res = cli(["copy-redshift", "--s3-uri", f"file://{tmp_path}/day.manifest", "--manifest", "--target", "postgres"],
              env=pg.env(warehouse))
    assert_error(res, 4, "copy-redshift", "day.part0001.csv")
    assert pg.query(warehouse, "SELECT count(*) FROM ohlcv") == [("0",)]


def test_copy_of_a_bad_file_is_bad_data_naming_the_line_and_loads_nothing(cli, pg, moto, source, warehouse,
                                                                         tmp_path):
    good = tmp_path / "good.csv"
    export(cli, pg, source.db, good)
    lines = good.read_text().split("\n")
    lines[5] = re.sub(r",(\d+\.\d+),", ",abc,", lines[5], count=1)  # a price that is not a number
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines))
    res = cli(["copy-redshift", "--s3-uri", f"file://{bad}", "--target", "postgres"], env=pg.env(warehouse))
    assert_error(res, 3, "copy-redshift", "line 6")
    assert pg.query(warehouse, "SELECT count(*) FROM ohlcv") == [("0",)]
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("a,b,c\n1,2,3\n")
    assert_error(cli(["copy-redshift", "--s3-uri", f"file://{wrong}", "--target", "postgres"], env=pg.env(warehouse)),
                 3, "copy-redshift", "header")


# ------------------------------------------------------------------------------------------------
# the Redshift path without a cluster: --dry-run
# ------------------------------------------------------------------------------------------------

def test_dry_run_prints_the_redshift_sql_with_secrets_masked_and_connects_to_nothing(cli):
    secret, token = "s3cr3t/Key+WithSlash=", "FQoGZXIvYXdzSESSIONTOKENabc/def+ghi="
    env = {"AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE", "AWS_SECRET_ACCESS_KEY": secret,
           "AWS_SESSION_TOKEN": token, "AWS_REGION": "eu-central-1", "PGHOST": "127.0.0.1", "PGPORT": "1"}
    res = ok(cli(["copy-redshift", "--s3-uri", "s3://bkt/ohlcv/day.csv.gz", "--dry-run", "--max-error", "5"], env=env))
    out = res.stdout + res.stderr
    assert secret not in out and token not in out
    assert "SECRET_ACCESS_KEY '***'" in res.stdout and "SESSION_TOKEN '***'" in res.stdout
    assert "FROM 's3://bkt/ohlcv/day.csv.gz'" in res.stdout and "GZIP" in res.stdout
    assert "REGION 'eu-central-1'" in res.stdout and "MAXERROR 5" in res.stdout
    assert "MERGE INTO \"public\".\"ohlcv\"" in res.stdout
    role = ok(cli(["copy-redshift", "--s3-uri", "s3://bkt/day.manifest", "--manifest", "--dry-run", "--mode", "replace",
                   "--iam-role", "arn:aws:iam::123456789012:role/copy"], env=env))
    assert "IAM_ROLE 'arn:aws:iam::123456789012:role/copy'" in role.stdout and "MANIFEST" in role.stdout
    assert "ACCESS_KEY_ID" not in role.stdout and "DELETE FROM \"public\".\"ohlcv\"" in role.stdout
    assert_error(cli(["copy-redshift", "--s3-uri", "s3://bkt/k'; DROP TABLE x; --", "--dry-run"], env=env), 2,
                 "copy-redshift")


def run_redshift_script_on_postgres(pg, db: str, script: str, csv: Path) -> list[str]:
    """Runs a --dry-run Redshift plan on PostgreSQL 15, which shares its MERGE, DELETE ... USING and CREATE TEMP
    TABLE (LIKE ...) syntax: the Redshift-only DDL is skipped and the S3 COPY becomes psql's \\copy of `csv`.
    Returns psql's unaligned output lines (the SELECT results)."""
    statements = [s for s in script.split(";\n") if s.strip()]
    assert statements[0].startswith("CREATE SCHEMA") and "DISTKEY(symbol_id)" in statements[1]
    lines = []
    for s in statements[2:]:
        if s.startswith("COPY stage ("):
            columns = s[len("COPY stage ("):s.index(")")]
            s = f"\\copy stage ({columns}) FROM '{csv}' WITH (FORMAT csv, HEADER)"
            lines.append(s)
        else:
            lines.append(s + ";")
    psql = pg.bindir / "psql" if (pg.bindir / "psql").exists() else "psql"
    res = subprocess.run([str(psql), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", pg.host, "-p",
                          str(pg.port), "-U", pg.user, "-d", db],
                         input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=120,
                         env=base_env({"PGTZ": "UTC"}))
    assert res.returncode == 0, res.stderr
    return res.stdout.split()


def test_redshift_plan_statements_do_the_right_thing_when_run_on_postgres(cli, pg, source, warehouse, tmp_path):
    csv = tmp_path / "day.csv"
    export(cli, pg, source.db, csv)
    ok(cli(["load-postgres", "--create-only"], env=pg.env(warehouse)))
    pg.query(warehouse, "CREATE FUNCTION getdate() RETURNS timestamptz LANGUAGE sql AS 'SELECT now()'")
    role = ["--iam-role", "arn:aws:iam::123456789012:role/copy", "--s3-uri", "s3://bkt/day.csv", "--dry-run"]

    def plan(mode):
        return ok(cli(["copy-redshift", *role, "--mode", mode])).stdout

    # upsert into an empty table: every staged row is new (staged count, then new count)
    assert run_redshift_script_on_postgres(pg, warehouse, plan("upsert"), csv) == [str(TOTAL), str(TOTAL)]
    assert rows(pg, warehouse) == rows(pg, source.db)
    loaded_at = pg.query(warehouse, "SELECT max(loaded_at)::text FROM ohlcv")
    # rerun: identical rows leave the stage, nothing is new, nothing is rewritten
    assert run_redshift_script_on_postgres(pg, warehouse, plan("upsert"), csv) == [str(TOTAL), "0"]
    assert pg.query(warehouse, "SELECT max(loaded_at)::text FROM ohlcv") == loaded_at
    # a drifted row (and a NULL that must compare equal to NULL) is put back by the MERGE
    pg.query(warehouse, "UPDATE ohlcv SET volume_traded = volume_traded + 1 WHERE symbol_id = 'BITSTAMP_SPOT_BTC_USD' "
                        "AND time_period_start = '2024-01-01 12:00:00+00'")
    assert run_redshift_script_on_postgres(pg, warehouse, plan("upsert"), csv) == [str(TOTAL), "0"]
    assert rows(pg, warehouse) == rows(pg, source.db)
    assert pg.query(warehouse, "SELECT count(*) FROM ohlcv WHERE loaded_at > "
                               f"'{loaded_at[0][0]}'::timestamptz") == [("1",)]
    # replace: the window per symbol and period is deleted and re-inserted; a row outside it stays
    pg.query(warehouse, "INSERT INTO ohlcv (symbol_id, period_id, time_period_start, time_period_end, source) "
                        "VALUES ('BITSTAMP_SPOT_BTC_USD', '5MIN', '2024-01-02 00:00:00+00', "
                        "'2024-01-02 00:05:00+00', 'bitstamp')")
    assert run_redshift_script_on_postgres(pg, warehouse, plan("replace"), csv) == [str(TOTAL)]
    assert pg.query(warehouse, "SELECT count(*) FROM ohlcv") == [(str(TOTAL + 1),)]
    pg.query(warehouse, "DELETE FROM ohlcv WHERE time_period_start = '2024-01-02 00:00:00+00'")
    assert rows(pg, warehouse) == rows(pg, source.db)
    # append into a fresh table
    pg.query(warehouse, "TRUNCATE ohlcv")
    assert run_redshift_script_on_postgres(pg, warehouse, plan("append"), csv) == [str(TOTAL)]
    assert rows(pg, warehouse) == rows(pg, source.db)


@pytest.mark.slow
def test_export_memory_stays_flat_for_a_large_window(cryptopipe_bin, pg, tmp_path):
    """400k candles (~70 MB of CSV) export with a small, constant resident set: rows stream from COPY to the file."""
    db = pg.create_db("daily_large")
    subprocess.run([str(cryptopipe_bin), "load-postgres", "--create-only"], env=base_env(pg.env(db)), check=True,
                   capture_output=True)
    pg.query(db, """
        INSERT INTO ohlcv (symbol_id, period_id, time_period_start, time_period_end, time_open, time_close,
                           price_open, price_high, price_low, price_close, volume_traded, trades_count, source)
        SELECT 'SYM_' || (i % 40), '1MIN', ts, ts + interval '1 minute', ts + interval '1.25 second',
               ts + interval '59 second', 42000.12345678, 42100.5, 41900.000001, 42050.10, 12.3456789012, i, 'coinapi'
          FROM generate_series(0, 399999) AS i,
               LATERAL (SELECT timestamptz '2024-03-01 00:00:00+00' + (i / 40) * interval '1 minute' AS ts) t""")
    def export_rss(end: str, out: Path) -> tuple[int, str]:
        proc = subprocess.Popen([str(cryptopipe_bin), "export-csv", "--start", "2024-03-01", "--end", end,
                                 "-o", str(out), "--max-rows-per-file", "150000"], env=base_env(pg.env(db)),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak RSS (KiB on Linux)
        assert os.waitstatus_to_exitcode(status) == 0, proc.stderr.read().decode()
        return usage.ru_maxrss, proc.stdout.read().decode()

    small_rss, _ = export_rss("2024-03-01T00:10:00Z", tmp_path / "small.csv")  # 400 rows
    rss, stdout = export_rss("2024-03-31", tmp_path / "big.csv")
    files = exported_files(stdout)
    assert [int(f["rows"]) for f in files] == [150000, 150000, 100000]
    assert sum(int(f["bytes"]) for f in files) > 64 * 2**20
    assert rss < small_rss + 8 * 1024, f"peak RSS {rss} KiB for 400k rows vs {small_rss} KiB for 400 rows"
    first = (tmp_path / "big.part0000.csv").open().readlines()[1]
    assert first == ("SYM_0,1MIN,2024-03-01 00:00:00+00,2024-03-01 00:01:00+00,2024-03-01 00:00:01.250000+00,"
                     "2024-03-01 00:00:59+00,42000.12345678,42100.5,41900.000001,42050.10,12.3456789012,0,coinapi\n")


def test_bad_row_in_a_later_manifest_part_is_reported_against_that_part(cli, pg, source, warehouse, tmp_path):
    export(cli, pg, source.db, tmp_path / "day.csv", "--max-rows-per-file", "200")
    part = tmp_path / "day.part0001.csv"
    lines = part.read_text().split("\n")
    lines[10] = re.sub(r",(\d+\.\d+),", ",1.2.3,", lines[10], count=1)
    part.write_text("\n".join(lines))
    res = cli(["copy-redshift", "--s3-uri", f"file://{tmp_path}/day.manifest", "--manifest", "--target", "postgres"],
              env=pg.env(warehouse))
    assert_error(res, 3, "copy-redshift", "day.part0001.csv: line 11", "1.2.3")
    assert pg.query(warehouse, "SELECT count(*) FROM ohlcv") == [("0",)]
