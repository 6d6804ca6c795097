#!/usr/bin/env python3
"""The terminal UI's own costs, against the targets of the issue "The ncurses TUI".

    python3 bench/tui.py [BUILD_DIR] [--quick]

BUILD_DIR (or $LEAKTOP_BUILD) is a meson build directory holding leaktop and agent/; the
default is build at the repository root. Needs tmux. About 3 minutes; --quick about 1.

Targets: "TUI CPU at 1 refresh a second is 1% or less; a sample reaches the screen within
100 ms of the agent taking it; TUI memory stays bounded over a long session."

Every TUI runs as `leaktop PID` in a private tmux server at 100x30 (TERM=xterm-256color,
LANG=C.UTF-8), watching a small Python service that starts its own agent. Three measurements:

  latency  the agent at interval=0.5; the service adds a __main__.Marker every 5 ms, so every
           sample has a count no other sample has. A raw protocol client of this script reads
           each live SAMPLE's wall_ns (CLOCK_REALTIME, taken by the agent) and Marker count; a
           tmux control-mode client captures the pane every 5 ms (the TUI shows the Types view
           filtered to Marker) and notes when each count first appears. Delay = first capture
           showing it - wall_ns; the capture's time is taken after its reply arrived, so delays
           are rounded up by up to one poll (~5 ms).
  cpu      the agent at interval=1.0 (one new sample a second, plus the TUI's own once-a-second
           refresh of /proc figures); the TUI's utime+stime from /proc/PID/stat over 60 s (30 s
           with --quick), as a percentage of one core. Twice: against a real agent that just
           started (a new session, a few dozen points), and against a stand-in agent of this
           script that sends 4096 samples of history first (the TUI's ring full, as after 68
           minutes) and then one sample a second: the steady state of a long session.
  memory   the agent at interval=0.02 (0.01 with --quick), which fills the TUI's 4096-point
           model ring in about 80 s (40 s) - a long session in fast-forward. VmRSS of the TUI
           after 10 s, when the ring is full, and at the end; bounded = it grows by less than
           1 MiB (or 2%) after the ring is full.
cpu and memory run side by side (each figure is of its own TUI process); latency runs alone.

Exit status: 0 whenever the measurements ran (a missed target is printed, loudly); 1 on
errors; 2 on a bad command line. Standard library only.
"""
import argparse
import os
import platform
import select
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEADER = struct.Struct("<IHH")
FRAME_CLIENT_HELLO, FRAME_STRING, FRAME_SAMPLE, FRAME_HISTORY_END = 2, 3, 4, 9
FLAG_HISTORY = 1
# SAMPLE: u32 seq, 8 x u64 (wall, mono, rss, peak, heap, census, tracked, agent), u8 gc,
# 9 x u64 gc stats, u64 garbage, u32 types_total, u8 complete, u32 ntypes, rows.
SAMPLE_HEAD = struct.Struct("<I8QB9QQIBI")
TYPE_ROW = struct.Struct("<IQQ")
RING_POINTS = 4096  # MODEL_POINTS in tui/app.c

CPU_TARGET_PCT = 1.0
LATENCY_TARGET_MS = 100.0
MEM_GROWTH_BYTES, MEM_GROWTH_FRACTION = 1 << 20, 0.02

SERVICE = r'''
import os, sys, time
import leaktop

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from machine_load import say_busy  # noqa: E402
leaktop.start(interval=float(sys.argv[1]))

class Marker:           # one more every 5 ms: every sample sees a count of its own
    pass
class Session:          # a slow leak, as a service under watch would have
    pass
class Row:              # churn: made and dropped every step
    def __init__(self, i):
        self.i = i
        self.cells = [i, str(i)]

markers, sessions = [], []
print("ready %d" % os.getpid(), flush=True)
i = 0
while True:
    markers.append(Marker())
    if i % 20 == 0:
        sessions.append(Session())
    rows = [Row(k) for k in range(40)]
    i += 1
    time.sleep(0.005)
'''


