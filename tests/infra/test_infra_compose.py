"""docker/docker-compose.yml and docker/.env.example, checked without a Docker engine: the real Compose v2
(`docker compose config`), the Compose Specification JSON schema, dclint, and the wiring of every connection
and setting the DAGs read. The PostgreSQL init script runs against the harness's real server."""
from __future__ import annotations

import json
import re
import subprocess
import uuid

import pytest

from infra_tools import (DOCKER, ROOT, TEST_SECRETS, compose_config, dag_settings, env_example, infra_python,
                         node_module, run, terraform_outputs, tool)

COMPOSE = DOCKER / "docker-compose.yml"
AIRFLOW_SERVICES = {"airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"}


@pytest.fixture(scope="module")
def config() -> dict:
    res = compose_config()
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


# ---- the real Compose implementation ---------------------------------------------------------------

def test_compose_config_resolves_the_stack(config):
    assert set(config["services"]) == {"postgres", "airflow-init"} | AIRFLOW_SERVICES
    for name in {"airflow-init"} | AIRFLOW_SERVICES:
        service = config["services"][name]
        assert service["environment"]["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor", name
        assert service["build"]["dockerfile"] == "docker/Dockerfile", name
        assert service["build"]["context"] == str(ROOT), name
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy", name


def test_every_long_running_service_has_a_healthcheck_and_waits_for_init(config):
    for name in AIRFLOW_SERVICES | {"postgres"}:
        check = config["services"][name].get("healthcheck")
        assert check and check["test"] and not check.get("disable"), name
    for name in AIRFLOW_SERVICES:
        depends = config["services"][name]["depends_on"]
        assert depends["airflow-init"]["condition"] == "service_completed_successfully", name
    init = config["services"]["airflow-init"]
    assert init["environment"]["_AIRFLOW_DB_MIGRATE"] == "true"
    assert init["environment"]["_AIRFLOW_WWW_USER_CREATE"] == "true"
    assert init["restart"] == "no"


def test_services_share_one_metadata_db_and_one_jwt_secret(config):
    envs = [config["services"][n]["environment"] for n in {"airflow-init"} | AIRFLOW_SERVICES]
    for key in ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__CORE__FERNET_KEY"):
        assert len({e[key] for e in envs}) == 1, key
    assert envs[0]["AIRFLOW__CORE__FERNET_KEY"] == TEST_SECRETS["AIRFLOW_FERNET_KEY"]
    assert envs[0]["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].endswith("@postgres:5432/airflow")


def test_env_example_connections_resolve_to_valid_airflow_connections(config):
    env = config["services"]["airflow-scheduler"]["environment"]
    example = env_example()
    assert env["AIRFLOW_CONN_CRYPTO_POSTGRES"] == (
        f"postgresql://{example['CRYPTO_DB_USER']}:{example['CRYPTO_DB_PASSWORD']}@postgres:5432/"
        f"{example['CRYPTO_DB_NAME']}")
    aws = json.loads(env["AIRFLOW_CONN_AWS_DEFAULT"])  # JSON form: Airflow's own AWS convention
    assert aws["conn_type"] == "aws" and aws["extra"]["region_name"] == example["AWS_REGION"]


def test_aws_credentials_travel_only_inside_the_connection():
    res = compose_config({"AWS_ACCESS_KEY_ID": "AKIATESTTESTTEST", "AWS_SECRET_ACCESS_KEY": "s3cr3t/+key"})
    assert res.returncode == 0, res.stderr
    env = json.loads(res.stdout)["services"]["airflow-scheduler"]["environment"]
    aws = json.loads(env["AIRFLOW_CONN_AWS_DEFAULT"])
    assert (aws["login"], aws["password"]) == ("AKIATESTTESTTEST", "s3cr3t/+key")
    assert "AWS_SECRET_ACCESS_KEY" not in env


@pytest.mark.parametrize("secret", sorted(TEST_SECRETS))
def test_compose_refuses_to_start_without_each_required_secret(secret):
    res = compose_config({secret: ""})
    assert res.returncode != 0
    assert secret in res.stderr and "docker/.env" in res.stderr


def test_postgres_runs_the_init_script_and_reports_healthy_only_after_it(config):
    pg = config["services"]["postgres"]
    mounts = {(v["source"], v["target"]) for v in pg["volumes"]}
    assert (str(DOCKER / "postgres-init"), "/docker-entrypoint-initdb.d") in mounts
    test = " ".join(pg["healthcheck"]["test"])
    assert "-h 127.0.0.1" in test and "CRYPTO_DB_NAME" in test
    for port in pg.get("ports", []) + config["services"]["airflow-apiserver"].get("ports", []):
        assert port["host_ip"] == "127.0.0.1", port


_CONFIG_OPTIONS = r"""
import json, sys, yaml
config = yaml.safe_load(open(sys.argv[1]))
print(json.dumps({section: sorted(body.get("options", {})) for section, body in config.items()}))
"""


def test_every_airflow_setting_is_an_option_of_the_pinned_airflow(config):
    """AIRFLOW__SECTION__KEY names are checked against config.yml of the Airflow that CI installs (the
    version the image pins: test_infra_docker checks that), so a misspelt option cannot be silently ignored."""
    from importlib import metadata

    dist = metadata.distribution("apache-airflow-core")
    assert re.search(rf"^apache-airflow=={re.escape(dist.version)}\s*$",
                     (ROOT / "requirements-airflow.txt").read_text(), re.M), dist.version
    config_yml = dist.locate_file("airflow/config_templates/config.yml")
    res = infra_python(_CONFIG_OPTIONS, config_yml)
    assert res.returncode == 0, res.stderr
    options = json.loads(res.stdout)
    names = {k for s in config["services"].values() for k in s.get("environment", {}) if k.startswith("AIRFLOW__")}
    assert len(names) >= 8
    for name in sorted(names):
        section, key = name[len("AIRFLOW__"):].lower().split("__", 1)
        assert key in options.get(section, []), f"{name}: no option [{section}] {key} in Airflow {dist.version}"


# ---- the Compose Specification schema and dclint -------------------------------------------------------

_VALIDATE = r"""
import json, sys, yaml, jsonschema
schema = json.load(open(sys.argv[1]))
doc = yaml.safe_load(sys.stdin.read())
validator = jsonschema.Draft7Validator(schema)
print(json.dumps([f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]))
"""


def _schema_errors(text: str) -> list[str]:
    schema = node_module("dclint") / "schemas" / "compose.schema.json"
    res = infra_python(_VALIDATE, schema, input=text)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def test_compose_file_validates_against_the_compose_specification_schema():
    schema = json.loads((node_module("dclint") / "schemas" / "compose.schema.json").read_text())
    assert schema["title"] == "Compose Specification"
    assert _schema_errors(COMPOSE.read_text()) == []


def test_schema_check_is_live_it_rejects_a_wrong_compose_file():
    broken = COMPOSE.read_text().replace("condition: service_healthy", "condition: when_ready", 1)
    errors = _schema_errors(broken)
    assert errors and any("when_ready" in e for e in errors), errors


def test_dclint_reports_no_errors():
    res = run([tool("dclint"), COMPOSE, "--quiet", "--color", "false"], cwd=DOCKER)
    assert res.returncode == 0, res.stdout + res.stderr


# ---- .env.example and .env --------------------------------------------------------------------------

def test_env_example_documents_every_variable_compose_reads():
    used = set(re.findall(r"(?<!\$)\$\{([A-Z_][A-Z0-9_]*)", COMPOSE.read_text()))  # $$ escapes
    documented = set(env_example())
    assert used - documented == set(), "compose reads variables .env.example does not document"
    interpolated = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", (DOCKER / ".env.example").read_text()))
    assert documented - used - interpolated == set(), ".env.example documents variables nothing reads"
    text = (DOCKER / ".env.example").read_text()
    for name in documented:  # each one is explained by a comment above it (possibly shared by a group)
        assert re.search(rf"#[^\n]*\n(?:[^\n]*\n)*?{name}=", text), name


def test_env_example_holds_no_real_secret():
    example = env_example()
    for name in ("AIRFLOW_FERNET_KEY", "AIRFLOW_JWT_SECRET", "AIRFLOW_API_SECRET_KEY", "AIRFLOW_ADMIN_PASSWORD",
                 "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "COINAPI_KEY"):
        assert example[name] == "", name
    for name in ("AIRFLOW_DB_PASSWORD", "CRYPTO_DB_PASSWORD"):
        assert example[name].startswith("change-me"), name


def test_dot_env_is_git_ignored_and_the_example_is_not():
    ignored = subprocess.run(["git", "check-ignore", "-q", "docker/.env"], cwd=ROOT)
    assert ignored.returncode == 0, "docker/.env must be git-ignored"
    example = subprocess.run(["git", "check-ignore", "-q", "docker/.env.example"], cwd=ROOT)
    assert example.returncode == 1, "docker/.env.example must not be ignored"


# ---- what the DAGs read is what the stack provides ------------------------------------------------------

def test_every_dag_connection_comes_from_env(config):
    settings = dag_settings()
    assert {"crypto_postgres", "aws_default", "redshift_default"} <= settings.conn_ids
    env = config["services"]["airflow-scheduler"]["environment"]
    example = env_example()
    for conn_id in settings.conn_ids:
        name = f"AIRFLOW_CONN_{conn_id.upper()}"
        assert name in env and name in example, name


def test_every_dag_setting_is_wired_through_compose_or_terraform(config):
    """Each (env, Variable) setting a DAG reads is set by compose from .env, or by the image, or is a
    terraform output that the README tells to paste as that Variable."""
    settings = dag_settings().settings
    assert ("CRYPTOPIPE_S3_BUCKET", "crypto_s3_bucket") in settings
    env = config["services"]["airflow-scheduler"]["environment"]
    image_env = set(re.findall(r"^ENV\s+([A-Z_][A-Z0-9_]*)=", (DOCKER / "Dockerfile").read_text(), re.M))
    outputs = terraform_outputs()
    for env_name, variable in sorted(settings):
        wired = (env_name in env and env_name in env_example()) or env_name in image_env
        assert wired or variable in outputs, f"{env_name} / Variable {variable}: nothing sets it"
    for env_name, variable in settings:
        if variable in outputs:  # a value terraform creates: both routes exist
            assert env_name in env_example(), env_name


# ---- the PostgreSQL init script, against a real server ------------------------------------------------

def test_init_script_creates_both_databases_owned_by_the_crypto_role(pg, cryptopipe_bin):
    suffix = uuid.uuid4().hex[:8]
    user, db, warehouse = f"crypto_{suffix}", f"crypto_{suffix}", f"warehouse_{suffix}"
    env = {**pg.env("postgres"), "POSTGRES_USER": pg.user, "POSTGRES_DB": "postgres",
           "CRYPTO_DB_USER": user, "CRYPTO_DB_NAME": db, "CRYPTO_WAREHOUSE_DB_NAME": warehouse,
           "CRYPTO_DB_PASSWORD": "it's a \"secret\""}
    res = run(["bash", DOCKER / "postgres-init" / "10-crypto-db.sh"], env=env, timeout=60)
    try:
        assert res.returncode == 0, res.stderr
        assert "it's a" not in res.stdout + res.stderr
        owners = dict(pg.query("postgres", f"SELECT datname, pg_get_userbyid(datdba) FROM pg_database "
                                           f"WHERE datname IN ('{db}', '{warehouse}')"))
        assert owners == {db: user, warehouse: user}
        assert pg.query("postgres", f"SELECT rolcanlogin, rolsuper FROM pg_roles WHERE rolname = '{user}'") == [
            ("t", "f")]
        # The DAG's first task, as the crypto role: the table can be created in that database.
        out = run([cryptopipe_bin, "load-postgres", "--create-only"],
                  env={**pg.env(db), "PGUSER": user}, timeout=60)
        assert out.returncode == 0, out.stderr
        assert pg.query(db, "SELECT tableowner FROM pg_tables WHERE tablename = 'ohlcv'") == [(user,)]
    finally:
        for name in (db, warehouse):
            pg.query("postgres", f'DROP DATABASE IF EXISTS "{name}"')
        pg.query("postgres", f'DROP ROLE IF EXISTS "{user}"')


def test_init_script_refuses_to_run_without_a_password(pg):
    env = {**pg.env("postgres"), "POSTGRES_USER": pg.user, "CRYPTO_DB_USER": "never_created"}
    res = run(["bash", DOCKER / "postgres-init" / "10-crypto-db.sh"], env=env, timeout=60)
    assert res.returncode != 0 and "CRYPTO_DB_PASSWORD" in res.stderr
    assert pg.query("postgres", "SELECT count(*) FROM pg_roles WHERE rolname = 'never_created'") == [("0",)]
