"""
### crypto_prices_load_to_s3_redshift

Daily, exports one UTC day of candles from PostgreSQL, uploads it to S3 and upserts it into the warehouse:

`wait_for_late_candles` → `export_csv_upload_s3` → `copy_redshift`

Object key: `s3://{bucket}/ohlcv/period=5MIN/date={day}/ohlcv.csv.gz`, `{day}` = the UTC day of the run's
data interval.

**Why `export-csv` and `upload-s3` share one task.** Under CeleryExecutor consecutive tasks may run on
different workers, so a file written by an `export_csv` task would not be on the `upload_s3` worker. The
two subcommands therefore run in one task, through a temporary directory removed on exit; S3 itself is
the declared shared location between that task and `copy_redshift`. A retry re-exports the day, which is
cheap (a few thousand rows) and gives the same bytes. The task id names both subcommands.

**Window.** `CronDataIntervalTimetable("@daily")`: the scheduled run that starts at `2024-01-02T00:00Z`
(its logical date is `2024-01-01`, the interval start) covers `[2024-01-01, 2024-01-02)`. A *manual* run
with logical date `D` (`airflow dags test … D`, or a trigger with a logical date) covers the day before `D`:
`dags test … 2024-01-02` exports 2024-01-01. A manual run with no logical date covers the last whole UTC
day. The candle `23:55–00:00` is loaded by the `crypto_prices` run that starts at midnight, at the same
time as this DAG; `wait_for_late_candles` holds the export until 15 minutes after the day's end (for a
past day it passes at once; a manual run with no logical date waits 15 minutes after its trigger).

**Exit codes.** 5 (transient) and 1 are retried, 3 times, after 2 min, then doubling up to 30 min (env
`CRYPTOPIPE_RETRY_DELAY_SECONDS` sets the first delay); 2, 3 and 4 fail at once.

**Reads** (at run time, never at parse time):

| what | from | default |
|---|---|---|
| source PostgreSQL | connection `params.postgres_conn_id` → `PG*` env of `export_csv_upload_s3` | `crypto_postgres` |
| AWS | connection `params.aws_conn_id` (login = access key id, password = secret key, extra `region_name`, `endpoint_url`, `aws_session_token`) → `AWS_*` env; empty fields leave the worker's own AWS setup in place | `aws_default` |
| warehouse | connection `params.redshift_conn_id` → `PG*` env of `copy_redshift` (a PostgreSQL database works for local runs) | `redshift_default` |
| bucket | env `CRYPTOPIPE_S3_BUCKET`, else Variable `crypto_s3_bucket` (a bucket name, or a URI prefix such as `file:///srv/lake`) | required |
| COPY role | env `CRYPTOPIPE_REDSHIFT_IAM_ROLE`, else Variable `crypto_redshift_iam_role` | none: session credentials |
| COPY target | env `CRYPTOPIPE_COPY_TARGET`, else Variable `crypto_copy_target` (`auto`, `redshift`, `postgres`) | `auto` |
| binary | env `CRYPTOPIPE_BIN`, else Variable `cryptopipe_bin` | `cryptopipe` on `PATH` |
| tables | params `table`/`schema` (source), `warehouse_table`/`warehouse_schema` | `public.ohlcv` |
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import cryptopipe_dag_support as support
from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.standard.sensors.time_delta import TimeDeltaSensor
from airflow.sdk import DAG, CronDataIntervalTimetable, Param

PERIOD = timedelta(days=1)
PERIOD_ID = "5MIN"
OBJECT_NAME = "ohlcv.csv.gz"
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
_IDENTIFIER = "^[A-Za-z_][A-Za-z0-9_]{0,62}$"


def day_window(dag_run) -> support.RunWindow:
    """This run's UTC day (see `support.run_window`)."""
    return support.run_window(dag_run, PERIOD)


def object_uri(day: str) -> str:
    """Where the day's export lives: `s3://{bucket}/ohlcv/period=5MIN/date={day}/ohlcv.csv.gz`."""
    lake = support.setting("CRYPTOPIPE_S3_BUCKET", "crypto_s3_bucket", "").strip()
    if not lake:
        raise ValueError("no bucket: set env CRYPTOPIPE_S3_BUCKET or Airflow Variable crypto_s3_bucket")
    if "://" in lake:
        prefix = lake.rstrip("/")
    elif _BUCKET.match(lake):
        prefix = f"s3://{lake}"
    else:
        raise ValueError(f"crypto_s3_bucket: not an S3 bucket name or URI prefix: {lake!r}")
    return f"{prefix}/ohlcv/period={PERIOD_ID}/date={day}/{OBJECT_NAME}"


MACROS = {**support.MACROS, "cryptopipe_day_window": day_window, "cryptopipe_object_uri": object_uri}

