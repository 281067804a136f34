"""Shared pieces of the cryptopipe DAGs: settings, connection env, run windows, shell snippets.

Not a DAG (listed in `.airflowignore`); both DAG files import it from the dags folder, which
Airflow puts on `sys.path`.

Everything here that reads a Variable or a Connection runs at task run time (as a Jinja macro or
inside a task), never at parse time, so parsing stays cheap and a changed connection takes effect
on the next try without re-parsing.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.sdk import RetryDecision, RetryPolicy

# --- Exit codes (the cryptopipe CLI contract) ----------------------------------------------------

# usage/config error, bad input data, remote refused: retrying cannot help. 5 (transient) and 1 are
# left to the task's retries.
EXIT_FAIL_FAST = frozenset({2, 3, 4})

_BASH_EXIT_CODE = re.compile(r"non-zero exit code (\d+)")


class CryptopipeExitCodePolicy(RetryPolicy):
    """Retries exit 5 (transient) and unknown failures; fails at once on exit 2, 3 and 4.

    BashOperator reports a failed command as `AirflowException("... non-zero exit code N.")`;
    the code is read back from that message. The command's own one-line error is already in
    the task log above it.
    """

    def evaluate(self, exception, try_number, max_tries, context=None) -> RetryDecision:
        match = _BASH_EXIT_CODE.search(str(exception))
        if match and int(match.group(1)) in EXIT_FAIL_FAST:
            code = int(match.group(1))
            return RetryDecision.fail(reason=f"cryptopipe exit code {code} is permanent; not retrying")
        return RetryDecision.default()

    def serialize(self) -> dict[str, Any]:
        return {"__type": "CryptopipeExitCodePolicy"}

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> CryptopipeExitCodePolicy:
        return cls()


def default_args(retry_delay: timedelta, max_retry_delay: timedelta, execution_timeout: timedelta) -> dict[str, Any]:
    """Task defaults shared by both DAGs: retries with exponential backoff, fail fast on 2/3/4.

    `execution_timeout` bounds a hung try (cryptopipe has its own deadlines; this is the backstop).
    Env `CRYPTOPIPE_RETRY_DELAY_SECONDS`, read when the DAG is parsed, overrides the first retry's delay.
    """
    override = os.environ.get("CRYPTOPIPE_RETRY_DELAY_SECONDS", "").strip()
    if override:
        retry_delay = timedelta(seconds=float(override))
    return {
        "owner": "data-engineering",
        "execution_timeout": execution_timeout,
        "retries": 3,
        "retry_delay": retry_delay,
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": max_retry_delay,
        "retry_policy": CryptopipeExitCodePolicy(),
    }


# --- Settings: environment first, then an Airflow Variable, then a default -----------------------


def _is_not_found(error: Exception) -> bool:
    """True for the SDK's "no such Variable/Connection" errors; anything else (API down...) is re-raised."""
    from airflow.sdk.exceptions import AirflowNotFoundException, AirflowRuntimeError, ErrorType

    if isinstance(error, (AirflowNotFoundException, KeyError)):
        return True
    return isinstance(error, AirflowRuntimeError) and error.error.error in (
        ErrorType.VARIABLE_NOT_FOUND,
        ErrorType.CONNECTION_NOT_FOUND,
    )


def setting(env_name: str, variable_name: str, default: str = "") -> str:
    """The worker's env var `env_name` if set, else Variable `variable_name`, else `default`.

    Reads the Variable without `default=`: the SDK masks a Variable's default as a secret, which
    would turn every "cryptopipe" in the task log into "***".
    """
    value = os.environ.get(env_name)
    if value:
        return value
    from airflow.sdk import Variable

    try:
        return str(Variable.get(variable_name))
    except Exception as error:  # noqa: BLE001 - only "not found" falls back, the rest re-raises
        if _is_not_found(error):
            return default
        raise


