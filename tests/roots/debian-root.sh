#!/usr/bin/env bash
# A Debian root per suite, to build and test leaktop with that release's compiler, libraries and
# Pythons without touching the machine (see README.md, "Testing", and tests/roots/README).
#
#   tests/roots/debian-root.sh SUITE make         make the root if it is missing or stale
#   tests/roots/debian-root.sh SUITE run CMD...   make it if needed, then run CMD inside it, in
#                                                 the current directory
#   tests/roots/debian-root.sh SUITE path         print where the root is (made or not)
#
# SUITE is trixie (Debian 13) or sid. The root lives in
# ${XDG_CACHE_HOME:-$HOME/.cache}/leaktop/roots/SUITE and is made with mmdebstrap from
# deb.debian.org (LEAKTOP_DEBIAN_MIRROR overrides it). It is made again when it is missing or when
# the package list below changed (the list it was made with is in SUITE/.leaktop-root). It is made
# in a temporary directory beside it and renamed into place only once mmdebstrap succeeded: a
# failure prints one line, removes the half-made root and exits 1; a root is never half-made in
# place. Two runs at once wait for each other's making (a lock per suite).
#
# CMD runs as root in a private mount namespace (unshare -m --propagation private): /proc, /dev
# and /sys of the machine, a private /tmp and /run (empty tmpfs, gone at exit) and this work tree
# bind-mounted at its own path, in a clean environment (PATH, HOME=/root, TERM, LANG=C.UTF-8, CI).
# Nothing is mounted outside the namespace; the root itself changes only by what CMD writes in it
# (the tests write only in the work tree and /tmp).
set -euo pipefail

prog=tests/roots/debian-root.sh
die() { printf '%s: %s\n' "$prog" "$*" >&2; exit 1; }

# What the build and every suite need (build.sh's BUILD_PKGS and, of TEST_PKGS, what the unit and
# integration suites use: tmux for the TUI tests, gdb for attach, util-linux for prlimit, runuser
# and unshare, procps, man-db for the installed man page, git for the README's fresh clone,
# prometheus for the exporter's scrape test, Debian's gunicorn and Flask for the process-tree
# tests, Flask and numpy for the findings tests). Not valgrind, clang or the sanitizer runtimes:
# the roots run the unit and integration suites only (build.sh says why).
COMMON_PKGS="gcc meson ninja-build pkg-config check libncurses-dev libproc2-dev libmicrohttpd-dev
python3 python3-dev
tmux procps util-linux gdb man-db git prometheus python3-gunicorn python3-flask python3-numpy"
suite_packages() {
    case $1 in
    trixie) echo "$COMMON_PKGS" ;;                         # python3 is 3.13
    sid) echo "$COMMON_PKGS python3.14 python3.14-dev python3.15 python3.15-dev" ;;
    *) return 1 ;;
    esac
}

