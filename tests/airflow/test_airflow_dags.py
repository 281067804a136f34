"""The DAG files as Airflow itself sees them: import, structure, schedule, rendered commands, retry policy.

No cryptopipe binary and no services needed: rendering reads connections from AIRFLOW_CONN_* env vars.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parents[2] / "dags"

DAG_IDS = {"crypto_prices", "crypto_prices_load_to_s3_redshift"}

PG_PASSWORD = "pg-Secret-7f3a9c"
AWS_SECRET = "aws-Secret-0b1e55d2"
WAREHOUSE_PASSWORD = "wh-Secret-91c2"

INSPECT = r"""
import json, sys
from datetime import timedelta
from pathlib import Path
import pendulum
from airflow.dag_processing.dagbag import BundleDagBag
from airflow.serialization.encoders import coerce_to_core_timetable

dags = Path(sys.argv[1])
bag = BundleDagBag(dag_folder=dags, bundle_path=dags)
out = {"import_errors": {str(k): v for k, v in bag.import_errors.items()}, "files": sorted(
    str(p.relative_to(dags)) for p in dags.glob("*.py")), "dags": {}}
for dag_id, dag in bag.dags.items():
    timetable = coerce_to_core_timetable(dag.timetable)
    info = {
        "fileloc": Path(dag.fileloc).name,
        "tags": sorted(dag.tags),
        "timetable": type(dag.timetable).__name__,
        "summary": timetable.summary,
        "doc_md": dag.doc_md or "",
        "catchup": dag.catchup,
        "max_active_runs": dag.max_active_runs,
        "start_tz": str(dag.start_date.tzinfo),
        "params": {k: dag.params[k] for k in dag.params},
        "tasks": {},
        "manual": {},
    }
    for task in dag.tasks:
        info["tasks"][task.task_id] = {
            "type": type(task).__name__,
            "operator": getattr(task, "operator_name", type(task).__name__),
            "retries": task.retries,
            "retry_delay": task.retry_delay.total_seconds(),
            "exp": float(task.retry_exponential_backoff or 0),
            "has_retry_policy": bool(getattr(task, "retry_policy", None) or task.partial_kwargs.get("retry_policy"))
                if hasattr(task, "partial_kwargs") else bool(getattr(task, "retry_policy", None)),
            "upstream": sorted(task.upstream_task_ids),
            "append_env": getattr(task, "append_env", None) if not hasattr(task, "partial_kwargs")
                else task.partial_kwargs.get("append_env"),
        }
    for when in ("2024-01-01T00:05:00+00:00", "2024-01-02T00:00:00+00:00"):
        iv = timetable.infer_manual_data_interval(run_after=pendulum.parse(when))
        info["manual"][when] = [iv.start.isoformat(), iv.end.isoformat()]
    out["dags"][dag_id] = info
