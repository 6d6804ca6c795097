#!/bin/sh
# Run a libFuzzer target for a bounded time on a copy of its seed corpus, so the tree is never
# written to (libFuzzer adds what it finds to the first corpus directory it is given).
#
#     run-fuzzer.sh FUZZER CORPUS_DIR [libFuzzer options...]
#
# Crash, leak and timeout inputs go to $FUZZ_ARTIFACTS (default: the current directory).
set -eu

if [ $# -lt 2 ]; then
    echo "usage: $0 FUZZER CORPUS_DIR [libFuzzer options...]" >&2
    exit 2
fi
fuzzer=$1
corpus=$2
shift 2

artifacts=${FUZZ_ARTIFACTS:-.}
mkdir -p "$artifacts"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/leaktop-fuzz.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM
if [ -d "$corpus" ]; then
    cp -R "$corpus"/. "$tmp"/
fi

# UndefinedBehaviorSanitizer only prints by default: make it a failure the fuzzer reports.
UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:abort_on_error=1:print_stacktrace=1}
export UBSAN_OPTIONS

status=0
# A finding exits 1: libFuzzer's own default (77) is what meson takes for a skipped test.
"$fuzzer" -artifact_prefix="$artifacts/$(basename "$fuzzer")-" -print_final_stats=1 \
    -error_exitcode=1 "$@" \
    "$tmp" || status=$?
exit $status
