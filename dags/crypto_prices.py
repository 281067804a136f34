"""
### crypto_prices

Every 5 minutes, loads the 5-minute OHLCV candles of the run's data interval
`[data_interval_start, data_interval_end)` into PostgreSQL, one mapped task per symbol:

`load_postgres_create_only` → `plan_symbols` → `extract_transform_load_postgres` (mapped, one per symbol)

Each mapped task runs `cryptopipe extract … | cryptopipe transform | cryptopipe load-postgres` as **one
shell pipeline**. The three stages are not separate tasks on purpose: under CeleryExecutor each task may
run on a different worker, so a file written by `extract` would not be there for `transform`. Piping
needs no shared storage, keeps no raw file behind, and a retry simply reruns the whole window —
`load-postgres` upserts, so a rerun inserts nothing twice. The task exits with the code of the stage that
failed first (a stage killed by SIGPIPE because a later one died is not the cause), so the retry policy
sees the real reason. The task id names the three subcommands it runs.

**Window.** The timetable is `CronDataIntervalTimetable("*/5 * * * *")`: a run's data interval spans the
5 minutes before it (a bare cron string would give a zero-width interval in Airflow 3). A run triggered
with logical date `2024-01-01T00:05:00+00:00` covers `[00:00, 00:05)`. A manual run with no logical date
covers the last closed 5-minute period before it was triggered.

**Exit codes.** 5 (transient: network, 5xx, 429) and 1 are retried, 3 times, after 30 s, then doubling up to
4 min (env `CRYPTOPIPE_RETRY_DELAY_SECONDS` on the DAG processor and workers sets the first delay); 2 (usage
or config), 3 (bad data) and 4 (remote refused) fail at once. The command's one-line error is in the log.

**Reads** (at run time, never at parse time):

| what | from | default |
|---|---|---|
| PostgreSQL | connection `params.postgres_conn_id` → `PG*` env | `crypto_postgres` |
| CoinAPI key (provider `coinapi` only) | password of connection `params.coinapi_conn_id` → `COINAPI_KEY` env, else the worker's env | `coinapi_default` |
| binary | env `CRYPTOPIPE_BIN`, else Variable `cryptopipe_bin` | `cryptopipe` on `PATH` |
| symbols | param `symbols`, else env `CRYPTOPIPE_SYMBOLS` / Variable `crypto_symbols` (JSON list or comma-separated) | BTC, ETH, XRP on Bitstamp |
| provider | param `provider`, else env `CRYPTOPIPE_PROVIDER` / Variable `crypto_provider` | `bitstamp` |
| API base URL | env `CRYPTOPIPE_API_BASE` on the worker (read by cryptopipe itself) | the real APIs |
| table | params `table`, `schema` | `public.ohlcv` |
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import cryptopipe_dag_support as support
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG, CronDataIntervalTimetable, Param, task

PERIOD = timedelta(minutes=5)
PERIOD_ID = "5MIN"
DEFAULT_SYMBOLS = ["BITSTAMP_SPOT_BTC_USD", "BITSTAMP_SPOT_ETH_USD", "BITSTAMP_SPOT_XRP_USD"]
DEFAULT_PROVIDER = "bitstamp"

POSTGRES_ENV = {**support.settings_env(), **support.env_templates("postgres", "postgres_conn_id")}
PIPELINE_ENV = {**POSTGRES_ENV, **support.env_templates("coinapi", "coinapi_conn_id")}

CREATE_TABLE_COMMAND = (
    support.shell_prelude(support.POSTGRES_ENV)
    + '"$CRYPTOPIPE_BIN" load-postgres --create-only'
    + " --table {{ cryptopipe_quote(params.table) }} --schema {{ cryptopipe_quote(params.schema) }}\n"
)


def extract_transform_load_command(
    symbol: str, provider: str, window: support.RunWindow, table: str, schema: str
) -> str:
    """The bash script of one symbol's pipeline; its first line names the symbol (the map index)."""
    q = support.quote
    return (
        f"# {symbol}\n"
        + support.shell_prelude(support.POSTGRES_ENV + support.COINAPI_ENV + ("CRYPTOPIPE_API_BASE",))
        + support.PIPE_STATUS_FUNCTION
        + "set +e\n"
        + f'"$CRYPTOPIPE_BIN" extract --provider {q(provider)} --symbol {q(symbol)} --period {PERIOD_ID}'
        + f" --start {q(window.start_text)} --end {q(window.end_text)} \\\n"
        + '  | "$CRYPTOPIPE_BIN" transform \\\n'
        + f'  | "$CRYPTOPIPE_BIN" load-postgres --table {q(table)} --schema {q(schema)}\n'
        + 'statuses=("${PIPESTATUS[@]}")\n'
        + "set -e\n"
        + 'first_failure "${statuses[@]}"\n'
    )


with DAG(
    dag_id="crypto_prices",
    schedule=CronDataIntervalTimetable("*/5 * * * *", timezone="UTC"),
    start_date=datetime(2024, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=30),
    doc_md=__doc__,
    tags=["cryptopipe", "ohlcv", "postgres", "5min"],
    default_args=support.default_args(
        retry_delay=timedelta(seconds=30), max_retry_delay=timedelta(minutes=4), execution_timeout=timedelta(minutes=10)
    ),
    params={
        "symbols": Param(
            None,
            type=["null", "array"],
            items={"type": "string", "pattern": "^[A-Z0-9]+_[A-Z0-9]+_[A-Z0-9]+_[A-Z0-9]+$"},
            description="Symbol ids; empty uses Variable crypto_symbols, then BTC/ETH/XRP on Bitstamp.",
        ),
        "provider": Param(None, type=["null", "string"], enum=[None, *support.PROVIDERS]),
        "table": Param("ohlcv", type="string", pattern="^[A-Za-z_][A-Za-z0-9_]{0,62}$"),
        "schema": Param("public", type="string", pattern="^[A-Za-z_][A-Za-z0-9_]{0,62}$"),
        "postgres_conn_id": Param("crypto_postgres", type="string"),
        "coinapi_conn_id": Param("coinapi_default", type="string"),
    },
    user_defined_macros=support.MACROS,
) as dag:
    load_postgres_create_only = BashOperator(
        task_id="load_postgres_create_only",
        bash_command=CREATE_TABLE_COMMAND,
        env=POSTGRES_ENV,
        append_env=True,
    )

    @task
    def plan_symbols(params=None, dag_run=None) -> list[str]:
        """One extract | transform | load-postgres script per symbol, for this run's window."""
        symbols = support.checked_symbols(
            params.get("symbols")
            or support.setting_json("CRYPTOPIPE_SYMBOLS", "crypto_symbols", DEFAULT_SYMBOLS)
        )
        provider = support.checked_provider(
            params.get("provider") or support.setting("CRYPTOPIPE_PROVIDER", "crypto_provider", DEFAULT_PROVIDER)
        )
        table = support.checked_identifier("table", params["table"])
        schema = support.checked_identifier("schema", params["schema"])
        window = support.run_window(dag_run, PERIOD)
        return [extract_transform_load_command(s, provider, window, table, schema) for s in symbols]

    commands = plan_symbols()

    extract_transform_load_postgres = BashOperator.partial(
        task_id="extract_transform_load_postgres",
        env=PIPELINE_ENV,
        append_env=True,
        map_index_template="{{ task.bash_command.splitlines()[0].removeprefix('# ') }}",
    ).expand(bash_command=commands)

    load_postgres_create_only >> commands >> extract_transform_load_postgres


if __name__ == "__main__":
    dag.test()