print("JSON:" + json.dumps(out, default=str))
"""


@pytest.fixture(scope="module")
def dagbag(airflow):
    res = _run_inspect(airflow)
    line = next(l for l in res.stdout.splitlines() if l.startswith("JSON:"))
    return json.loads(line[len("JSON:"):])


def _run_inspect(airflow):
    res = subprocess.run([sys.executable, "-c", INSPECT, str(DAGS)], env=airflow.env(), capture_output=True,
                         text=True, timeout=180, cwd=airflow.home)
    assert res.returncode == 0, f"inspect failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return res


def test_every_dag_file_imports_without_errors(dagbag):
    assert dagbag["import_errors"] == {}
    assert set(dagbag["dags"]) == DAG_IDS
    # One DAG per file, dag_id = file stem (STYLE.md).
    for dag_id, info in dagbag["dags"].items():
        assert info["fileloc"] == f"{dag_id}.py"


def test_airflow_cli_reports_no_import_errors(airflow):
    res = airflow.run("dags", "reserialize")
    assert res.returncode == 0, res.stderr[-3000:]
    assert "Failed to import" not in res.stdout + res.stderr
    res = airflow.run("dags", "list-import-errors", "-o", "json")
    assert res.returncode == 0, res.stderr[-3000:]
    errors = json.loads(res.stdout[res.stdout.index("["):]) if "[" in res.stdout else []
    assert errors == []


@pytest.mark.parametrize("dag_id", sorted(DAG_IDS))
def test_dag_follows_the_style_guide(dagbag, dag_id):
    info = dagbag["dags"][dag_id]
    assert 'if __name__ == "__main__":\n    dag.test()' in (DAGS / f"{dag_id}.py").read_text()
    assert "cryptopipe" in info["tags"] and len(info["tags"]) >= 3
    assert info["doc_md"].lstrip().startswith(f"### {dag_id}")
    assert "CeleryExecutor" in info["doc_md"]  # why the tasks are cut where they are
    assert info["catchup"] is False
    assert info["max_active_runs"] == 1
    assert info["start_tz"] in ("UTC", "Timezone('UTC')", "+00:00")
    for task_id, task in info["tasks"].items():
        if task["operator"] in ("BashOperator",) or task["type"] == "BashOperator":
            assert task["append_env"] is True, task_id
        assert task["retries"] >= 2, task_id
        assert task["exp"] > 0, task_id  # exponential backoff
        assert task["has_retry_policy"], task_id


def test_crypto_prices_has_a_real_five_minute_interval(dagbag):
    info = dagbag["dags"]["crypto_prices"]
    assert info["timetable"] == "CronDataIntervalTimetable"
    assert info["summary"] == "*/5 * * * *"
    # `airflow dags test crypto_prices 2024-01-01T00:05:00+00:00` covers the 5 minutes BEFORE that instant.
    assert info["manual"]["2024-01-01T00:05:00+00:00"] == ["2024-01-01T00:00:00+00:00", "2024-01-01T00:05:00+00:00"]
    tasks = info["tasks"]
    assert set(tasks) == {"load_postgres_create_only", "plan_symbols", "extract_transform_load_postgres"}
    assert tasks["extract_transform_load_postgres"]["type"] == "MappedOperator"
    assert tasks["extract_transform_load_postgres"]["upstream"] == ["plan_symbols"]
    assert tasks["plan_symbols"]["upstream"] == ["load_postgres_create_only"]
    assert info["params"]["postgres_conn_id"] == "crypto_postgres"
    assert info["params"]["table"] == "ohlcv"


def test_daily_dag_has_a_real_one_day_interval(dagbag):
    info = dagbag["dags"]["crypto_prices_load_to_s3_redshift"]
    assert info["timetable"] == "CronDataIntervalTimetable"
    assert info["summary"] in ("@daily", "0 0 * * *")
    assert info["manual"]["2024-01-02T00:00:00+00:00"] == ["2024-01-01T00:00:00+00:00", "2024-01-02T00:00:00+00:00"]
    tasks = info["tasks"]
    assert set(tasks) == {"wait_for_late_candles", "export_csv_upload_s3", "copy_redshift"}
    assert tasks["export_csv_upload_s3"]["upstream"] == ["wait_for_late_candles"]
    assert tasks["copy_redshift"]["upstream"] == ["export_csv_upload_s3"]
    assert (info["params"]["postgres_conn_id"], info["params"]["aws_conn_id"], info["params"]["redshift_conn_id"]) \
        == ("crypto_postgres", "aws_default", "redshift_default")


# --- rendered commands for a fixed run ---------------------------------------------------------------------------

CONN_ENV = {
    "AIRFLOW_CONN_CRYPTO_POSTGRES": json.dumps({"conn_type": "postgres", "host": "db.internal", "port": 6543,
                                                 "login": "loader", "password": PG_PASSWORD, "schema": "prices"}),
    "AIRFLOW_CONN_REDSHIFT_DEFAULT": json.dumps({"conn_type": "redshift", "host": "wh.internal", "port": 5439,
                                                  "login": "copier", "password": WAREHOUSE_PASSWORD, "schema": "dev"}),
    "AIRFLOW_CONN_AWS_DEFAULT": json.dumps({"conn_type": "aws", "login": "AKIDEXAMPLE", "password": AWS_SECRET,
                                             "extra": {"region_name": "eu-west-1",
                                                       "endpoint_url": "http://127.0.0.1:9"}}),
    "CRYPTOPIPE_S3_BUCKET": "crypto-lake",
    "CRYPTOPIPE_REDSHIFT_IAM_ROLE": "arn:aws:iam::123456789012:role/copy",
}


def _env_dict(text: str) -> dict:
    import ast

    return ast.literal_eval(text)


# Every render the tests below look at, done by Airflow's own `airflow tasks render` command — all in one
# process (each CLI start costs seconds of CPU), with the env of each case applied around its call.
RENDER = r"""
import contextlib, io, json, os, sys
from airflow.cli import cli_parser

