#!/usr/bin/env bash
# Installs what the bench needs beyond the main test setup (scripts/setup.sh: PostgreSQL, .venv with moto):
# GNU time for peak RSS, and the baselines' Python packages (pinned in requirements-bench.txt) into .venv-bench,
# so the main test venv is not disturbed. Idempotent.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ ! -x /usr/bin/time ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time
fi
if [ ! -x .venv-bench/bin/python ]; then
    python3 -m venv .venv-bench
fi
if ! cmp -s requirements-bench.txt .venv-bench/.installed-requirements 2>/dev/null; then
    .venv-bench/bin/pip install -q --disable-pip-version-check -r requirements-bench.txt
    cp requirements-bench.txt .venv-bench/.installed-requirements
fi
echo "bench setup: ok ($(.venv-bench/bin/python --version), $(.venv-bench/bin/aws --version 2>&1 | cut -d' ' -f1))"
