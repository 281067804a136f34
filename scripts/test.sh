#!/usr/bin/env bash
# THE test command (README, .ci/run): setup, then the C++ unit tests (ctest), then every pytest suite
# (tests/: replay server, integration against a real PostgreSQL / moto / replay server, Airflow DAGs, infra).
# Extra arguments go to pytest, e.g. `scripts/test.sh -k five_minute -x`.
# Exits non-zero when either runner failed; both summaries are always printed.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup.sh || { echo "test: setup failed" >&2; exit 1; }

ctest_rc=0
if [ -d build ]; then
    ctest --test-dir build --output-on-failure -j2 || ctest_rc=$?
else
    echo "test: no build/ directory: ctest not run" >&2
    ctest_rc=1
fi

pytest_rc=0
.venv/bin/python -m pytest tests -q -rfE "$@" || pytest_rc=$?

echo "test: ctest exit ${ctest_rc}, pytest exit ${pytest_rc}" >&2
if [ "$ctest_rc" -ne 0 ] || [ "$pytest_rc" -ne 0 ]; then
    exit 1
fi