parser = cli_parser.get_parser()
out = {}
for case in json.loads(sys.argv[1]):
    saved = dict(os.environ)
    os.environ.update(case["env"])
    buf = io.StringIO()
    args = parser.parse_args(["tasks", "render", case["dag"], case["task"], case["date"]])
    with contextlib.redirect_stdout(buf):
        args.func(args)
    os.environ.clear()
    os.environ.update(saved)
    out[case["name"]] = buf.getvalue()
print("JSON:" + json.dumps(out))
"""

DAILY = "crypto_prices_load_to_s3_redshift"
RENDER_CASES = [
    ("create_table", "crypto_prices", "load_postgres_create_only", "2024-01-01T00:05:00+00:00", CONN_ENV),
    ("bin_from_variable", "crypto_prices", "load_postgres_create_only", "2024-01-01T00:05:00+00:00",
     {**CONN_ENV, "AIRFLOW_VAR_CRYPTOPIPE_BIN": "/opt/from-variable/cryptopipe"}),
    ("bin_from_env", "crypto_prices", "load_postgres_create_only", "2024-01-01T00:05:00+00:00",
     {**CONN_ENV, "AIRFLOW_VAR_CRYPTOPIPE_BIN": "/opt/from-variable/cryptopipe",
      "CRYPTOPIPE_BIN": "/opt/from-env/cryptopipe"}),
    ("export_upload", DAILY, "export_csv_upload_s3", "2024-01-02T00:00:00+00:00", CONN_ENV),
    ("copy", DAILY, "copy_redshift", "2024-01-02T00:00:00+00:00", CONN_ENV),
    ("copy_local_lake", DAILY, "copy_redshift", "2024-01-02T00:00:00+00:00",
     {**CONN_ENV, "CRYPTOPIPE_S3_BUCKET": "", "AIRFLOW_VAR_CRYPTO_S3_BUCKET": "file:///srv/lake/"}),
]


@pytest.fixture(scope="module")
def rendered(airflow):
    cases = [{"name": n, "dag": d, "task": t, "date": w, "env": e} for n, d, t, w, e in RENDER_CASES]
    res = subprocess.run([sys.executable, "-c", RENDER, json.dumps(cases)], env=airflow.env(), capture_output=True,
                         text=True, timeout=300, cwd=airflow.home)
    assert res.returncode == 0, f"{res.stdout[-2000:]}\n{res.stderr[-3000:]}"
    outputs = json.loads(next(l for l in res.stdout.splitlines() if l.startswith("JSON:"))[5:])
    result = {}
    for name, text in outputs.items():
        parts = re.split(r"# -+\n# property: (\w+)\n# -+\n", text)
        result[name] = {prop: body.strip() for prop, body in zip(parts[1::2], parts[2::2])}
    return result


def test_create_table_command_and_postgres_env_come_from_the_connection(rendered):
    props = rendered["create_table"]
    cmd = props["bash_command"]
    assert '"$CRYPTOPIPE_BIN" load-postgres --create-only --table ohlcv --schema public' in cmd
    assert PG_PASSWORD not in cmd
    env = _env_dict(props["env"])
    assert env["PGHOST"] == "db.internal" and env["PGPORT"] == "6543" and env["PGUSER"] == "loader"
    assert env["PGDATABASE"] == "prices" and env["PGPASSWORD"] == PG_PASSWORD
    assert env["CRYPTOPIPE_BIN"] == "cryptopipe"


def test_binary_comes_from_env_then_variable(rendered):
    assert _env_dict(rendered["bin_from_variable"]["env"])["CRYPTOPIPE_BIN"] == "/opt/from-variable/cryptopipe"
    assert _env_dict(rendered["bin_from_env"]["env"])["CRYPTOPIPE_BIN"] == "/opt/from-env/cryptopipe"


def test_export_and_upload_cover_exactly_one_utc_day(rendered):
    props = rendered["export_upload"]
    cmd = props["bash_command"]
    export = next(l for l in cmd.splitlines() if "export-csv" in l)
    upload = next(l for l in cmd.splitlines() if "upload-s3" in l)
    assert "--start 2024-01-01T00:00:00Z --end 2024-01-02T00:00:00Z" in export
    assert "--table ohlcv --schema public" in export
    assert upload.endswith("s3://crypto-lake/ohlcv/period=5MIN/date=2024-01-01/ohlcv.csv.gz")
    for secret in (PG_PASSWORD, AWS_SECRET, WAREHOUSE_PASSWORD):
        assert secret not in cmd
    env = _env_dict(props["env"])
    assert env["PGHOST"] == "db.internal" and env["PGPASSWORD"] == PG_PASSWORD
    assert env["AWS_ACCESS_KEY_ID"] == "AKIDEXAMPLE" and env["AWS_SECRET_ACCESS_KEY"] == AWS_SECRET
    assert env["AWS_REGION"] == "eu-west-1" and env["AWS_ENDPOINT_URL_S3"] == "http://127.0.0.1:9"


def test_copy_redshift_upserts_the_same_object_into_the_warehouse(rendered):
    props = rendered["copy"]
    cmd = props["bash_command"]
    line = next(l for l in cmd.splitlines() if "copy-redshift" in l)
    assert "--s3-uri s3://crypto-lake/ohlcv/period=5MIN/date=2024-01-01/ohlcv.csv.gz --mode upsert" in line
    assert '--iam-role "$CRYPTOPIPE_REDSHIFT_IAM_ROLE"' in line
    for secret in (PG_PASSWORD, AWS_SECRET, WAREHOUSE_PASSWORD):
        assert secret not in cmd
    env = _env_dict(props["env"])
    # The warehouse connection, not the source one.
    assert (env["PGHOST"], env["PGPORT"], env["PGUSER"], env["PGDATABASE"]) == ("wh.internal", "5439", "copier", "dev")
    assert env["PGPASSWORD"] == WAREHOUSE_PASSWORD
    assert env["CRYPTOPIPE_REDSHIFT_IAM_ROLE"] == "arn:aws:iam::123456789012:role/copy"
    assert env["CRYPTOPIPE_COPY_TARGET"] == "auto"


def test_bucket_may_be_a_local_lake_uri(rendered):
    props = rendered["copy_local_lake"]
    assert "--s3-uri file:///srv/lake/ohlcv/period=5MIN/date=2024-01-01/ohlcv.csv.gz" in props["bash_command"]


# --- pure helpers, imported the way the DAG files import them ----------------------------------------------------

HELPERS = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from airflow.sdk.exceptions import AirflowException
import cryptopipe_dag_support as s
import crypto_prices

policy = s.CryptopipeExitCodePolicy()
out = {}
for code in (1, 2, 3, 4, 5, 141):
    exc = AirflowException(f"Bash command failed. The command returned a non-zero exit code {code}.")
    out[f"exit{code}"] = policy.evaluate(exc, 1, 4).action.value
out["other"] = policy.evaluate(RuntimeError("boom"), 1, 4).action.value

utc = timezone.utc
run = SimpleNamespace(data_interval_start=None, data_interval_end=None,
                      run_after=datetime(2024, 1, 1, 0, 7, 12, tzinfo=utc))
w = s.run_window(run, timedelta(minutes=5))
out["manual_5min"] = [w.start_text, w.end_text]
w = s.run_window(run, timedelta(days=1))
out["manual_day"] = [w.start_text, w.end_text, w.day]
run = SimpleNamespace(data_interval_start=datetime(2024, 1, 1, 0, 0, tzinfo=utc),
                      data_interval_end=datetime(2024, 1, 1, 0, 5, tzinfo=utc), run_after=None)
w = s.run_window(run, timedelta(minutes=5))
out["scheduled"] = [w.start_text, w.end_text]
out["command"] = crypto_prices.extract_transform_load_command("BITSTAMP_SPOT_BTC_USD", "bitstamp", w, "ohlcv", "public")
errors = []
for bad in (["btc"], ["BITSTAMP_SPOT_BTC_USD; rm -rf /"], [], "x"):
    try:
        s.checked_symbols(bad)
    except ValueError as e:
        errors.append(str(e))
out["bad_symbols"] = errors
out["csv_symbols"] = s.checked_symbols("BITSTAMP_SPOT_BTC_USD, BITSTAMP_SPOT_ETH_USD")
conn = SimpleNamespace(host=None, port=None, login="AKID", password="sec", schema=None,
                       extra=json.dumps({"region_name": "us-east-1",
                                         "service_config": {"s3": {"endpoint_url": "http://s3.local"}}}))
out["aws"] = s.aws_env_from_connection(conn)
out["aws_missing"] = s.aws_env_from_connection(None)
out["pipe_function"] = s.PIPE_STATUS_FUNCTION
import os
os.environ["CRYPTOPIPE_SYMBOLS"] = '["BITSTAMP_SPOT_ETH_USD", "BITSTAMP_SPOT_XRP_USD"]'
out["symbols_json"] = s.setting_json("CRYPTOPIPE_SYMBOLS", "crypto_symbols", [])
os.environ["CRYPTOPIPE_SYMBOLS"] = "BITSTAMP_SPOT_ETH_USD BITSTAMP_SPOT_XRP_USD"
out["symbols_plain"] = s.setting_json("CRYPTOPIPE_SYMBOLS", "crypto_symbols", [])
print("JSON:" + json.dumps(out))
"""