SOURCE_ENV = {
    **support.settings_env(),
    **support.env_templates("postgres", "postgres_conn_id"),
    **support.env_templates("aws", "aws_conn_id"),
}
WAREHOUSE_ENV = {
    **support.settings_env(),
    **support.env_templates("postgres", "redshift_conn_id"),
    **support.env_templates("aws", "aws_conn_id"),
    "CRYPTOPIPE_REDSHIFT_IAM_ROLE": "{{ cryptopipe_setting('CRYPTOPIPE_REDSHIFT_IAM_ROLE', 'crypto_redshift_iam_role', '') }}",
    "CRYPTOPIPE_COPY_TARGET": "{{ cryptopipe_setting('CRYPTOPIPE_COPY_TARGET', 'crypto_copy_target', 'auto') }}",
}
UNSET_IF_EMPTY = support.POSTGRES_ENV + support.AWS_ENV

# Jinja header of both commands: the window and the object URI, computed at run time.
_WINDOW = (
    "{% set window = cryptopipe_day_window(dag_run) %}"
    "{% set uri = cryptopipe_object_uri(window.day) %}"
)

EXPORT_CSV_UPLOAD_S3_COMMAND = (
    _WINDOW
    + support.shell_prelude(UNSET_IF_EMPTY)
    + 'workdir="$(mktemp -d)"\n'
    + "trap 'rm -rf \"$workdir\"' EXIT\n"
    + '"$CRYPTOPIPE_BIN" export-csv --table {{ cryptopipe_quote(params.table) }}'
    + " --schema {{ cryptopipe_quote(params.schema) }}"
    + " --start {{ cryptopipe_quote(window.start_text) }} --end {{ cryptopipe_quote(window.end_text) }}"
    + f' --gzip -o "$workdir/{OBJECT_NAME}"\n'
    + f'"$CRYPTOPIPE_BIN" upload-s3 "$workdir/{OBJECT_NAME}" {{{{ cryptopipe_quote(uri) }}}}\n'
)

COPY_REDSHIFT_COMMAND = (
    _WINDOW
    + support.shell_prelude(UNSET_IF_EMPTY + ("CRYPTOPIPE_REDSHIFT_IAM_ROLE",))
    + '"$CRYPTOPIPE_BIN" copy-redshift --s3-uri {{ cryptopipe_quote(uri) }} --mode upsert'
    + " --table {{ cryptopipe_quote(params.warehouse_table) }}"
    + " --schema {{ cryptopipe_quote(params.warehouse_schema) }}"
    + ' --target "$CRYPTOPIPE_COPY_TARGET"'
    + ' ${CRYPTOPIPE_REDSHIFT_IAM_ROLE:+--iam-role "$CRYPTOPIPE_REDSHIFT_IAM_ROLE"}'
    + ' ${AWS_REGION:+--region "$AWS_REGION"}'
    + ' ${AWS_ENDPOINT_URL_S3:+--endpoint-url "$AWS_ENDPOINT_URL_S3"}\n'
)


with DAG(
    dag_id="crypto_prices_load_to_s3_redshift",
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    start_date=datetime(2024, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=6),
    doc_md=__doc__,
    tags=["cryptopipe", "ohlcv", "s3", "redshift", "daily"],
    default_args=support.default_args(
        retry_delay=timedelta(minutes=2), max_retry_delay=timedelta(minutes=30), execution_timeout=timedelta(hours=2)
    ),
    params={
        "table": Param("ohlcv", type="string", pattern=_IDENTIFIER),
        "schema": Param("public", type="string", pattern=_IDENTIFIER),
        "warehouse_table": Param("ohlcv", type="string", pattern=_IDENTIFIER),
        "warehouse_schema": Param("public", type="string", pattern=_IDENTIFIER),
        "postgres_conn_id": Param("crypto_postgres", type="string"),
        "aws_conn_id": Param("aws_default", type="string"),
        "redshift_conn_id": Param("redshift_default", type="string"),
    },
    user_defined_macros=MACROS,
) as dag:
    wait_for_late_candles = TimeDeltaSensor(
        task_id="wait_for_late_candles",
        delta=timedelta(minutes=15),
        mode="reschedule",
        poke_interval=60,
    )

    export_csv_upload_s3 = BashOperator(
        task_id="export_csv_upload_s3",
        bash_command=EXPORT_CSV_UPLOAD_S3_COMMAND,
        env=SOURCE_ENV,
        append_env=True,
    )

    copy_redshift = BashOperator(
        task_id="copy_redshift",
        bash_command=COPY_REDSHIFT_COMMAND,
        env=WAREHOUSE_ENV,
        append_env=True,
    )

    wait_for_late_candles >> export_csv_upload_s3 >> copy_redshift


if __name__ == "__main__":
    dag.test()
