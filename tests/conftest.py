"""Shared pytest fixtures: real services started by the harness itself, never mocks.

- cryptopipe_bin: path of the built CLI (env CRYPTOPIPE_BIN or build/cryptopipe); fails the test if missing.
- cli: run_cli(args, env=None, input=None, timeout=120) -> CompletedProcess (text); env merged onto a clean base env
  (PATH, HOME, LANG, TZ=UTC only: no PG*, AWS_*, COINAPI_KEY leak in from the caller).
- pg (session): a real PostgreSQL (initdb in a temp dir, as the `postgres` OS user when running as root, free port
  on 127.0.0.1, trust auth, TimeZone=UTC). host, port, user, dsn(db), env(db), create_db(name), query(db, sql),
  stop(mode), start(), bindir, datadir.
- replay (session): tests/replay/replay_server.py in a subprocess. url, coinapi_key, reset(), set_faults(list),
  configure(**cfg), requests(), fixture_candles(...) (see replay_server.py). `replay_clean` resets it first.
- moto (session): moto standalone server with signature checking ON (INITIAL_NO_AUTH_ACTION_COUNT covers only the
  IAM setup calls); endpoint, env(), s3 (boto3 client with the IAM user's key), create_bucket(name).
Nothing is skipped silently: a service that cannot start is an error.
"""
from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REPLAY_DIR = ROOT / "tests" / "replay"
if str(REPLAY_DIR) not in sys.path:
    sys.path.insert(0, str(REPLAY_DIR))

import replay_server  # noqa: E402  (tests/replay, stdlib only)
from harness import base_env, binary_path, free_port, run_cli, wait_for_port  # noqa: E402,F401


# ------------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def cryptopipe_bin() -> Path:
    path = binary_path()
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"cryptopipe binary not found at {path}: build it with "
                    f"`cmake -S . -B build && cmake --build build -j2` (or set CRYPTOPIPE_BIN)")
    return path


@pytest.fixture
def cli(cryptopipe_bin):
    def _run(args, env=None, input=None, timeout=120):
        return run_cli(args, env=env, input=input, timeout=timeout, binary=cryptopipe_bin)
    return _run


# ------------------------------------------------------------------------------------------------
# PostgreSQL
# ------------------------------------------------------------------------------------------------

def _pg_bindir() -> Path:
    candidates = []
    if os.environ.get("PG_BINDIR"):
        candidates.append(Path(os.environ["PG_BINDIR"]))
    try:
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True).stdout.strip()
        candidates.append(Path(out))
    except (OSError, subprocess.CalledProcessError):
        pass

    def version(p: Path) -> float:
        try:
            return float(p.parent.name)
        except ValueError:
            return 0.0
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True)
    for c in candidates:
        if (c / "initdb").exists() and (c / "pg_ctl").exists():
            return c
    raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) not found: install the `postgresql` "
                       "package (scripts/setup.sh does)")


