"""Fixtures for the Airflow DAG tests (helpers in dag_harness.py: this file must not be imported by name, the
root tests/conftest.py is also called `conftest`)."""
from __future__ import annotations

import pytest

from dag_harness import AIRFLOW, AirflowEnv


@pytest.fixture(scope="session")
def airflow(tmp_path_factory) -> AirflowEnv:
    """An initialised AIRFLOW_HOME (SQLite metadata DB, examples off) shared by all Airflow tests."""
    if not AIRFLOW.exists():
        pytest.fail(f"airflow CLI not found at {AIRFLOW}: run scripts/setup.sh (installs requirements-airflow.txt)")
    env = AirflowEnv(tmp_path_factory.mktemp("airflow-home"))
    res = env.run("db", "migrate", timeout=300)
    assert res.returncode == 0, f"airflow db migrate failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return env
