#!/usr/bin/env bash
# The bench's one entry point: bench/run.sh [--smoke] [--sizes 100000,1000000,10000000] [--runs 5] [...]
# (all options: bench/run.sh --help). Runs with the bench venv (bench/setup.sh) when present, else the main test
# venv, else python3; the driver then skips the baselines whose packages are missing and says so.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
for py in .venv-bench/bin/python .venv/bin/python; do
    if [ -x "$py" ]; then exec "$py" bench/run.py "$@"; fi
done
exec python3 bench/run.py "$@"