def setting_json(env_name: str, variable_name: str, default: Any) -> Any:
    """Like `setting`, for a JSON value (a list of symbols); an empty value gives `default`."""
    text = setting(env_name, variable_name, "")
    if not text.strip():
        return default
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        # Also accept a plain "A,B C" list, the form the cron wrapper reads.
        return [item for item in re.split(r"[,\s]+", text) if item]


# --- Connections rendered into task env ----------------------------------------------------------

POSTGRES_ENV = ("PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE")
AWS_ENV = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL_S3",
)
COINAPI_ENV = ("COINAPI_KEY",)


def _extra(connection: Any) -> dict[str, Any]:
    # Parsed here rather than with `extra_dejson`, which masks every extra value (the region
    # and endpoint included) in the logs; the one secret among them is masked explicitly below.
    raw = getattr(connection, "extra", None) or ""
    if isinstance(raw, dict):
        return raw
    try:
        parsed = json.loads(raw) if raw else {}
    except json.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def postgres_env_from_connection(connection: Any) -> dict[str, str]:
    """PG* variables libpq reads, from an Airflow Postgres or Redshift connection (schema = database)."""
    return {
        "PGHOST": connection.host or "",
        "PGPORT": str(connection.port or ""),
        "PGUSER": connection.login or "",
        "PGPASSWORD": connection.password or "",
        "PGDATABASE": connection.schema or "",
    }


def aws_env_from_connection(connection: Any | None) -> dict[str, str]:
    """AWS_* variables from an Airflow AWS connection, following the Amazon provider's convention.

    login = access key id, password = secret key, extra `region_name`, `endpoint_url` (or
    `service_config.s3.endpoint_url`), `aws_session_token`. A missing connection gives empty
    values, which the task's shell prelude unsets so the worker's own AWS setup applies.
    """
    if connection is None:
        return {name: "" for name in AWS_ENV}
    extra = _extra(connection)
    s3_config = (extra.get("service_config") or {}).get("s3") or {}
    endpoint = s3_config.get("endpoint_url") or extra.get("endpoint_url") or ""
    region = extra.get("region_name") or extra.get("region") or ""
    token = extra.get("aws_session_token") or ""
    if token:
        from airflow.sdk.log import mask_secret

        mask_secret(token)
    return {
        "AWS_ACCESS_KEY_ID": connection.login or "",
        "AWS_SECRET_ACCESS_KEY": connection.password or "",
        "AWS_SESSION_TOKEN": token,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_ENDPOINT_URL_S3": endpoint,
    }


def coinapi_env_from_connection(connection: Any | None) -> dict[str, str]:
    """COINAPI_KEY from the connection's password; empty (then unset) without a connection."""
    return {"COINAPI_KEY": (connection.password or "") if connection is not None else ""}


_KINDS = {
    "postgres": (postgres_env_from_connection, True),
    "aws": (aws_env_from_connection, False),
    "coinapi": (coinapi_env_from_connection, False),
}


def connection_env(conn_id: str, kind: str) -> dict[str, str]:
    """Env variables for connection `conn_id` of `kind`; raises if a required connection is missing."""
    from airflow.sdk import Connection

    convert, required = _KINDS[kind]
    try:
        connection = Connection.get(conn_id)
    except Exception as error:  # noqa: BLE001 - only "not found" of an optional connection passes
        if required or not _is_not_found(error):
            raise
        connection = None
    return convert(connection)


def env_templates(kind: str, conn_id_param: str) -> dict[str, str]:
    """Jinja templates that render connection `params.<conn_id_param>` into env at run time."""
    names = {"postgres": POSTGRES_ENV, "aws": AWS_ENV, "coinapi": COINAPI_ENV}[kind]
    return {
        name: f"{{{{ cryptopipe_connection_env(params.{conn_id_param}, '{kind}')['{name}'] }}}}"
        for name in names
    }


def settings_env() -> dict[str, str]:
    """Jinja templates for the non-secret settings every task reads."""
    return {
        "CRYPTOPIPE_BIN": "{{ cryptopipe_setting('CRYPTOPIPE_BIN', 'cryptopipe_bin', 'cryptopipe') }}",
    }