[ $# -ge 2 ] || { echo "usage: $prog trixie|sid make | path | run CMD..." >&2; exit 2; }
suite=$1 verb=$2
shift 2
pkgs=$(suite_packages "$suite" | tr -s ' \n' ',,' | sed 's/,$//') ||
    { echo "$prog: unknown suite '$suite' (trixie or sid)" >&2; exit 2; }
cache=${XDG_CACHE_HOME:-$HOME/.cache}/leaktop/roots
root=$cache/$suite
mirror=${LEAKTOP_DEBIAN_MIRROR:-http://deb.debian.org/debian}
# sid's Release file is often past its Valid-Until date (the mirror here is a snapshot).
aptopts=()
[ "$suite" = sid ] && aptopts=(--aptopt='Acquire::Check-Valid-Until "false"')
# What identifies a root: remade when this changes.
stamp="suite=$suite mirror=$mirror variant=apt packages=$pkgs"

root_is_current() { [ -f "$root/.leaktop-root" ] && [ "$(cat "$root/.leaktop-root")" = "$stamp" ]; }

# Remove the stale roots of SUITE that no process runs in any more.
remove_unused_old() {
    local old
    for old in "$cache"/."$suite".old.*; do
        [ -d "$old" ] || continue
        if [ -n "$(find /proc/[0-9]*/root -maxdepth 0 -lname "$old" 2>/dev/null | head -n 1)" ]; then
            printf '==> %s is still in use: left for the next make to remove\n' "$old" >&2
        else
            rm -rf --one-file-system "$old"
        fi
    done
}

make_root() {
    root_is_current && return 0
    command -v mmdebstrap >/dev/null || die "needs mmdebstrap (apt-get install mmdebstrap)"
    mkdir -p "$cache"
    exec 9>"$cache/$suite.lock"
    flock 9
    root_is_current && { exec 9>&-; return 0; }   # made by the run we waited for
    local tmp=$cache/.$suite.new.$$ log=$cache/$suite.log started=$SECONDS
    # A half-made root never stays: removed on failure and on any exit before the rename.
    # --one-file-system: should anything still be mounted in it, that is left alone.
    trap 'rm -rf --one-file-system "$tmp"' EXIT
    trap 'exit 1' INT TERM HUP
    rm -rf --one-file-system "$cache"/."$suite".new.*
    printf '==> making the Debian %s root in %s (mmdebstrap, log in %s)\n' "$suite" "$root" "$log" >&2
    if ! mmdebstrap --variant=apt "${aptopts[@]}" --include="$pkgs" "$suite" "$tmp" "$mirror" \
            >"$log" 2>&1; then
        local why
        why=$(grep -m 1 '^E: ' "$log" || true)
        die "mmdebstrap could not make the $suite root${why:+ ($why)}; full log: $log"
    fi
    printf '%s\n' "$stamp" > "$tmp/.leaktop-root"
    # The stale root is renamed aside, then removed unless a process still runs in it (a run
    # started before: it goes on in the old root, removed by the next make).
    [ -e "$root" ] && mv "$root" "$cache/.$suite.old.$$"
    mv "$tmp" "$root"
    trap - EXIT INT TERM HUP
    remove_unused_old
    exec 9>&-
    printf '==> the %s root is made (%d s, %s)\n' "$suite" $((SECONDS - started)) \
        "$(du -sh "$root" | cut -f1)" >&2
}

run_in_root() {
    [ $# -ge 1 ] || die "run needs a command"
    [ "$(id -u)" -eq 0 ] || die "running in a root needs root (unshare -m, mount, chroot)"
    make_root
    local top
    top=$(cd "$(dirname "$0")/../.." && pwd -P)
    local here
    here=$(pwd -P)
    case $here/ in "$top"/*) ;; *) die "run it from inside the work tree $top" ;; esac
    # Everything below happens in the new mount namespace; "$@" is CMD.
    unshare -m --propagation private -- /bin/sh -ec '
        root=$1 top=$2 here=$3; shift 3
        # The root a mount of its own: in it, / is then a mount point, as unshare --mount-proc
        # (test_remote) needs.
        mount --bind "$root" "$root"
        mount -t proc proc "$root/proc"
        mount --rbind /dev "$root/dev"
        mount --rbind /sys "$root/sys"
        mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
        mount -t tmpfs -o mode=755 tmpfs "$root/run"
        # Its mount point, made after /tmp and /run are (the work tree may be under /tmp): an
        # empty directory left in the root, or in its private /tmp.
        mkdir -p "$root$top"
        mount --bind "$top" "$root$top"
        exec chroot "$root" /usr/bin/env -i \
            PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
            TERM="${TERM:-dumb}" LANG=C.UTF-8 ${CI:+CI="$CI"} \
            /bin/sh -c "cd \"\$0\" && exec \"\$@\"" "$here" "$@"
    ' sh "$root" "$top" "$here" "$@"
}

case $verb in
make) make_root ;;
path) echo "$root" ;;
run) run_in_root "$@" ;;
*) echo "usage: $prog trixie|sid make | path | run CMD..." >&2; exit 2 ;;
esac
