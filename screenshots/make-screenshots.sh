#!/usr/bin/env bash
# Regenerate the PNGs in screenshots/ from the real TUI:
#
#     screenshots/make-screenshots.sh [BUILD_DIR]      (default: build)
#
# 1. records examples/demo_leak.py for 20 s with BUILD_DIR/leaktop record;
# 2. replays it in a private tmux server at 100x30 (TERM=xterm-256color, LANG=C.UTF-8) and, for
#    each screen, keeps `tmux capture-pane -p -e` (text with its colour escapes);
# 3. shows the picker (`leaktop` alone) with the demo running under an agent it started itself
#    (`import leaktop; leaktop.start()`), in a PID namespace of its own when it can, so that no
#    other Python process of yours ends up in a committed picture, then that demo's fastest-growing
#    type in the live TUI (its allocation sites and referrers are asked of the agent), and the
#    Suspects view with its findings (what holds each is asked of the agent too);
# 4. renders each capture to HTML (screenshots/ansi2html.py, stdlib only: a cell grid with the
#    terminal's colours, sparkline glyphs drawn as shapes) and that to PNG with headless
#    Chromium.
# It installs what it needs from Debian (tmux, chromium, fonts-dejavu-core) with apt-get, through
# sudo when not root. Nothing leaves the machine: Chromium only opens local files.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SELF="$HERE/$(basename "${BASH_SOURCE[0]}")"
ROOT=$(cd "$HERE/.." && pwd)
BUILD=${1:-build}
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
LEAKTOP="$BUILD/leaktop"
COLS=100
ROWS=30
RECORD_SECONDS=20
RECORD_INTERVAL=0.25   # 80 samples: enough to fill the header's braille sparklines