def cpu_ticks(pid):
    """utime + stime of pid, in clock ticks."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def rss_bytes(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS for pid %d" % pid)


def mib(n):
    return "%.1f MiB" % (n / 1048576.0)


class Bench:
    def __init__(self, build):
        self.leaktop = os.path.join(build, "leaktop")
        self.agent = os.path.join(build, "agent")
        if not os.access(self.leaktop, os.X_OK):
            raise SystemExit("bench/tui.py: no %s (build first: meson setup build && ninja -C "
                             "build)" % self.leaktop)
        if shutil.which("tmux") is None:
            raise SystemExit("bench/tui.py: needs tmux (apt-get install tmux)")
        self.tmp = tempfile.mkdtemp(prefix="leaktop-bench-tui-")
        self.runtime = os.path.join(self.tmp, "run")
        os.mkdir(self.runtime, 0o700)
        self.tmux_sock = "leaktop-bench-%d" % os.getpid()
        self.procs = []
        self.service_path = os.path.join(self.tmp, "service.py")
        with open(self.service_path, "w") as f:
            f.write(SERVICE)

    # -- processes --------------------------------------------------------------------------
    def env(self):
        env = dict(os.environ)
        env.update(XDG_RUNTIME_DIR=self.runtime, TMUX_TMPDIR=self.tmp, LANG="C.UTF-8",
                   LC_ALL="C.UTF-8", TERM="xterm-256color")
        for k in ("LEAKTOP_READY_FD", "LEAKTOP_OPTIONS", "LEAKTOP_AUTOSTART", "TMUX",
                  "NO_COLOR", "LEAKTOP_ASCII"):
            env.pop(k, None)
        return env

    def service(self, interval):
        env = self.env()
        env["PYTHONPATH"] = self.agent
        p = subprocess.Popen([sys.executable, self.service_path, str(interval)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             start_new_session=True)
        self.procs.append(p)
        line = p.stdout.readline().decode()
        if not line.startswith("ready"):
            raise RuntimeError("the service did not start: %s" % p.stderr.read().decode())
        pid = int(line.split()[1])
        sock = os.path.join(self.runtime, "leaktop", "%d.sock" % pid)
        deadline = time.monotonic() + 10
        while not os.path.exists(sock) and time.monotonic() < deadline:
            time.sleep(0.02)
        return pid

    def tmux(self, *args):
        return subprocess.run(["tmux", "-L", self.tmux_sock] + list(args), env=self.env(),
                              capture_output=True, text=True)

    def tui(self, name, pid, wait_for="__main__."):
        """`leaktop PID` in a new tmux session; returns the TUI's pid."""
        # tmux gives a pane its own TERM: the terminal's variables go on the command line.
        cmd = "exec env TERM=xterm-256color LANG=C.UTF-8 LC_ALL=C.UTF-8 XDG_RUNTIME_DIR=%s %s %d" % (
            self.runtime, self.leaktop, pid)
        r = self.tmux("-f", "/dev/null", "new-session", "-d", "-s", name, "-x", "100", "-y",
                      "30", cmd)
        if r.returncode != 0:
            raise RuntimeError("tmux: %s" % r.stderr)
        self.tmux("set-option", "-t", name, "status", "off")
        tui_pid = int(self.tmux("display-message", "-p", "-t", name, "#{pane_pid}").stdout)
        deadline = time.monotonic() + 10
        while True:  # the pane's shell execs env, which execs leaktop
            with open("/proc/%d/comm" % tui_pid) as f:
                if f.read().strip() == "leaktop":
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("the pane's process never became leaktop")
            time.sleep(0.02)
        self.wait_screen(name, wait_for)
        return tui_pid

    def screen(self, name):
        return self.tmux("capture-pane", "-p", "-t", name).stdout

    def wait_screen(self, name, text, timeout=20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s = self.screen(name)
            if text in s:
                return s
            time.sleep(0.05)
        raise RuntimeError("the TUI never showed %r; it shows:\n%s" % (text, self.screen(name)))

    def keys(self, name, *keys):
        for k in keys:
            self.tmux("send-keys", "-t", name, k)
            time.sleep(0.1)

    def close(self):
        self.tmux("kill-server")
        for p in self.procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except OSError:
                    pass
                p.wait()
            for s in (p.stdout, p.stderr):
                if s:
                    s.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


# -- a raw protocol client: the samples as the agent took them ----------------------------
class SampleReader(threading.Thread):
    """Reads the live SAMPLE frames of pid (history ones too when asked):
    (seq, wall_ns, count of type_name)."""

    def __init__(self, runtime, pid, type_name, history=False):
        super().__init__(daemon=True)
        self.history = history
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(os.path.join(runtime, "leaktop", "%d.sock" % pid))
        name = b"bench/tui.py"
        payload = b"LKTP" + struct.pack("<HHI", 1, 0, len(name)) + name
        self.sock.sendall(HEADER.pack(len(payload), FRAME_CLIENT_HELLO, 0) + payload)
        self.type_name = type_name.encode()
        self.type_id = None
        self.samples = []
        self.stop = False

    def run(self):
        data = b""
        self.sock.settimeout(0.5)
        while not self.stop:
            try:
                chunk = self.sock.recv(1 << 16)
            except socket.timeout:
                continue
            except OSError:
                break
            if not chunk:
                break
            data += chunk
            off = 0
            while len(data) - off >= HEADER.size:
                n, t, flags = HEADER.unpack_from(data, off)
                if len(data) - off - HEADER.size < n:
                    break
                self.frame(t, flags, data[off + HEADER.size: off + HEADER.size + n])
                off += HEADER.size + n
            data = data[off:]

    def frame(self, t, flags, p):
        if t == FRAME_STRING:
            sid, n = struct.unpack_from("<II", p)
            if p[8:8 + n] == self.type_name:
                self.type_id = sid
        elif t == FRAME_SAMPLE and (self.history or not flags & FLAG_HISTORY):
            head = SAMPLE_HEAD.unpack_from(p)
            seq, wall_ns, ntypes = head[0], head[1], head[-1]
            count = None
            for i in range(ntypes):
                name_id, c, _ = TYPE_ROW.unpack_from(p, SAMPLE_HEAD.size + i * TYPE_ROW.size)
                if name_id == self.type_id:
                    count = c
            self.samples.append((seq, wall_ns, count))


# -- a tmux control-mode client: cheap captures --------------------------------------------
class Capturer:
    def __init__(self, bench, name):
        self.name = name
        self.p = subprocess.Popen(["tmux", "-L", bench.tmux_sock, "-C", "attach", "-f",
                                   "no-output", "-t", name], env=bench.env(),
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
        bench.procs.append(self.p)
        self.buf = b""
        self.block()  # the reply to the attach itself

    def line(self, deadline):
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.p.stdout], [], [], left)[0]:
                raise RuntimeError("tmux control mode stopped answering")
            chunk = os.read(self.p.stdout.fileno(), 1 << 16)
            if not chunk:
                raise RuntimeError("tmux control mode ended")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line

    def block(self):
        deadline = time.monotonic() + 5
        while not self.line(deadline).startswith(b"%begin"):
            pass
        out = []
        while True:
            line = self.line(deadline)
            if line.startswith(b"%end") or line.startswith(b"%error"):
                return b"\n".join(out).decode("utf-8", "replace")
            out.append(line)

    def capture(self):
        self.p.stdin.write(b"capture-pane -p -t " + self.name.encode() + b"\n")
        return self.block()

    def close(self):
        try:
            self.p.stdin.close()
        except OSError:
            pass


