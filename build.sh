#!/usr/bin/env bash
# leaktop's two entry points (see README.md):
#   ./build.sh demo   install what is missing, build, and watch the bundled leaking demo live
#   ./build.sh test   install what is missing, build for every Python found, run every test suite
#                     (unit and integration suites again under ASan+UBSan, python3 only, and
#                     in Debian 13 and sid roots with their compilers and Pythons)
# Other verbs: deps (install only), build (build only), asan (the sanitized suites only), roots
# (the build and suites in the Debian 13 and sid roots only, tests/roots), cpython (CPython's own
# regression tests with the agent inside and without, the whole set for every Python:
# tests/cpython; `./build.sh test` runs a bounded part for the oldest and newest).
# Works from a fresh clone on Debian/Ubuntu; as a normal user it asks sudo for the packages.
set -euo pipefail
cd "$(dirname "$0")"

# Debian packages by what needs them. What the integration suite needs goes into the Debian
# roots' list too (tests/roots/debian-root.sh, COMMON_PKGS), but for the packaging tools
# (python3-mesonpy ... lintian): test_packages builds and installs leaktop's wheel and Debian
# package on the host only, and skips in the roots.
BUILD_PKGS="gcc meson ninja-build pkg-config python3 python3-dev check libncurses-dev libproc2-dev
libmicrohttpd-dev"
TEST_PKGS="clang libclang-rt-14-dev tmux util-linux procps gdb valgrind man-db prometheus
    python3-gunicorn python3-flask mmdebstrap python3-numpy
    python3-mesonpy python3-build python3-venv patchelf pipx dpkg-dev debhelper dh-python lintian"

say() { printf '==> %s\n' "$*" >&2; }

install_missing() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if ! command -v apt-get >/dev/null; then
        say "missing packages (install them by hand): ${missing[*]}"
        return 1
    fi
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    say "installing: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
}

# Every interpreter to build the agent for: python3 always, and in test mode every CPython
# 3.8-3.13 that pyenv holds (the agent is built and tested against each).
pythons_option() {
    if [ "${1:-}" = all ]; then echo "python3,pyenv"; else echo "python3"; fi
}

setup() { # setup DIR PYTHONS [meson options...]
    local dir=$1 pythons=$2
    shift 2
    if [ -f "$dir/build.ninja" ]; then
        meson setup --reconfigure "$dir" -Dpythons="$pythons" "$@" >/dev/null
    else
        meson setup "$dir" -Dpythons="$pythons" "$@" >/dev/null
    fi
    ninja -C "$dir" >/dev/null
}

