"""The servers the bench starts for itself: a throwaway PostgreSQL cluster and a moto S3 server.

Same recipe as the test harness (tests/conftest.py: initdb as the `postgres` OS user when root, trust auth, free port on
127.0.0.1, TimeZone UTC), without pytest, so the bench runs from its own venv. Port helpers come from
tests/replay/harness.py (stdlib only).
"""
from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "replay"))
from harness import base_env, free_port, wait_for_port  # noqa: E402


def pg_bindir() -> Path:
    candidates = [Path(os.environ["PG_BINDIR"])] if os.environ.get("PG_BINDIR") else []
    try:
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True).stdout.strip()
        candidates.append(Path(out))
    except (OSError, subprocess.CalledProcessError):
        pass
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: p.parent.name, reverse=True)
    for c in candidates:
        if (c / "initdb").exists() and (c / "pg_ctl").exists():
            return c
    raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) not found: install `postgresql` "
                       "(scripts/setup.sh does)")


class Postgres:
    user = "postgres"
    host = "127.0.0.1"

    def __init__(self, workdir: Path):
        self.bindir = pg_bindir()
        self.as_root = os.geteuid() == 0
        self.tmp = Path(tempfile.mkdtemp(prefix="bench-pg-", dir=workdir))
        self.datadir = self.tmp / "data"
        self.sockdir = self.tmp / "sock"
        self.logfile = self.tmp / "postgres.log"
        self.sockdir.mkdir()
        if self.as_root:  # initdb refuses root: the cluster belongs to the postgres OS user
            pw = pwd.getpwnam("postgres")
            for p in (self.tmp, self.sockdir):
                os.chown(p, pw.pw_uid, pw.pw_gid)
        os.chmod(self.tmp, 0o711)
        self.port = 0
        self._run([self.bindir / "initdb", "-D", self.datadir, "-U", self.user, "-A", "trust", "-E", "UTF8",
                   "--no-locale", "--no-sync"])

    def _run(self, argv, check=True):
        argv = [str(a) for a in argv]
        if self.as_root:
            argv = ["runuser", "-u", "postgres", "--"] + argv
        res = subprocess.run(argv, capture_output=True, text=True, timeout=300, cwd=self.tmp)
        if check and res.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed ({res.returncode}): {res.stderr.strip()}")
        return res

    def start(self) -> None:
        self.port = free_port()
        # Durability off, as in the test harness: every tool pays the same, and the bench measures the client side.
        opts = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.sockdir} -c fsync=off "
                f"-c synchronous_commit=off -c full_page_writes=off -c shared_buffers=256MB "
                f"-c max_wal_size=4GB -c timezone=UTC -c log_timezone=UTC")
        self._run([self.bindir / "pg_ctl", "-D", self.datadir, "-l", self.logfile, "-w", "-t", "60", "-o", opts,
                   "start"])

    def env(self, dbname: str) -> dict:
        return {"PGHOST": self.host, "PGPORT": str(self.port), "PGUSER": self.user, "PGDATABASE": dbname}

    def psql(self, dbname: str, sql: str) -> str:
        """Runs SQL through psql; unaligned tuples-only output. Raises on any SQL error."""
        res = subprocess.run([str(self.bindir / "psql") if (self.bindir / "psql").exists() else "psql", "-X", "-q",
                              "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql],
                             capture_output=True, text=True, timeout=600, env=base_env(self.env(dbname)))
        if res.returncode != 0:
            raise RuntimeError(f"psql on {dbname}: {res.stderr.strip()}")
        return res.stdout.strip()

    def close(self) -> None:
        if self.port:
            self._run([self.bindir / "pg_ctl", "-D", self.datadir, "-m", "immediate", "-w", "stop"], check=False)
        shutil.rmtree(self.tmp, ignore_errors=True)


class Moto:
    """moto's standalone S3 server (from the main venv: .venv/bin/moto_server), plain: no signature checks needed
    for a throughput bench; every client still signs its requests as it would against AWS."""

    region = "us-east-1"
    access_key_id = "AKIABENCHBENCHBENCH0"
    secret_access_key = "bench-secret-not-a-real-key"

    def __init__(self, workdir: Path):
        exe = next((p for p in (ROOT / ".venv" / "bin" / "moto_server", Path(sys.executable).with_name("moto_server"))
                    if p.exists()), None)
        if exe is None:
            raise RuntimeError("moto_server not found: run scripts/setup.sh (it installs moto[server] into .venv)")
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.log = open(Path(workdir) / "moto.log", "w")
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        self.proc = subprocess.Popen([str(exe), "-H", "127.0.0.1", "-p", str(self.port)], env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        wait_for_port(self.port, 30, self.proc)

    def env(self) -> dict:
        return {"AWS_ACCESS_KEY_ID": self.access_key_id, "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
                "AWS_REGION": self.region, "AWS_DEFAULT_REGION": self.region, "AWS_ENDPOINT_URL_S3": self.endpoint}

    def client(self):
        import boto3
        from botocore.config import Config
        return boto3.client("s3", endpoint_url=self.endpoint, region_name=self.region,
                            aws_access_key_id=self.access_key_id, aws_secret_access_key=self.secret_access_key,
                            config=Config(s3={"addressing_style": "path"}))

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