@pytest.fixture(scope="module")
def helpers(airflow):
    res = subprocess.run([sys.executable, "-c", HELPERS, str(DAGS)], env=airflow.env(), capture_output=True,
                         text=True, timeout=120, cwd=airflow.home)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(next(l for l in res.stdout.splitlines() if l.startswith("JSON:"))[5:])


def test_exit_codes_2_3_4_fail_fast_and_5_is_retried(helpers):
    assert helpers["exit2"] == helpers["exit3"] == helpers["exit4"] == "fail"
    # DEFAULT = the task's retries with exponential backoff.
    assert helpers["exit5"] == helpers["exit1"] == helpers["exit141"] == helpers["other"] == "default"


def test_manual_run_without_logical_date_takes_the_last_closed_window(helpers):
    assert helpers["manual_5min"] == ["2024-01-01T00:00:00Z", "2024-01-01T00:05:00Z"]
    assert helpers["manual_day"] == ["2023-12-31T00:00:00Z", "2024-01-01T00:00:00Z", "2023-12-31"]
    assert helpers["scheduled"] == ["2024-01-01T00:00:00Z", "2024-01-01T00:05:00Z"]


def test_pipeline_command_covers_exactly_the_window_and_reports_the_first_failure(helpers):
    cmd = helpers["command"]
    assert cmd.splitlines()[0] == "# BITSTAMP_SPOT_BTC_USD"  # the map index shown in the UI
    assert ("extract --provider bitstamp --symbol BITSTAMP_SPOT_BTC_USD --period 5MIN "
            "--start 2024-01-01T00:00:00Z --end 2024-01-01T00:05:00Z") in cmd
    assert '| "$CRYPTOPIPE_BIN" transform' in cmd
    assert '| "$CRYPTOPIPE_BIN" load-postgres --table ohlcv --schema public' in cmd
    assert 'first_failure "${statuses[@]}"' in cmd