def shell_prelude(unset_if_empty: tuple[str, ...]) -> str:
    """Shell lines that start every task: strict mode, and unset env a connection left empty.

    An empty PGPASSWORD or AWS_ACCESS_KEY_ID is not the same as an absent one (libpq and the
    AWS credential chain would take the empty value), so those are removed before any command.
    """
    names = " ".join(unset_if_empty)
    return (
        "set -euo pipefail\n"
        f'for name in {names}; do [ -n "${{!name:-}}" ] || unset "$name"; done\n'
    )


# Runs a pipeline and exits with its root cause: the first stage that failed other than by
# SIGPIPE. Bash's `pipefail` would report the LAST failing stage instead, so an extract that
# gave up with 5 (retry) could surface as transform's 3 (fail fast).
PIPE_STATUS_FUNCTION = """\
first_failure() {
  local code sigpipe=0
  for code in "$@"; do
    if [ "$code" -eq 141 ]; then sigpipe=141
    elif [ "$code" -ne 0 ]; then return "$code"; fi
  done
  return "$sigpipe"
}
"""


# --- Run windows ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunWindow:
    """The half-open interval [start, end) a run covers, in UTC."""

    start: datetime
    end: datetime

    @property
    def start_text(self) -> str:
        return _rfc3339(self.start)

    @property
    def end_text(self) -> str:
        return _rfc3339(self.end)

    @property
    def day(self) -> str:
        """The UTC day the window starts on, `YYYY-MM-DD` (the daily export's partition)."""
        return self.start.astimezone(timezone.utc).strftime("%Y-%m-%d")


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def last_closed_window(now: datetime, period: timedelta) -> RunWindow:
    """The last whole period (aligned on the UTC epoch) that ended at or before `now`."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
    periods = (now - epoch) // period
    end = epoch + periods * period
    return RunWindow(end - period, end)


def run_window(dag_run: Any, period: timedelta) -> RunWindow:
    """The run's data interval; for a manual run without one, the last closed period before it.

    Airflow 3 gives manually triggered runs with no logical date no data interval at all.
    """
    start = getattr(dag_run, "data_interval_start", None)
    end = getattr(dag_run, "data_interval_end", None)
    if start is not None and end is not None and end > start:
        return RunWindow(start, end)
    return last_closed_window(getattr(dag_run, "run_after", None) or datetime.now(timezone.utc), period)


# --- Validation of values that reach a shell command ---------------------------------------------

_SYMBOL = re.compile(r"^[A-Z0-9]+_[A-Z0-9]+_[A-Z0-9]+_[A-Z0-9]+$")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
PROVIDERS = ("bitstamp", "coinapi")


def checked_symbols(symbols: Any) -> list[str]:
    """The symbol ids as a list, each like `BITSTAMP_SPOT_BTC_USD`; raises ValueError otherwise."""
    if isinstance(symbols, str):
        symbols = [item for item in re.split(r"[,\s]+", symbols) if item]
    if not isinstance(symbols, list) or not symbols:
        raise ValueError(f"symbols: expected a non-empty list of symbol ids, got {symbols!r}")
    bad = [s for s in symbols if not isinstance(s, str) or not _SYMBOL.match(s)]
    if bad:
        raise ValueError(f"symbols: not a symbol id like BITSTAMP_SPOT_BTC_USD: {bad!r}")
    return list(dict.fromkeys(symbols))


def checked_provider(provider: str) -> str:
    if provider not in PROVIDERS:
        raise ValueError(f"provider: expected one of {', '.join(PROVIDERS)}, got {provider!r}")
    return provider


def checked_identifier(what: str, name: str) -> str:
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        raise ValueError(f"{what}: not a plain SQL identifier: {name!r}")
    return name


def quote(value: str) -> str:
    return shlex.quote(value)


# Macros every cryptopipe DAG registers (`user_defined_macros`).
MACROS = {
    "cryptopipe_setting": setting,
    "cryptopipe_connection_env": connection_env,
    "cryptopipe_run_window": run_window,
    "cryptopipe_quote": quote,
}
