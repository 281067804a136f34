"""Plain helpers shared by the fixtures (tests/conftest.py) and the tests: import them as `from harness import ...`
(tests/replay is on sys.path once conftest is loaded). Not named conftest: several conftest modules exist."""
from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


def base_env(extra: dict | None = None) -> dict:
    """A clean environment for the CLI: only what a program needs to run, plus `extra`."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
        "TZ": "UTC",
    }
    for k in ("TMPDIR", "LD_LIBRARY_PATH", "ASAN_OPTIONS", "UBSAN_OPTIONS"):
        if k in os.environ:
            env[k] = os.environ[k]
    if extra:
        env.update({k: str(v) for k, v in extra.items() if v is not None})
    return env


def binary_path() -> Path:
    return Path(os.environ.get("CRYPTOPIPE_BIN") or ROOT / "build" / "cryptopipe")


def run_cli(args, env: dict | None = None, input: str | None = None, timeout: float = 120,
            binary: str | os.PathLike | None = None) -> subprocess.CompletedProcess:
    """Run `cryptopipe ARGS` with a clean env (+ env); text in/out, never raises on a non-zero exit."""
    exe = str(binary or binary_path())
    return subprocess.run([exe, *map(str, args)], env=base_env(env), input=input, capture_output=True,
                          text=True, timeout=timeout)