def test_symbols_are_validated_before_they_reach_a_shell(helpers):
    assert len(helpers["bad_symbols"]) == 4
    assert helpers["csv_symbols"] == ["BITSTAMP_SPOT_BTC_USD", "BITSTAMP_SPOT_ETH_USD"]
    # CRYPTOPIPE_SYMBOLS / Variable crypto_symbols: a JSON list, or the cron wrapper's plain list.
    assert helpers["symbols_json"] == helpers["symbols_plain"] == ["BITSTAMP_SPOT_ETH_USD", "BITSTAMP_SPOT_XRP_USD"]


def test_aws_connection_follows_the_amazon_provider_convention(helpers):
    aws = helpers["aws"]
    assert aws["AWS_ACCESS_KEY_ID"] == "AKID" and aws["AWS_SECRET_ACCESS_KEY"] == "sec"
    assert aws["AWS_REGION"] == aws["AWS_DEFAULT_REGION"] == "us-east-1"
    assert aws["AWS_ENDPOINT_URL_S3"] == "http://s3.local"
    assert set(helpers["aws_missing"].values()) == {""}  # then unset: the worker's own AWS setup applies


@pytest.mark.parametrize("statuses, expected", [
    ("0 0 0", 0),
    ("5 0 0", 5),          # extract gave up: retry
    ("5 3 0", 5),          # transform choked on the truncated stream: the cause is still extract's 5
    ("141 141 4", 4),      # load-postgres refused; the stages before it only saw SIGPIPE
    ("0 141 0", 141),
])
def test_pipeline_exit_code_is_the_first_real_failure(helpers, statuses, expected):
    res = subprocess.run(["bash", "-c", helpers["pipe_function"] + f"first_failure {statuses}"])
    assert res.returncode == expected
