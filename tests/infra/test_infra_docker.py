"""docker/Dockerfile, checked without a Docker engine: two real linters, checkov, and the facts the image
depends on (the build stage installs exactly the CI package list, the runtime stage has every shared library
of the built binary, the Airflow image is the version CI tests the DAGs with)."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from infra_tools import (DOCKER, ROOT, apt_install_args, apt_list, checkov, checkov_skip_reasons,
                         dockerfile_stages, expand, run, tool)

DOCKERFILE = DOCKER / "Dockerfile"
BAD_DOCKERFILE = """FROM debian:latest
MAINTAINER someone
RUN apt-get install curl
COPY . .
CMD echo hi
"""


def stages():
    return dockerfile_stages(DOCKERFILE.read_text())


def build_stage():
    _, all_stages = stages()
    return all_stages[0]


def runtime_stage():
    _, all_stages = stages()
    return all_stages[-1]


# ---- linters ---------------------------------------------------------------------------------------

def test_hadolint_passes_with_no_findings():
    res = run([tool("hadolint"), "--no-color", DOCKERFILE])
    assert res.returncode == 0 and res.stdout.strip() == "", res.stdout + res.stderr


def test_hadolint_is_live_it_rejects_a_bad_dockerfile(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text(BAD_DOCKERFILE)
    res = run([tool("hadolint"), "--no-color", bad])
    assert res.returncode != 0
    assert "DL3007" in res.stdout and "DL4000" in res.stdout  # :latest, MAINTAINER


def test_dockerfile_utils_lint_passes_with_no_findings():
    res = run([tool("dockerfile-utils"), "lint", DOCKERFILE])
    assert res.returncode == 0 and res.stdout.strip() == "", res.stdout + res.stderr


def test_dockerfile_utils_is_live_it_rejects_a_bad_dockerfile(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM debian:bookworm-slim\nEXPOSE notaport\nHEALTHCHECK CMD\n")
    res = run([tool("dockerfile-utils"), "lint", bad])
    assert res.returncode != 0, res.stdout


def test_checkov_dockerfile_checks_pass_and_every_skip_has_a_reason():
    report = checkov(DOCKER, "dockerfile")
    summary = report["summary"]
    failed = [(c["check_id"], c["check_name"]) for c in report["results"]["failed_checks"]]
    assert summary["failed"] == 0, failed
    assert summary["passed"] >= 20 and summary["parsing_errors"] == 0, summary
    for where, reason in checkov_skip_reasons(DOCKER, "Dockerfile*").items():
        assert len(reason) >= 20, f"{where}: a checkov skip needs an inline reason"


# ---- build stage: the one package list --------------------------------------------------------------

def test_build_stage_is_debian_bookworm_like_ci():
    base = build_stage().base
    assert re.fullmatch(r"debian:(bookworm|12)[\w.-]*", base), base
    os_release = Path("/etc/os-release").read_text()
    if "ID=debian" in os_release:  # CI and developer machines: the image builds on the same release
        assert 'VERSION_CODENAME=bookworm' in os_release


def test_ci_installs_its_packages_from_scripts_apt_packages_txt():
    """.ci/run -> scripts/test.sh -> scripts/setup.sh, which installs the list (so there is one list)."""
    assert "scripts/test.sh" in (ROOT / ".ci" / "run").read_text()
    assert "scripts/setup.sh" in (ROOT / "scripts" / "test.sh").read_text()
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    assert "scripts/apt-packages.txt" in setup and "apt-get install" in setup
    assert len(apt_list()) >= 5


def test_build_stage_installs_exactly_the_ci_package_list(tmp_path):
    """Runs the build stage's own install command with apt-get (and rm) replaced by recorders."""
    stage = build_stage()
    copies = [i for i in stage.instructions if i.keyword == "COPY" and "scripts/apt-packages.txt" in i.args]
    assert len(copies) == 1, "the build stage must COPY scripts/apt-packages.txt"
    dest = copies[0].args.split()[-1]
    runs = [i for i in stage.instructions if i.keyword == "RUN" and dest in i.args and "apt-get" in i.args]
    assert len(runs) == 1, f"one RUN must install the packages listed in {dest}"
    assert copies[0].line < runs[0].line

    stubs = tmp_path / "bin"
    stubs.mkdir()
    log = tmp_path / "calls.log"
    for name in ("apt-get", "rm"):
        stub = stubs / name
        stub.write_text(f'#!/bin/sh\nprintf "%s\\n" "{name} $*" >> "{log}"\n')
        stub.chmod(0o755)
    command = runs[0].args.replace(dest, str(ROOT / "scripts" / "apt-packages.txt"))
    shell = ["bash", "-o", "pipefail", "-c"]  # the stage's SHELL instruction
    shell_ins = [i for i in stage.instructions if i.keyword == "SHELL"]
    if shell_ins:
        import json
        shell = json.loads(shell_ins[0].args)
    res = subprocess.run(shell + [command], env={"PATH": f"{stubs}:/usr/bin:/bin", "LANG": "C.UTF-8"},
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    installs = [line.split()[2:] for line in log.read_text().splitlines() if line.startswith("apt-get install")]
    assert len(installs) == 1, log.read_text()
    installed = [w for w in installs[0] if not w.startswith("-")]
    assert "-y" in installs[0] and "--no-install-recommends" in installs[0]
    assert installed == apt_list()


def test_build_stage_builds_release_from_the_repo_sources():
    stage = build_stage()
    text = " ".join(i.args for i in stage.instructions if i.keyword == "RUN")
    assert "cmake -S . -B build -DCMAKE_BUILD_TYPE=Release" in text
    assert "cmake --build build" in text
    copied = {i.args.split()[0] for i in stage.instructions if i.keyword == "COPY" and "--from" not in i.args}
    for src in copied:
        assert (ROOT / src).exists(), f"COPY source {src} is not in the repository"
    for needed in ("CMakeLists.txt", "cli/", "lib/"):
        assert needed in copied


@pytest.mark.skipif(shutil.which("cmake") is None, reason="needs cmake (scripts/setup.sh installs it)")
def test_build_context_holds_everything_cmake_needs(tmp_path):
    """Copies only what the build stage COPYs (to its WORKDIR) and runs the stage's own configure step:
    CMake fails at generate time on any source or subdirectory the image would lack."""
    stage = build_stage()
    workdir = next(i.args for i in stage.instructions if i.keyword == "WORKDIR")
    src = tmp_path / "src"
    src.mkdir()
    for ins in stage.instructions:
        if ins.keyword != "COPY" or "--from" in ins.args:
            continue
        *sources, dest = ins.args.split()
        for source in sources:
            target = Path(dest) if dest.startswith("/") else Path(workdir) / dest
            if not str(target).startswith(workdir):
                continue  # e.g. the package list copied to /tmp
            relative = target.relative_to(workdir)
            copy_to = src / relative / Path(source).name if dest.endswith("/") and not source.endswith("/") \
                else src / relative
            if (ROOT / source).is_dir():
                shutil.copytree(ROOT / source, copy_to, dirs_exist_ok=True)
            else:
                copy_to.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / source, copy_to)
    build_run = next(i.args for i in stage.instructions if i.keyword == "RUN" and "cmake -S" in i.args)
    configure = build_run.split("&&")[0].strip()
    assert configure.startswith("cmake -S . -B build")
    res = subprocess.run(["bash", "-c", configure], cwd=src, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    assert (src / "build" / "Makefile").exists() or (src / "build" / "build.ninja").exists()


# ---- runtime stage --------------------------------------------------------------------------------

def _airflow_pin() -> str:
    text = (ROOT / "requirements-airflow.txt").read_text()
    m = re.search(r"^apache-airflow==([\w.]+)\s*$", text, re.M)
    assert m, "requirements-airflow.txt pins apache-airflow"
    return m.group(1)


def test_runtime_is_the_official_airflow_image_of_the_tested_version():
    args, _ = stages()
    base = expand(runtime_stage().base, args)
    m = re.fullmatch(r"apache/airflow:(\d+\.\d+\.\d+)-python(3\.\d+)", base)
    assert m, f"runtime base {base!r} must be a pinned apache/airflow:X.Y.Z-pythonA.B tag"
    assert m.group(1) == _airflow_pin(), "image and requirements-airflow.txt must pin the same Airflow"
    assert m.group(1).startswith("3.")


def test_runtime_runs_as_the_airflow_user_with_dags_and_binary_on_path():
    stage = runtime_stage()
    users = [i.args for i in stage.instructions if i.keyword == "USER"]
    assert users and users[-1] in ("airflow", "50000", "50000:0"), users
    copies = [i.args for i in stage.instructions if i.keyword == "COPY"]
    assert any(c.split()[-2:] == ["dags/", "/opt/airflow/dags/"] for c in copies), copies
    binary = [c for c in copies if "--from=build" in c and "cryptopipe" in c]
    assert binary and binary[0].split()[-1] == "/usr/local/bin/cryptopipe"
    assert (ROOT / "dags").is_dir()


def _needed_packages(binary: Path) -> dict[str, str]:
    """{soname: Debian package} for each DT_NEEDED library of the binary, resolved on this machine."""
    readelf = subprocess.run(["readelf", "-d", str(binary)], capture_output=True, text=True, check=True).stdout
    sonames = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", readelf)
    ldd = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=True).stdout
    paths = dict(re.findall(r"^\s*(\S+) => (/\S+)", ldd, re.M))
    packages = {}
    for soname in sonames:
        path = paths.get(soname)
        assert path, f"{soname} does not resolve on this machine:\n{ldd}"
        candidates = {path, os.path.realpath(path)}
        candidates |= {p.replace("/usr/lib/", "/lib/", 1) for p in list(candidates)}
        candidates |= {p.replace("/lib/", "/usr/lib/", 1) for p in list(candidates) if p.startswith("/lib/")}
        owner = None
        for candidate in candidates:
            res = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
            if res.returncode == 0:
                owner = res.stdout.split(":")[0].strip()
                break
        assert owner, f"no Debian package owns {soname} ({path})"
        packages[soname] = owner
    return packages


@pytest.mark.skipif(shutil.which("dpkg") is None, reason="needs a Debian machine (dpkg) like CI")
def test_runtime_stage_installs_every_shared_library_of_the_binary(cryptopipe_bin):
    # Present in every Debian-based python image (Airflow's included): the C and C++ runtimes.
    base_image = {"libc6", "libstdc++6", "libgcc-s1"}
    installs = []
    for ins in runtime_stage().instructions:
        if ins.keyword == "RUN":
            installs += apt_install_args(ins.args)
    needed = _needed_packages(Path(cryptopipe_bin))
    assert "libpq.so.5" in needed and "libcurl.so.4" in needed, needed
    missing = {so: pkg for so, pkg in needed.items() if pkg not in base_image and pkg not in installs}
    assert not missing, f"runtime stage lacks {missing} (installs {installs})"
