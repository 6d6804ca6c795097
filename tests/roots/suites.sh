#!/bin/sh
# Inside a Debian root (tests/roots/debian-root.sh SUITE run tests/roots/suites.sh BUILD_DIR): build
# leaktop in BUILD_DIR with that release's gcc, libproc2 and ncurses, the project's warnings and
# -Werror, the agent for every Python of the root it supports (-Dpythons=system), then run the
# unit suite and the integration suite. Exits non-zero at the first failure, after printing what
# failed (the compiler's output when the build fails).
#
# A root without any Python the agent supports still builds and checks the viewer and the agent's
# plain-C core (unit suite); the integration suite needs an agent and says it is left out.
set -eu
dir=${1:?usage: tests/roots/suites.sh BUILD_DIR [INTEGRATION_TEST...]}
shift
# What is left in "$@": the integration tests to run (none named: the whole suite).
cd "$(dirname "$0")/../.."
. /etc/os-release
say() { printf '==> %s\n' "$*" >&2; }
say "$PRETTY_NAME: $(gcc --version | head -n 1), libproc2 $(pkg-config --modversion libproc2)," \
    "Pythons: $(agent/list-pythons.sh system | xargs -r -n1 basename | xargs echo)"

log=$(mktemp)   # the root's private /tmp
# A build directory of another meson (the root was made again with a newer one) is made afresh.
if [ -f "$dir/build.ninja" ]; then
    meson setup --reconfigure "$dir" -Dpythons=system -Dwerror=true >"$log" 2>&1 ||
        meson setup --wipe "$dir" -Dpythons=system -Dwerror=true >"$log" 2>&1 ||
        { cat "$log"; exit 1; }
else
    meson setup "$dir" -Dpythons=system -Dwerror=true >"$log" 2>&1 ||
        { cat "$log"; exit 1; }
fi
rm -f "$log"
out=$(ninja -C "$dir" 2>&1) || { printf '%s\n' "$out"; say "the build failed"; exit 1; }
meson test -C "$dir" --print-errorlogs --no-rebuild --suite unit
if ls "$dir"/agent/leaktop*.so >/dev/null 2>&1; then
    # The soak (test_soak) runs its full 8,640 censuses here too (about 130 s beside the
    # host's suites): at 2,880 its trend, projected over a day from a third of the run, was
    # three times as sensitive to the agent's bounded wobble (sid, 3.14: +27 KB net over the
    # run, 5.02-5.11 MB medians, projected to 1.4 MB a day).
    if [ $# -gt 0 ]; then
        say "integration tests: $*"
        meson test -C "$dir" --print-errorlogs --no-rebuild --num-processes 1 "$@"
    else
        meson test -C "$dir" --print-errorlogs --no-rebuild --suite integration --num-processes 1
    fi
else
    say "no Python in this root is one the agent supports: the integration suite is left out"
fi