# The sanitized build: leaktop and the agent (for python3) under ASan+UBSan. Options for the
# processes meson starts directly (unit tests) and the TUI replay; the integration harness sets
# its own for every process it starts (tests/integration/harness.py, "Sanitized builds").
SAN_ENV=(UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ASAN_OPTIONS=detect_leaks=1)
build_asan() {
    say "build-asan: AddressSanitizer + UndefinedBehaviorSanitizer, the agent for python3"
    setup build-asan python3 -Db_sanitize=address,undefined -Db_lundef=false -Dwerror=true
}
asan_unit() {
    env "${SAN_ENV[@]}" meson test -C build-asan --print-errorlogs --no-rebuild --suite unit
}
# The integration suite against build-asan: the sanitized leaktop binary, and the sanitized agent
# inside real python3 processes (preloaded runtimes); any report by any process fails the test.
asan_integration() {
    meson test -C build-asan --print-errorlogs --no-rebuild --suite integration \
        --timeout-multiplier 2 --num-processes 1
}
# The TUI itself under the sanitizers: a real recording, replayed for 30 screen refreshes in a
# pseudo-terminal; any ASan/UBSan report or leak fails the run.
asan_tui_replay() {
    [ -x build/leaktop ] && command -v script >/dev/null || return 0
    say "the TUI under ASan/UBSan: 30 refreshes of a replay"
    local rec
    rec=$(mktemp --suffix=.lktp)
    build/leaktop record -o "$rec" --duration 3 --interval 0.2 -- python3 examples/demo_leak.py \
        >/dev/null 2>&1
    env "${SAN_ENV[@]}" TERM=xterm-256color script -qec "build-asan/leaktop -n 30 replay $rec" \
        /dev/null > "$rec.screen" 2>&1 || { cat "$rec.screen"; rm -f "$rec" "$rec.screen"; exit 1; }
    grep -q "Suspects" "$rec.screen" || { echo "the TUI drew nothing"; exit 1; }
    rm -f "$rec" "$rec.screen"
}
# The Debian roots (tests/roots/debian-root.sh makes each once, in ~/.cache/leaktop/roots, and
# runs commands inside it with private mounts): the build with the project's warnings and -Werror
# and the unit and integration suites (tests/roots/suites.sh) with Debian 13's gcc 14, libproc2
# 4.0.4 and python3.13, and with sid's gcc 16, libproc2 4.0.7 and python3.14 and python3.15,
# every Python there that the agent supports. LEAKTOP_ROOTS names the suites (default both; empty
# for none). Not valgrind, the sanitizers or the fuzzers in them: those check leaktop's own code
# for memory errors, the same source the host's passes check, and the sanitizer runtimes would
# differ only by compiler version.
ROOT_SUITES=${LEAKTOP_ROOTS-trixie sid}
# sid holds the Pythons the host has not (3.14, 3.15): the whole integration suite. Debian 13's
# python3.13 is a version the host runs too (pyenv's): there the tests that depend on how the
# interpreter was built and what the distribution ships (its GC lists and heap walks, the
# sampler's hooks, attaching by gdb to Debian's stripped binary, libproc2 4.0.4's memory
# reading, the sites' frames, the install), not those about leaktop's own logic (the TUI, the
# findings, the faults, the process tree, the soak), which the host and sid run.
ROOT_TESTS_trixie="test_pythons test_census test_big_heap test_estimates test_attach test_memory
test_sites test_type_sites test_sampler_stress test_socket test_launch test_install"
ROOT_TESTS_sid=""
root_cmd() { # root_cmd SUITE VERB [CMD...]: tests/roots/debian-root.sh, through sudo if not root
    if [ "$(id -u)" -eq 0 ]; then tests/roots/debian-root.sh "$@"; else sudo tests/roots/debian-root.sh "$@"; fi
}
# Each root made if need be (mostly downloads) and its suites run, the roots side by side (their
# integration suites mostly wait on the programs they watch: about a fifth of one CPU each);
# each line is marked [SUITE]. Fails when a root cannot be made or any of its suites fails.
roots_pass() {
    local pids=() s i failed=""
    for s in $ROOT_SUITES; do
        local list="ROOT_TESTS_$s"
        # shellcheck disable=SC2086 # (a list of names)
        ( { root_cmd "$s" make && root_cmd "$s" run tests/roots/suites.sh "build-$s" ${!list:-}; } 2>&1 |
            sed -u "s/^/[$s] /" ) &
        pids+=($!)
    done
    i=0
    for s in $ROOT_SUITES; do
        wait "${pids[$i]}" || failed="$failed $s"
        i=$((i + 1))
    done
    [ -z "$failed" ] || { say "the Debian roots failed:$failed"; return 1; }
}

fuzz() {
    [ -d tests/fuzz ] && [ -f tests/fuzz/meson.build ] && command -v clang >/dev/null || return 0
    say "build-fuzz: libFuzzer targets, bounded runs on the corpus in tests/fuzz/corpus"
    CC=clang setup build-fuzz python3 -Dfuzzing=true -Dtests=false \
        -Db_sanitize=address,undefined -Db_lundef=false
    meson test -C build-fuzz --print-errorlogs --no-rebuild --suite fuzz
}

cmd=${1:-}
case $cmd in
deps)
    install_missing $BUILD_PKGS $TEST_PKGS
    ;;
build)
    install_missing $BUILD_PKGS
    setup build "$(pythons_option)"
    say "built build/leaktop"
    ;;
