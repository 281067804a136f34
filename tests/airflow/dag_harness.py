"""Helpers for the Airflow DAG tests: a real Airflow 3 with its own AIRFLOW_HOME and SQLite metadata DB.

Airflow reads its configuration once, at import, so it never runs inside the pytest process: every Airflow
step is a subprocess (`airflow …` or `python -c …`) with an environment built here from scratch — the
caller's PG*, AWS_* or AIRFLOW_* variables never leak in.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DAGS = ROOT / "dags"
VENV_BIN = Path(sys.executable).parent
AIRFLOW = VENV_BIN / "airflow"


class AirflowEnv:
    """An initialised AIRFLOW_HOME; `run` executes the airflow CLI, `python` a script, both with `env` on top."""

    def __init__(self, home: Path):
        self.home = home
        self.base = {
            "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '/usr/local/bin:/usr/bin:/bin')}",
            "HOME": os.environ.get("HOME", "/root"),
            "LANG": "C.UTF-8",
            "TZ": "UTC",
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
            "AIRFLOW__CORE__DAGBAG_IMPORT_ERROR_TRACEBACKS": "True",
            # Silences "Could not import graphviz" on every CLI call; nothing here draws graphs.
            "PYTHONWARNINGS": "ignore::UserWarning",
        }
        if "TMPDIR" in os.environ:
            self.base["TMPDIR"] = os.environ["TMPDIR"]

    def env(self, extra: dict | None = None) -> dict:
        env = dict(self.base)
        if extra:
            env.update({k: str(v) for k, v in extra.items() if v is not None})
        return env

    def run(self, *args, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run([str(AIRFLOW), *map(str, args)], env=self.env(env), capture_output=True, text=True,
                              timeout=timeout, cwd=self.home, stdin=subprocess.DEVNULL)

    def python(self, code: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", code], env=self.env(env), capture_output=True, text=True,
                              timeout=timeout, cwd=self.home, stdin=subprocess.DEVNULL)

    def sql(self, query: str, params: tuple = ()) -> list[tuple]:
        """Rows from the SQLite metadata DB (read directly: the test inspects what Airflow recorded)."""
        import sqlite3

        with sqlite3.connect(self.home / "airflow.db") as db:
            return db.execute(query, params).fetchall()


def postgres_conn(pg, dbname: str, password: str) -> str:
    """An AIRFLOW_CONN_* value (JSON form) for the harness PostgreSQL; trust auth ignores the password."""
    return json.dumps({"conn_type": "postgres", "host": pg.host, "port": pg.port, "login": pg.user,
                       "password": password, "schema": dbname})


def aws_conn(moto, secret_override: str | None = None) -> str:
    """An `aws_default` as the Amazon provider stores it: keys in login/password, region and endpoint in extra."""
    return json.dumps({"conn_type": "aws", "login": moto.access_key_id,
                       "password": secret_override or moto.secret_access_key,
                       "extra": {"region_name": moto.region, "endpoint_url": moto.endpoint}})
