#!/usr/bin/env bash
# Run the whole integration suite N times in a row on a busy machine, to find the tests that
# fail only sometimes (timing assumptions, races), and say which failed in each run.
#
#   tests/soak-suite.sh [-n RUNS] [-j HOGS] [-C BUILD] [-k] [-- MESON-TEST-ARGS...]
#
#   -n RUNS   how many runs in a row (default 3)
#   -j HOGS   CPU hogs kept spinning beside the suite (default: the number of cores), each a
#             shell busy loop started here, bounded by `timeout` and ended by its pid at exit
#   -C BUILD  the build directory (default build; built for every Python with -Dpythons=...)
#   -k        keep going after a failing run (default: stop at the first one)
# Anything after -- goes to `meson test` (e.g. `-- test_examples test_memory` runs only those).
#
# Each run's log is kept under a temporary directory (printed); the exit status is 0 when every
# run passed, 1 otherwise. The tests see the hogs as any other load: nothing else on the machine
# is changed.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=3 hogs=$(nproc) build=build keep=0
while getopts "n:j:C:k" opt; do
    case $opt in
    n) runs=$OPTARG ;;
    j) hogs=$OPTARG ;;
    C) build=$OPTARG ;;
    k) keep=1 ;;
    *) echo "usage: $0 [-n RUNS] [-j HOGS] [-C BUILD] [-k] [-- MESON-TEST-ARGS...]" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ "${1:-}" = "--" ] && shift
case "$runs$hogs" in *[!0-9]*) echo "soak-suite: -n and -j take a number" >&2; exit 2 ;; esac
[ -f "$build/build.ninja" ] || { echo "soak-suite: no build in $build (./build.sh build)" >&2; exit 2; }
ninja -C "$build" >/dev/null

logs=$(mktemp -d /tmp/leaktop-soak.XXXXXX)
pids=()
stop_hogs() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    pids=()
}
trap stop_hogs EXIT
trap 'exit 130' INT TERM
# Bounded even if this script is killed with SIGKILL: a hog ends by itself after two hours.
for _ in $(seq 1 "$hogs"); do
    timeout 7200 sh -c 'while :; do :; done' &
    pids+=($!)
done
echo "soak-suite: $runs runs, $hogs CPU hogs (pids ${pids[*]:-none}), logs in $logs"

failed_runs=0
for i in $(seq 1 "$runs"); do
    start=$(date +%s)
    status=0
    meson test -C "$build" --no-rebuild --suite integration --print-errorlogs "$@" \
        > "$logs/run$i.log" 2>&1 || status=$?
    secs=$(( $(date +%s) - start ))
    # meson's summary lines: " 5/18 leaktop:integration / test_tui   FAIL   12.3s ..."; the
    # unittest lines of a failed file name the failing tests: "FAIL: test_x (test_y.Z.test_x)".
    files=$(grep -E '^ *[0-9]+/[0-9]+ .* (FAIL|TIMEOUT|ERROR) ' "$logs/run$i.log" |
            sed -E 's/.* \/ ([^ ]+) .*/\1/' | sort -u | tr '\n' ' ' || true)
    tests=$(grep -E '^(FAIL|ERROR): ' "$logs/run$i.log" | sort -u || true)
    if [ "$status" -eq 0 ]; then
        echo "run $i: passed in ${secs}s"
    else
        failed_runs=$((failed_runs + 1))
        echo "run $i: FAILED in ${secs}s: ${files:-(see the log)} ($logs/run$i.log)"
        [ -n "$tests" ] && sed 's/^/    /' <<< "$tests"
        [ "$keep" -eq 1 ] || break
    fi
done
echo "soak-suite: $failed_runs of the runs failed"
[ "$failed_runs" -eq 0 ]