demo)
    install_missing $BUILD_PKGS
    setup build "$(pythons_option)"
    say "watching examples/demo_leak.py (a leaking service) live; q quits"
    if [ -t 0 ] && [ -t 1 ]; then
        exec build/leaktop run --interval 0.5 -- python3 examples/demo_leak.py
    fi
    # No terminal (a script, a pipe): the same verdict as a report.
    exec build/leaktop check --duration "${DEMO_SECONDS:-20}" --interval 0.5 -- python3 examples/demo_leak.py
    ;;
test)
    install_missing $BUILD_PKGS $TEST_PKGS
    werror=false
    [ -n "${CI:-}" ] && werror=true
    say "build: every Python found, -Werror=$werror"
    # The Debian roots' pass runs beside all of the host's (it makes the roots while the host
    # builds, then builds and tests in each root while the host's suites run); its lines are
    # marked [trixie] and [sid].
    # It is its own process group (set -m), ended as a whole if the host's part fails.
    set -m
    roots_pass &
    roots_pid=$!
    set +m
    trap 'kill -TERM -- "-$roots_pid" 2>/dev/null || true' EXIT
    setup build "$(pythons_option all)" -Dwerror=$werror
    build_asan
    say "unit suites: plain, then under ASan/UBSan"
    meson test -C build --print-errorlogs --no-rebuild --suite unit
    asan_unit
    # The two integration passes side by side (they mostly wait on the programs they watch):
    # the plain build against every Python, and build-asan against python3, its lines marked
    # [asan]. Each test starts its processes in its own directories, sockets and ports.
    say "integration suites side by side: plain (every Python) and ASan/UBSan (python3)"
    ( asan_integration 2>&1 | sed -u 's/^/[asan] /' ) &
    asan_pid=$!
    failed=""
    meson test -C build --print-errorlogs --no-rebuild --suite integration --num-processes 3 ||
        failed=" plain"
    wait "$asan_pid" || failed="$failed asan"
    if [ -n "$failed" ]; then
        say "integration suite failed:$failed"
        exit 1
    fi
    say "the rest of meson test on the plain build (valgrind)"
    meson test -C build --print-errorlogs --no-rebuild --no-suite unit --no-suite integration
    asan_tui_replay
    fuzz
    roots_ok=yes
    wait "$roots_pid" || roots_ok=""
    trap - EXIT
    [ -n "$roots_ok" ] || exit 1
    ;;
cpython)
    # The whole set of tests/cpython/regrtest_compare.py, one Python after the other, regrtest
    # with -j1 (LEAKTOP_CPYTHON_JOBS=2 for two workers); LEAKTOP_CPYTHON_PYTHONS (colon-separated)
    # names the interpreters, default every one the agent was built for. A difference fails.
    install_missing $BUILD_PKGS
    setup build "$(pythons_option all)"
    pys=()
    if [ -n "${LEAKTOP_CPYTHON_PYTHONS:-}" ]; then
        IFS=: read -r -a pys <<< "$LEAKTOP_CPYTHON_PYTHONS"
    else
        mapfile -t pys < <(agent/list-pythons.sh pyenv)
        [ ${#pys[@]} -gt 0 ] || pys=(python3)
    fi
    args=()
    for p in "${pys[@]}"; do args+=(--python "$p"); done
    say "CPython's regression tests with and without the agent: ${pys[*]}"
    exec python3 tests/cpython/regrtest_compare.py --set full --tracemalloc \
        --jobs "${LEAKTOP_CPYTHON_JOBS:-1}" --leaktop build/leaktop --agent build/agent \
        --json "${LEAKTOP_CPYTHON_JSON:-build/cpython-regrtest.json}" "${args[@]}"
    ;;
roots)
    install_missing $BUILD_PKGS mmdebstrap
    roots_pass
    ;;
asan)
    install_missing $BUILD_PKGS $TEST_PKGS
    build_asan
    asan_unit
    say "integration suite under ASan/UBSan (python3)"
    asan_integration
    asan_tui_replay
    fuzz
    ;;
*)
    echo "usage: ./build.sh demo | test | deps | build | asan | roots | cpython" >&2
    exit 2
    ;;
esac