def count_on_screen(text, type_name):
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == type_name:
            try:
                return int(parts[1].replace(",", ""))
            except ValueError:
                return None
    return None


def measure_latency(b, seconds):
    pid = b.service(0.5)
    b.tui("lat", pid)
    b.keys("lat", "2", "/", "M", "a", "r", "k", "e", "r", "Enter")
    b.wait_screen("lat", "filter: Marker")
    reader = SampleReader(b.runtime, pid, "__main__.Marker")
    reader.start()
    cap = Capturer(b, "lat")
    seen = {}  # count -> wall ns it was first seen at
    polls = 0
    start_ns = time.time_ns()
    t_end = time.monotonic() + seconds
    t_stop = t_end + 1.0  # go on polling a second after the last sample counted
    next_poll = time.monotonic()
    while time.monotonic() < t_stop:
        text = cap.capture()
        now = time.time_ns()
        polls += 1
        c = count_on_screen(text, "__main__.Marker")
        if c is not None and c not in seen:
            seen[c] = now
        next_poll += 0.005
        delay = next_poll - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        else:
            next_poll = time.monotonic()
    end_ns = time.time_ns() - 1000000000
    reader.stop = True
    reader.join(2)
    cap.close()
    # Samples taken while the screen was watched; the first may have been drawn before.
    samples = [s for s in reader.samples
               if s[2] is not None and start_ns + 100000000 <= s[1] <= end_ns]
    delays, missed = [], 0
    for seq, wall_ns, count in samples:
        if count in seen:
            delays.append((seen[count] - wall_ns) / 1e6)
        else:
            missed += 1
    return {"samples": len(samples), "missed": missed, "delays": delays,
            "poll_ms": (seconds + 1.0) * 1000.0 / max(1, polls)}


