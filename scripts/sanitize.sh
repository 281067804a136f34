#!/usr/bin/env bash
# The test suite once under AddressSanitizer + UndefinedBehaviorSanitizer (issue 7): configures build-asan/ with
# -DCRYPTOPIPE_SANITIZE=ON, builds it, runs ctest there, then the pytest suites that drive the binary
# (tests/integration, tests/reliability) with CRYPTOPIPE_BIN=build-asan/cryptopipe.
#   scripts/sanitize.sh [PYTEST ARGS...]     e.g. scripts/sanitize.sh -k bad_input -x
# Every sanitizer report is fatal (the process aborts, so the test sees a crash) AND is written to
# build-asan/sanitizer-reports/; the script fails if any report was written, even from a test that ignored the
# exit code. The slow load test is deselected by default (-m "not slow"); pass -m "" to include it.
# Needs scripts/setup.sh to have run (.venv, PostgreSQL, moto).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

build=build-asan
reports="$PWD/$build/sanitizer-reports"

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCRYPTOPIPE_SANITIZE=ON -DCRYPTOPIPE_BUILD_TESTS=ON \
    >/dev/null || { echo "sanitize: cmake configure failed" >&2; exit 1; }
cmake --build "$build" -j2 || { echo "sanitize: build failed" >&2; exit 1; }

rm -rf "$reports"
mkdir -p "$reports"
# fuzz/ubsan.supp silences one known third-party report (rapidjson's stack.h), nothing of ours.
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:halt_on_error=1:log_path=$reports/asan:symbolize=1"
export UBSAN_OPTIONS="halt_on_error=1:abort_on_error=1:print_stacktrace=1:log_path=$reports/ubsan:suppressions=$PWD/fuzz/ubsan.supp"
export CRYPTOPIPE_BIN="$PWD/$build/cryptopipe"

ctest_rc=0
ctest --test-dir "$build" --output-on-failure -j2 || ctest_rc=$?

pytest_rc=0
if [ "$#" -eq 0 ]; then
    set -- -m "not slow"
fi
.venv/bin/python -m pytest tests/integration tests/reliability -q -rfE -p no:cacheprovider "$@" || pytest_rc=$?

report_rc=0
if compgen -G "$reports/*" >/dev/null; then
    echo "sanitize: sanitizer reports were written:" >&2
    for f in "$reports"/*; do
        echo "---- $f" >&2
        head -40 "$f" >&2
    done
    report_rc=1
fi

echo "sanitize: ctest exit ${ctest_rc}, pytest exit ${pytest_rc}, reports $( [ $report_rc -eq 0 ] && echo none || echo FOUND )" >&2
if [ "$ctest_rc" -ne 0 ] || [ "$pytest_rc" -ne 0 ] || [ "$report_rc" -ne 0 ]; then
    exit 1
fi
