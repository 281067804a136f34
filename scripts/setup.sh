#!/usr/bin/env bash
# Installs what cryptopipe needs and builds it. Idempotent: a second run skips every step that is already done.
#   1. Debian packages from scripts/apt-packages.txt (the same list the Dockerfile uses)
#   2. Python venv .venv from requirements.txt (+ requirements-airflow.txt when present)
#   3. Release build into build/ (cmake, -j2)
# Works unattended (CI=true, no stdin) as root on a fresh Debian 12; as non-root it uses sudo for apt.
# Env: PYTHON (interpreter for the venv, default python3), CRYPTOPIPE_SKIP_BUILD=1 to skip step 3.
set -euo pipefail
exec >&2  # all of it is progress logging; stdout stays free for the summaries of whoever called us
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

log() { printf 'setup: %s\n' "$*" >&2; }

# --- 1. Debian packages -------------------------------------------------------------------------
SUDO=()
if [ "$(id -u)" -ne 0 ]; then SUDO=(sudo -n); fi

mapfile -t PACKAGES < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' scripts/apt-packages.txt | grep -v '^$')
MISSING=()
for pkg in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
        MISSING+=("$pkg")
    fi
done
if [ "${#MISSING[@]}" -gt 0 ]; then
    log "installing ${#MISSING[*]} Debian package(s): ${MISSING[*]}"
    export DEBIAN_FRONTEND=noninteractive
    "${SUDO[@]}" apt-get update -q </dev/null
    "${SUDO[@]}" apt-get install -y -q --no-install-recommends "${MISSING[@]}" </dev/null
else
    log "Debian packages: all ${#PACKAGES[@]} installed"
fi

# --- 2. Python venv -----------------------------------------------------------------------------
REQ_FILES=(requirements.txt)
if [ -f requirements-airflow.txt ]; then REQ_FILES+=(requirements-airflow.txt); fi
PY=${PYTHON:-python3}
STAMP=.venv/.requirements.sha256
WANT=$( { "$PY" --version 2>&1; cat "${REQ_FILES[@]}"; } | sha256sum | cut -d' ' -f1)

if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import sys' >/dev/null 2>&1; then
    log "creating .venv with $("$PY" --version 2>&1)"
    rm -rf .venv
    "$PY" -m venv .venv
fi
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
    PIP_ARGS=()
    for f in "${REQ_FILES[@]}"; do PIP_ARGS+=(-r "$f"); done
    log "pip install ${PIP_ARGS[*]}"
    .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip </dev/null
    # One resolver run over all files, so the harness and Airflow pins are checked against each other.
    .venv/bin/python -m pip install -q --disable-pip-version-check "${PIP_ARGS[@]}" </dev/null
    echo "$WANT" >"$STAMP"
else
    log "Python venv: up to date"
fi

# Infrastructure checkers for tests/infra (own venv .venv-infra + npm tools; owned by the infra engineer).
bash tests/infra/setup.sh

# --- 3. Build -----------------------------------------------------------------------------------
if [ "${CRYPTOPIPE_SKIP_BUILD:-0}" = 1 ]; then
    log "build skipped (CRYPTOPIPE_SKIP_BUILD=1)"
elif [ ! -f CMakeLists.txt ]; then
    log "no CMakeLists.txt yet: nothing to build"
else
    cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build build -j2
    log "built $ROOT/build/cryptopipe"
fi