# -- a stand-in agent with a long history: the TUI's ring full from the first second -------
class LongSessionAgent(threading.Thread):
    """Serves this process's agent socket as an agent would after 4096 samples at interval=1.0:
    HELLO, the type names, 4096 history samples (RING_POINTS, one second apart: the TUI's ring
    full), HISTORY_END, then one live sample a second. 150 types as a small service has: five
    leak steadily, twenty wobble, the rest hold still. Real agents cannot get there in less
    than 68 minutes."""

    NTYPES = 150

    def __init__(self, runtime):
        super().__init__(daemon=True)
        self.pid = os.getpid()
        d = os.path.join(runtime, "leaktop")
        os.makedirs(d, mode=0o700, exist_ok=True)
        self.path = os.path.join(d, "%d.sock" % self.pid)
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        os.chmod(self.path, 0o600)
        self.listener.listen(1)
        self.stop = False
        self.start_wall = time.time_ns() - RING_POINTS * 1000000000
        self.start_mono = time.monotonic_ns() - RING_POINTS * 1000000000

    @staticmethod
    def frame(t, payload, flags=0):
        return HEADER.pack(len(payload), t, flags) + payload

    @staticmethod
    def text(s):
        b = s.encode()
        return struct.pack("<I", len(b)) + b

    def sample(self, k, history):
        rows = []
        for i in range(self.NTYPES):
            if i < 5:
                count = 1000 + (i + 1) * 3 * k             # leaks
            elif i < 25:
                count = 500 + (k * 7919 + i * 104729) % 41  # wobbles
            else:
                count = 50 + i                               # holds still
            rows.append(TYPE_ROW.pack(i + 1, count, count * 56))
        gc = [10 * k, k, k // 10, 0, 0, 0, 0, 0, 0]
        head = SAMPLE_HEAD.pack(
            k, self.start_wall + k * 1000000000, self.start_mono + k * 1000000000,
            (60 << 20) + k * 4096, (60 << 20) + k * 4096, (30 << 20) + k * 2048, 2000000,
            200000, 500000, 1, *gc, 0, self.NTYPES, 1, self.NTYPES)
        return self.frame(FRAME_SAMPLE, head + b"".join(rows), FLAG_HISTORY if history else 0)

    def run(self):
        self.listener.settimeout(30)
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        hello = (b"LKTP" + struct.pack("<HHIIQI", 1, 0, self.pid, 1000, self.start_wall,
                                       RING_POINTS) +
                 self.text(platform.python_version()) + self.text("bench") +
                 self.text(sys.executable) + struct.pack("<I", 1) + self.text("long-session"))
        out = [self.frame(1, hello)]  # HELLO
        for i in range(self.NTYPES):
            out.append(self.frame(FRAME_STRING, struct.pack("<I", i + 1) +
                                  self.text("service.models.Kind%03d" % i)))
        out.extend(self.sample(k, True) for k in range(RING_POINTS))
        out.append(self.frame(FRAME_HISTORY_END, b""))
        conn.setblocking(True)
        try:
            conn.sendall(b"".join(out))
            k = RING_POINTS
            next_t = time.monotonic() + 1.0
            while not self.stop:
                time.sleep(max(0.0, next_t - time.monotonic()))
                conn.sendall(self.sample(k, False))
                k += 1
                next_t += 1.0
                try:  # drain whatever the viewer sent (its CLIENT_HELLO)
                    conn.setblocking(False)
                    while conn.recv(4096):
                        pass
                except OSError:
                    pass
                conn.setblocking(True)
        except OSError:
            pass
        finally:
            conn.close()


class CpuMem(threading.Thread):
    """One TUI at interval=1.0 for CPU, one at a fast interval for memory, side by side."""

    def __init__(self, b, cpu_seconds, mem_interval, mem_seconds):
        super().__init__(daemon=True)
        self.b, self.cpu_seconds, self.mem_seconds = b, cpu_seconds, mem_seconds
        self.cpu_tui = b.tui("cpu", b.service(1.0))
        self.fake = LongSessionAgent(b.runtime)
        self.fake.start()
        self.long_tui = b.tui("long", self.fake.pid, wait_for="service.models.")
        mem_pid = b.service(mem_interval)
        # Counts what the agent sends (history included): when the TUI's ring is full.
        self.counter = SampleReader(b.runtime, mem_pid, "__main__.Marker", history=True)
        self.counter.start()
        self.mem_tui = b.tui("mem", mem_pid)
        self.error = None

    def run(self):
        try:
            self.measure()
        except Exception as e:  # reported by the main thread
            self.error = e

    def measure(self):
        b = self.b
        t0 = time.monotonic()
        hz = os.sysconf("SC_CLK_TCK")
        time.sleep(2.0)  # past the start-up: history, first layout
        c0, w0 = cpu_ticks(self.cpu_tui), time.monotonic()
        m0, l0 = cpu_ticks(self.mem_tui), cpu_ticks(self.long_tui)
        self.cpu = None
        self.rss = []  # (seconds since the memory TUI started, VmRSS, samples sent to it)
        end = t0 + self.mem_seconds
        while time.monotonic() < end or self.cpu is None:
            now = time.monotonic()
            if self.cpu is None and now - w0 >= self.cpu_seconds:
                self.cpu = 100.0 * (cpu_ticks(self.cpu_tui) - c0) / hz / (now - w0)
                self.long_cpu = 100.0 * (cpu_ticks(self.long_tui) - l0) / hz / (now - w0)
                self.cpu_screen_ok = "__main__." in b.screen("cpu")
                self.long_screen_ok = "service.models." in b.screen("long")
                self.fake.stop = True
            if now < end:
                self.rss.append((now - t0, rss_bytes(self.mem_tui), len(self.counter.samples)))
            time.sleep(1.0)
        self.mem_cpu = 100.0 * (cpu_ticks(self.mem_tui) - m0) / hz / (time.monotonic() - w0)
        self.counter.stop = True
        words = b.screen("mem").split()
        self.mem_drops = None
        for word, nxt in zip(words, words[1:]):
            if word == "drop":
                self.mem_drops = nxt


def rss_when(rss, pred):
    """The first (seconds, VmRSS, samples) entry that satisfies pred, else the last."""
    for entry in rss:
        if pred(entry):
            return entry
    return rss[-1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("build", nargs="?", default=os.environ.get("LEAKTOP_BUILD",
                                                               os.path.join(REPO, "build")))
    ap.add_argument("--quick", action="store_true", help="about a minute instead of three")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    lat_s, cpu_s = (15, 30) if a.quick else (30, 60)
    mem_interval = 0.01 if a.quick else 0.02
    fill_s = RING_POINTS * mem_interval
    mem_s = fill_s + (8 if a.quick else 30)

    print("leaktop TUI benchmark%s: %s, Python %s, %s" % (
        " (--quick)" if a.quick else "", build, platform.python_version(),
        platform.platform(terse=True)))
    say_busy("before")
    b = Bench(build)
    try:
        if a.quick:
            print("latency %d s (interval=0.5), cpu %d s (interval=1.0) and memory %.0f s "
                  "(interval=%g), all side by side ..." % (lat_s, cpu_s, mem_s, mem_interval))
            sys.stdout.flush()
            cm = CpuMem(b, cpu_s, mem_interval, mem_s)
            cm.start()
            lat = measure_latency(b, lat_s)
        else:
            print("latency: %d s at interval=0.5, alone ..." % lat_s)
            sys.stdout.flush()
            lat = measure_latency(b, lat_s)
            print("cpu: %d s at interval=1.0, and memory: %.0f s at interval=%g, side by side ..."
                  % (cpu_s, mem_s, mem_interval))
            sys.stdout.flush()
            cm = CpuMem(b, cpu_s, mem_interval, mem_s)
            cm.start()
        cm.join()
        if cm.error is not None:
            raise cm.error
    finally:
        b.close()
    say_busy("after")

    rows = []
    rows.append(("TUI CPU, 1 sample/s, new session (%d s)" % cpu_s,
                 "%.2f %% of a core" % cm.cpu, "<= %.0f %%" % CPU_TARGET_PCT,
                 cm.cpu <= CPU_TARGET_PCT and cm.cpu_screen_ok))
    rows.append(("TUI CPU, 1 sample/s, ring full (%d s)" % cpu_s,
                 "%.2f %% of a core" % cm.long_cpu, "<= %.0f %%" % CPU_TARGET_PCT,
                 cm.long_cpu <= CPU_TARGET_PCT and cm.long_screen_ok))
    d = sorted(lat["delays"])
    if d:
        p95 = d[min(len(d) - 1, int(round(0.95 * (len(d) - 1))))]
        rows.append(("sample -> screen, median (%d samples)" % len(d),
                     "%.1f ms" % statistics.median(d), "", None))
        rows.append(("sample -> screen, p95", "%.1f ms" % p95, "<= %.0f ms" % LATENCY_TARGET_MS,
                     p95 <= LATENCY_TARGET_MS))
        rows.append(("sample -> screen, worst", "%.1f ms" % d[-1], "", None))
    else:
        rows.append(("sample -> screen", "none seen", "<= %.0f ms" % LATENCY_TARGET_MS, False))
    if lat["missed"]:
        rows.append(("samples never on screen", "%d of %d" % (lat["missed"], lat["samples"]),
                     "0", False))
    rss = cm.rss
    t10, r10, _ = rss_when(rss, lambda e: e[0] >= 10)
    tfull, rfull, nfull = rss_when(rss, lambda e: e[2] >= RING_POINTS)
    tend, rend, nend = rss[-1]
    allowed = max(MEM_GROWTH_BYTES, MEM_GROWTH_FRACTION * rfull)
    full = nfull >= RING_POINTS
    rows.append(("TUI RSS after %.0f s" % t10, mib(r10), "", None))
    rows.append(("TUI RSS, ring full (%.0f s, %d samples)" % (tfull, nfull), mib(rfull), "",
                 None))
    rows.append(("TUI RSS at the end (%.0f s, %d samples)" % (tend, nend), mib(rend),
                 "< +%s after full" % mib(allowed), full and rend - rfull < allowed))

    w = max(len(r[0]) for r in rows)
    print()
    print("%-*s  %-18s %-22s %s" % (w, "measure", "measured", "target", "verdict"))
    for name, value, target, ok in rows:
        verdict = "" if ok is None else "PASS" if ok else "TARGET MISSED"
        print("%-*s  %-18s %-22s %s" % (w, name, value, target, verdict))
    print()
    print("screen polled every %.1f ms; the memory TUI used %.1f %% of a core at %.0f samples "
          "a second, and the agent dropped %s frames for it%s" % (
              lat["poll_ms"], cm.mem_cpu, 1.0 / mem_interval,
              cm.mem_drops if cm.mem_drops is not None else "?",
              "" if full else "; the ring never filled: the memory verdict is void"))
    step = max(1, len(rss) // 8)
    print("VmRSS of the memory TUI: " + ", ".join(
        "%.0f s %s" % (t, mib(v)) for t, v, _ in rss[::step] + [rss[-1]]))
    if not all(ok for _, _, _, ok in rows if ok is not None):
        print("\n*** TARGET MISSED: see above ***")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(1)
    except (RuntimeError, OSError) as e:
        print("bench/tui.py: %s" % e, file=sys.stderr)
        sys.exit(1)
