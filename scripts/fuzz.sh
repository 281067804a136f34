#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/) with clang + ASan + UBSan into build-fuzz/ and runs each one, ONE AT A TIME
# (the machine has 2 cores shared by everyone), for N seconds (default 30: what CI does).
#   scripts/fuzz.sh [SECONDS] [TARGET...]
# Each run starts from the checked-in seed corpus fuzz/corpus/<target>/ (read-only: new inputs go to
# build-fuzz/corpus/<target>/) and leaves crash/leak/timeout reproducers in build-fuzz/artifacts/<target>/.
# The seed is fixed (CRYPTOPIPE_FUZZ_SEED, default 1) so a CI run explores the same inputs each time.
# Exits non-zero when a target fails to build or any run finds a crash. Needs clang-14 and libclang-rt-14-dev.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds="${1:-30}"
shift || true
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
    targets=(fuzz_coinapi_page fuzz_bitstamp_page fuzz_timestamp fuzz_decimal fuzz_transform_line fuzz_s3_error
             fuzz_gunzip fuzz_manifest)
fi

cc="${CC:-$(command -v clang-14 || command -v clang || true)}"
cxx="${CXX:-$(command -v clang++-14 || command -v clang++ || true)}"
if [ -z "$cxx" ] || [ -z "$cc" ]; then
    echo "fuzz: clang not found (apt-get install clang-14 libclang-rt-14-dev)" >&2
    exit 2
fi

cmake -S . -B build-fuzz -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCRYPTOPIPE_FUZZ=ON -DCRYPTOPIPE_SANITIZE=ON -DCRYPTOPIPE_BUILD_TESTS=OFF >/dev/null
cmake --build build-fuzz -j2 --target "${targets[@]}"

# Leaks are real findings; a UBSan report must stop the run (otherwise it is only printed).
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}"
# fuzz/ubsan.supp silences one known third-party report (rapidjson's stack.h), nothing of ours.
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:abort_on_error=1:print_stacktrace=1:suppressions=$PWD/fuzz/ubsan.supp}"

failed=()
for t in "${targets[@]}"; do
    work="build-fuzz/corpus/$t"
    art="build-fuzz/artifacts/$t"
    mkdir -p "$work" "$art" "fuzz/corpus/$t"
    log="build-fuzz/$t.log"
    echo "fuzz: $t for ${seconds}s (log $log)" >&2
    # -max_len covers a full API page; -rss_limit_mb keeps one run from starving the shared machine.
    if "build-fuzz/fuzz/$t" "$work" "fuzz/corpus/$t" -max_total_time="$seconds" -seed="${CRYPTOPIPE_FUZZ_SEED:-1}" -max_len=65536 -timeout=10 \
        -rss_limit_mb=1536 -print_final_stats=1 -artifact_prefix="$art/" >"$log" 2>&1; then
        grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb' "$log" | sed "s/^/fuzz: $t: /" >&2 || true
    else
        echo "fuzz: $t FAILED: reproducer in $art/, tail of $log:" >&2
        tail -40 "$log" >&2
        failed+=("$t")
    fi
done

if [ "${#failed[@]}" -ne 0 ]; then
    echo "fuzz: failures in: ${failed[*]}" >&2
    exit 1
fi
echo "fuzz: ${#targets[@]} targets ran ${seconds}s each, no findings" >&2
