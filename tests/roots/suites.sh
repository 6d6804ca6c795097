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
dir=${1:?usage: tests/roots/suites.sh BUILD_DIR}
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
    # The soak (test_soak) is the one test that keeps a CPU busy for minutes: 8,640 censuses on
    # the host, 2,880 here (0.8 hours of default operation instead of 2.4, well past its warm-up
    # of 1,000; the same bounds, judged on these Pythons), so that the roots' suites and the
    # host's two fit side by side on two CPUs. At a load of 25-35 the host's sanitized soak
    # missed its time bound while a root's full one ran beside it.
    LEAKTOP_SOAK_CENSUSES=${LEAKTOP_SOAK_CENSUSES:-2880} \
        meson test -C "$dir" --print-errorlogs --no-rebuild --suite integration
else
    say "no Python in this root is one the agent supports: the integration suite is left out"
fi