class PgServer:
    """A throwaway PostgreSQL cluster owned by this test session."""

    user = "postgres"
    host = "127.0.0.1"

    def __init__(self):
        self.bindir = _pg_bindir()
        self.as_root = os.geteuid() == 0
        self.tmp = Path(tempfile.mkdtemp(prefix="cryptopipe-pg-"))
        self.datadir = self.tmp / "data"
        self.sockdir = self.tmp / "sock"
        self.logfile = self.tmp / "postgres.log"
        self.sockdir.mkdir()
        if self.as_root:  # initdb refuses to run as root: the cluster belongs to the postgres OS user
            pw = pwd.getpwnam("postgres")
            for p in (self.tmp, self.sockdir):
                os.chown(p, pw.pw_uid, pw.pw_gid)
        os.chmod(self.tmp, 0o700)
        self.port = 0
        self._db_counter = 0
        self._run([self.bindir / "initdb", "-D", self.datadir, "-U", self.user, "-A", "trust", "-E", "UTF8",
                   "--no-locale", "--no-sync"])

    def _run(self, argv, check=True, timeout=120, **kw) -> subprocess.CompletedProcess:
        argv = [str(a) for a in argv]
        if self.as_root:
            argv = ["runuser", "-u", "postgres", "--"] + argv
        res = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=self.tmp, **kw)
        if check and res.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed ({res.returncode}): {res.stderr.strip()}\n"
                               f"{self.log_tail()}")
        return res

    def log_tail(self, n=30) -> str:
        try:
            return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def start(self) -> None:
        """Start (or restart) the server; keeps its port across restarts."""
        last = None
        for _ in range(3):
            port = self.port or free_port()
            opts = (f"-c listen_addresses=127.0.0.1 -p {port} -k {self.sockdir} -c fsync=off "
                    f"-c synchronous_commit=off -c full_page_writes=off -c max_connections=200 "
                    f"-c timezone=UTC -c log_timezone=UTC")
            res = self._run([self.bindir / "pg_ctl", "-D", self.datadir, "-l", self.logfile, "-w", "-t", "60",
                             "-o", opts, "start"], check=False)
            if res.returncode == 0:
                self.port = port
                return
            last = res
            if self.port:  # a fixed port that failed: do not wander to another one
                break
        raise RuntimeError(f"PostgreSQL did not start: {last.stderr.strip() if last else ''}\n{self.log_tail()}")

    def stop(self, mode: str = "fast") -> None:
        self._run([self.bindir / "pg_ctl", "-D", self.datadir, "-m", mode, "-w", "stop"], check=False)

    def is_running(self) -> bool:
        return self._run([self.bindir / "pg_ctl", "-D", self.datadir, "status"], check=False).returncode == 0

    def dsn(self, dbname: str = "postgres") -> str:
        return f"host={self.host} port={self.port} user={self.user} dbname={dbname}"

    def env(self, dbname: str = "postgres") -> dict:
        return {"PGHOST": self.host, "PGPORT": str(self.port), "PGUSER": self.user, "PGDATABASE": dbname}

    def create_db(self, name: str = "test") -> str:
        """Create a fresh, empty database and return its name (`name`, or `name_N` if taken)."""
        base = re.sub(r"[^a-z0-9_]", "_", name.lower())[:50] or "test"
        existing = {r[0] for r in self.query("postgres", "SELECT datname FROM pg_database")}
        db = base
        while db in existing:
            self._db_counter += 1
            db = f"{base}_{self._db_counter}"
        self.query("postgres", f'CREATE DATABASE "{db}"')
        return db

    def query(self, dbname: str, sql: str) -> list[tuple]:
        """Run SQL through psql; rows as tuples of text (NULL -> None). Raises on any SQL error."""
        psql = self.bindir / "psql" if (self.bindir / "psql").exists() else "psql"
        null = "\x02NULL\x02"
        argv = [str(psql), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-F", "\x1f", "-R", "\x1e",
                "-P", f"null={null}", "-h", self.host, "-p", str(self.port), "-U", self.user, "-d", dbname,
                "-c", sql]
        res = subprocess.run(argv, capture_output=True, text=True, timeout=120,
                             env=base_env({"PGTZ": "UTC", "PGCLIENTENCODING": "UTF8"}))
        if res.returncode != 0:
            raise RuntimeError(f"psql on {dbname}: {res.stderr.strip()}")
        out = res.stdout
        if out.endswith("\n"):
            out = out[:-1]
        if not out:
            return []
        return [tuple(None if f == null else f for f in rec.split("\x1f")) for rec in out.split("\x1e")]

    def destroy(self) -> None:
        if self.port:
            self.stop("immediate")
        shutil.rmtree(self.tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def pg():
    server = PgServer()
    try:
        server.start()
        yield server
    finally:
        server.destroy()


# ------------------------------------------------------------------------------------------------
# Replay API server
# ------------------------------------------------------------------------------------------------

class ReplayProcess:
    def __init__(self, coinapi_key: str):
        self.coinapi_key = coinapi_key
        self.tmp = Path(tempfile.mkdtemp(prefix="cryptopipe-replay-"))
        port_file = self.tmp / "port"
        self.log = open(self.tmp / "replay.log", "w+")
        self.proc = subprocess.Popen(
            [sys.executable, str(REPLAY_DIR / "replay_server.py"), "--port", "0", "--port-file", str(port_file),
             "--coinapi-key", coinapi_key], stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while not port_file.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"replay server did not start: {self._log_text()}")
            time.sleep(0.05)
        self.port = int(port_file.read_text())
        self.url = f"http://127.0.0.1:{self.port}"
        self.fixture_candles = replay_server.fixture_candles
        self.module = replay_server

    def _log_text(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read()[-2000:]

    def _admin(self, method: str, path: str, payload=None):
        data = json.dumps(payload).encode() if payload is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def reset(self) -> None:
        self._admin("POST", "/__admin/reset", {})

    def set_faults(self, faults: list, path_prefix: str = "") -> None:
        self._admin("POST", "/__admin/faults", {"faults": faults, "path_prefix": path_prefix})

    def configure(self, **cfg) -> None:
        self._admin("POST", "/__admin/config", cfg)

    def requests(self) -> list[dict]:
        return self._admin("GET", "/__admin/requests")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def replay():
    proc = ReplayProcess(coinapi_key="replay-key-" + os.urandom(8).hex())
    try:
        yield proc
    finally:
        proc.close()


@pytest.fixture
def replay_clean(replay):
    replay.reset()
    yield replay
    replay.reset()


# ------------------------------------------------------------------------------------------------
# moto (S3) with signature checking on
# ------------------------------------------------------------------------------------------------

MOTO_SETUP_ACTIONS = 4  # create_user, create_policy, attach_user_policy, create_access_key


class MotoServer:
    region = "us-east-1"

    def __init__(self):
        import boto3  # noqa: imported here so non-S3 test runs need no boto3 at import time
        from botocore.config import Config
        from botocore.exceptions import ClientError

        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.tmp = Path(tempfile.mkdtemp(prefix="cryptopipe-moto-"))
        exe = Path(sys.executable).with_name("moto_server")
        argv = [str(exe)] if exe.exists() else [sys.executable, "-m", "moto.server"]
        env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT=str(MOTO_SETUP_ACTIONS))
        for k in list(env):
            if k.startswith("AWS_"):
                del env[k]
        self.log = open(self.tmp / "moto.log", "w+")
        self.proc = subprocess.Popen(argv + ["-H", "127.0.0.1", "-p", str(self.port)], env=env,
                                     stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            wait_for_port(self.port, 30, self.proc)  # a bare TCP connect: no request counts as an action
        except RuntimeError as e:
            self.close()
            raise RuntimeError(f"moto_server did not start: {e}: {self._log_text()}")

        cfg = Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"})
        # The first MOTO_SETUP_ACTIONS calls are unauthenticated (moto lets them through); any key works.
        iam = boto3.client("iam", endpoint_url=self.endpoint, region_name=self.region, config=cfg,
                           aws_access_key_id="AKIASETUPSETUPSETUP0", aws_secret_access_key="setup")
        iam.create_user(UserName="cryptopipe-test")
        policy = iam.create_policy(PolicyName="cryptopipe-test-s3", PolicyDocument=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": ["s3:*"], "Resource": "*"}]}))
        iam.attach_user_policy(UserName="cryptopipe-test", PolicyArn=policy["Policy"]["Arn"])
        key = iam.create_access_key(UserName="cryptopipe-test")["AccessKey"]
        self.access_key_id = key["AccessKeyId"]
        self.secret_access_key = key["SecretAccessKey"]

        # Prove signature checking is on: the same key id with a wrong secret must be refused.
        wrong = boto3.client("s3", endpoint_url=self.endpoint, region_name=self.region, config=cfg,
                             aws_access_key_id=self.access_key_id,
                             aws_secret_access_key=self.secret_access_key[:-4] + "XXXX")
        try:
            wrong.list_buckets()
        except ClientError as e:
            code = e.response.get("Error", {}).get("Code")
            if code not in ("SignatureDoesNotMatch", "InvalidAccessKeyId", "AccessDenied", "403"):
                raise RuntimeError(f"moto refused a wrong secret with an unexpected error: {code}")
        else:
            self.close()
            raise RuntimeError("moto accepted a request signed with a wrong secret: signature checking is off")

        self.s3 = boto3.client("s3", endpoint_url=self.endpoint, region_name=self.region, config=cfg,
                               aws_access_key_id=self.access_key_id, aws_secret_access_key=self.secret_access_key)
        self.s3.list_buckets()  # and the right secret is accepted

    def _log_text(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read()[-2000:]

    def env(self) -> dict:
        return {"AWS_ACCESS_KEY_ID": self.access_key_id, "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
                "AWS_REGION": self.region, "AWS_ENDPOINT_URL_S3": self.endpoint}

    def create_bucket(self, name: str) -> str:
        self.s3.create_bucket(Bucket=name)
        return name

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def moto():
    server = MotoServer()
    try:
        yield server
    finally:
        server.close()