say() { printf 'make-screenshots: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

# ---- what it needs --------------------------------------------------------------------------

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

need_packages() {
    local missing=()
    command -v tmux >/dev/null || missing+=(tmux)
    command -v chromium >/dev/null || missing+=(chromium)
    dpkg -s fonts-dejavu-core >/dev/null 2>&1 || missing+=(fonts-dejavu-core)
    command -v python3 >/dev/null || missing+=(python3)
    command -v tic >/dev/null || missing+=(ncurses-bin)
    if [ ${#missing[@]} -gt 0 ]; then
        say "installing ${missing[*]}"
        as_root apt-get update -q >/dev/null
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
            "${missing[@]}" >/dev/null
    fi
}

# ---- tmux -----------------------------------------------------------------------------------

TMUX_SOCK="leaktop-shots-$$-$RANDOM"
# The server's socket goes under the work directory: private, and usable from the PID (and user)
# namespace the picker runs in.
tm() { TMUX_TMPDIR="$WORK" tmux -L "$TMUX_SOCK" "$@"; }

# xterm-256color as it is, less "bce" (background colour erase). With bce, curses ends a coloured
# bar with "erase to end of line" in that colour, and tmux keeps such erased cells without their
# colour in capture-pane's output: the bars would come out cut short. Without it curses writes
# the spaces themselves, and the picture is what a terminal shows.
make_terminfo() {
    mkdir -p "$WORK/terminfo"
    infocmp -x xterm-256color | sed 's/\bbce, //' | tic -x -o "$WORK/terminfo" - ||
        die "cannot make the terminfo entry (infocmp and tic come with ncurses-bin)"
}

# Start argv in a fresh session of the private server, at COLS x ROWS.
tm_start() {
    local name=$1
    shift
    local cmd
    cmd=$(printf '%q ' env TERM=xterm-256color TERMINFO="$WORK/terminfo" LANG=C.UTF-8 \
        LC_ALL=C.UTF-8 "$@")
    tm -f /dev/null new-session -d -s "$name" -x "$COLS" -y "$ROWS" "$cmd; sleep 600"
    tm set-option -t "$name" status off >/dev/null
    tm resize-window -t "$name" -x "$COLS" -y "$ROWS" >/dev/null 2>&1 || true
}

# Wait until the screen of session $1 matches the extended regex $2 (then a moment more, so a
# frame half drawn is not what we keep).
tm_wait() {
    local name=$1 pattern=$2
    for _ in $(seq 1 200); do
        if tm capture-pane -p -t "$name" | grep -Eq -- "$pattern"; then
            sleep 0.3
            return 0
        fi
        sleep 0.1
    done
    say "the screen never showed /$pattern/; it shows:"
    tm capture-pane -p -t "$name" >&2
    return 1
}

tm_keys() {
    local name=$1
    shift
    tm send-keys -t "$name" "$@"
}

# Keep the screen of session $1 as $WORK/$2.txt, trailing blanks and their colours included.
tm_keep() {
    tm capture-pane -p -e -N -t "$1" > "$WORK/$2.txt"
    SHOTS+=("$2")
}

# ---- rendering ------------------------------------------------------------------------------

render() {
    local name=$1 title=$2 w h profile
    read -r w h < <(python3 "$HERE/ansi2html.py" --cols "$COLS" --rows "$ROWS" \
        --title "$title" "$WORK/$name.txt" "$WORK/$name.html")
    profile=$(mktemp -d "$WORK/chromium.XXXXXX")
    # As root Chromium needs --no-sandbox; the rest keeps it from reaching for any network.
    timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
        --disable-component-update --disable-sync --disable-default-apps --no-first-run \
        --hide-scrollbars --mute-audio --user-data-dir="$profile" --window-size="$w,$h" \
        --screenshot="$WORK/$name.png" "file://$WORK/$name.html" >"$WORK/chromium.log" 2>&1 ||
        { cat "$WORK/chromium.log" >&2; die "chromium could not render $name"; }
    [ -s "$WORK/$name.png" ] || die "chromium wrote no $name.png"
    cp "$WORK/$name.png" "$HERE/$name.png"
    say "screenshots/$name.png"
}

# ---- the picker, in a PID namespace of its own ----------------------------------------------

# Runs inside `unshare --pid --fork --mount-proc` (or as is, when that is refused): two Python
# processes, one with the agent, one without, and `leaktop` alone listing them (with the small
# pids of the namespace).
picker_inner() {
    export XDG_RUNTIME_DIR="$WORK/run"
    mkdir -m 0700 "$XDG_RUNTIME_DIR"
    cd "$ROOT"
    PYTHONPATH="$BUILD/agent" python3 -c "import leaktop, runpy; leaktop.start(); \
runpy.run_path('examples/demo_leak.py', run_name='__main__')" >"$WORK/picker-demo.log" 2>&1 &
    local demo=$!
    python3 examples/bounded_churn.py >/dev/null 2>&1 &
    local plain=$!
    for _ in $(seq 1 100); do
        [ -S "$XDG_RUNTIME_DIR/leaktop/$demo.sock" ] && break
        sleep 0.1
    done
    [ -S "$XDG_RUNTIME_DIR/leaktop/$demo.sock" ] ||
        { cat "$WORK/picker-demo.log" >&2; die "the demo's agent never made its socket"; }
    sleep 2   # some uptime and memory to show
    tm_start picker env XDG_RUNTIME_DIR="$XDG_RUNTIME_DIR" "$LEAKTOP"
    tm_wait picker " yes " || { tm_keys picker r; tm_wait picker " yes "; }
    sleep 16  # the picker samples each process's RSS while it is open: let its growth show
    tm capture-pane -p -e -N -t picker > "$WORK/picker.txt"
    tm_keys picker q
    tm kill-session -t picker 2>/dev/null || true
    # A type's drill-down from the live demo: a recording cannot show where a type's instances
    # were allocated (the agent is asked), nor what keeps them alive. The fastest-growing type.
    tm_start live env XDG_RUNTIME_DIR="$XDG_RUNTIME_DIR" "$LEAKTOP" "$demo"
    tm_wait live "1 Suspects"
    # The Suspects view live too: its findings say where and what holds them once the agent
    # has answered (asked as soon as they are found).
    if tm_wait live " held by "; then
        tm capture-pane -p -e -N -t live > "$WORK/suspects.txt"
    fi
    tm_keys live 2
    tm_wait live "TYPE +COUNT +CHANGE"
    sleep 2
    tm_keys live Enter
    if tm_wait live "> [^ ]+\.py:[0-9]+ in " && tm_wait live "found in|no chain found"; then
        tm capture-pane -p -e -N -t live > "$WORK/type-detail.txt"
    fi
    tm_keys live q
    tm kill-session -t live 2>/dev/null || true
    kill "$demo" "$plain" 2>/dev/null || true
    wait "$demo" "$plain" 2>/dev/null || true
}

if [ "${1:-}" = "--picker-inner" ]; then
    # Re-entered by the outer run below: $2 the build dir, $3 the work dir, $4 the tmux socket.
    BUILD=$2
    LEAKTOP="$BUILD/leaktop"
    WORK=$3
    TMUX_SOCK=$4
    picker_inner
    exit 0
fi

# ---- main -----------------------------------------------------------------------------------

[ -x "$LEAKTOP" ] || die "no $LEAKTOP: build first (meson setup build && ninja -C build)"
need_packages

WORK=$(mktemp -d /tmp/leaktop-shots.XXXXXX)
SHOTS=()
cleanup() {
    tm kill-server >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
make_terminfo

say "recording examples/demo_leak.py for ${RECORD_SECONDS} s"
(cd "$ROOT" && "$LEAKTOP" record -o "$WORK/demo.lktp" --duration "$RECORD_SECONDS" \
    --interval "$RECORD_INTERVAL" -- python3 examples/demo_leak.py) 2>"$WORK/record.log" ||
    { cat "$WORK/record.log" >&2; die "the recording failed"; }

rm -f "$HERE"/*.png
tm_start main "$LEAKTOP" replay "$WORK/demo.lktp"
tm_wait main "FINDING"
# (suspects.png comes from the live demo below: a recording cannot ask what holds a finding.)

tm_keys main 2
tm_wait main "TYPE +COUNT +CHANGE"
tm_keep main types

# The drill-down of a type is taken from the live demo with the picker, below.

tm_keys main 3
tm_wait main "ALLOCATION SITE"
# Allocation sites come from the agent's allocation sampler. A recording made without it has an
# empty Sites view and no tracebacks: then type-detail.png (above) is the drill-down shown, and
# sites.png and traceback.png are left out.
if tm capture-pane -p -t main | grep -Eq '\.py:[0-9]+ '; then
    tm_keep main sites
    tm_keys main Enter
    tm_wait main "Traceback"
    tm_keep main traceback
    tm_keys main Escape
    tm_wait main "ALLOCATION SITE"
else
    say "no allocation sites in the recording: no sites.png or traceback.png"
fi

tm_keys main 4
tm_wait main "GENERATION +COLLECTIONS"
tm_keep main gc

tm_keys main 5
tm_wait main "PART +BYTES +SHARE"
tm_keep main memory

tm_keys main '?'
tm_wait main "leaktop keys"
tm_keep main help
tm_keys main q q
tm kill-session -t main 2>/dev/null || true

say "the picker"
if [ "$(id -u)" = 0 ] && unshare --pid --fork --mount-proc true 2>/dev/null; then
    unshare --pid --fork --mount-proc bash "$SELF" --picker-inner "$BUILD" "$WORK" "$TMUX_SOCK"
elif unshare --user --map-root-user --pid --fork --mount-proc true 2>/dev/null; then
    unshare --user --map-root-user --pid --fork --mount-proc \
        bash "$SELF" --picker-inner "$BUILD" "$WORK" "$TMUX_SOCK"
else
    say "no PID namespace here: the picker lists every Python process of yours"
    picker_inner
fi
SHOTS+=(picker)
[ -s "$WORK/suspects.txt" ] && SHOTS+=(suspects) ||
    say "the live Suspects view never showed a finding's holder: no suspects.png"
[ -s "$WORK/type-detail.txt" ] && SHOTS+=(type-detail) ||
    say "the live type detail never showed its allocation sites: no type-detail.png"

for name in "${SHOTS[@]}"; do
    render "$name" "leaktop: $name"
done
say "done: ${#SHOTS[@]} screenshots in screenshots/"
