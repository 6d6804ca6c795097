#!/usr/bin/env python3
"""valgrind memcheck of leaktop's own code inside real processes.

    python3 tests/valgrind/run_valgrind.py [SCENARIO...]      (default: all of them)

Scenarios:
  start-stop  one Python process under valgrind runs leaktop.start()/stop() $LEAKTOP_VG_CYCLES
              times (default 1000) with the allocation sampler on and allocations in between.
  connect     one Python process under valgrind runs the agent (sampler on, allocations
              churning) while a client in a second process (not under valgrind) connects
              $LEAKTOP_VG_CONNECTS times (default 10000): CLIENT_HELLO, read a little, close;
              three in ten differ (no hello, closing unread, a PING), and every thousandth
              opens sixteen at once.
  viewer      the leaktop binary under valgrind: `check --json` and `record` against a running
              agent, and `check -- CMD` launching its program.

Python runs with PYTHONMALLOC=malloc (pymalloc would hide blocks from valgrind) and
tests/valgrind/python.supp quiets CPython's own noise. The run FAILS when
  - any "definitely lost" record has a frame in leaktop's code (the agent module
    leaktop.cpython-*.so, or the leaktop binary),
  - any memory error (invalid read/write/free, use of uninitialised memory, bad syscall
    argument) has a frame in leaktop's code,
  - a scenario did not complete (crash, wrong output, timeout), or valgrind left no XML.
Definite leaks and errors entirely inside CPython or libc are listed but do not fail the run.

Environment: LEAKTOP_BIN, LEAKTOP_AGENT, LEAKTOP_PYTHONS as in tests/integration (meson sets
them), LEAKTOP_VG_CYCLES, LEAKTOP_VG_CONNECTS, LEAKTOP_VG_KEEP=1 keeps the XML files (their
directory is printed). Without valgrind the run is skipped (exit 77) unless CI or
LEAKTOP_REQUIRE_VALGRIND is set, in which case it fails. Standard library only.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
LEAKTOP = os.environ.get("LEAKTOP_BIN", os.path.join(ROOT, "build", "leaktop"))
AGENT_DIR = os.environ.get("LEAKTOP_AGENT", os.path.join(os.path.dirname(LEAKTOP), "agent"))
PYTHONS = [p for p in os.environ.get("LEAKTOP_PYTHONS", "python3").split(":") if p]
SUPP = os.path.join(HERE, "python.supp")
CYCLES = int(os.environ.get("LEAKTOP_VG_CYCLES", "1000"))
CONNECTS = int(os.environ.get("LEAKTOP_VG_CONNECTS", "10000"))

LEAK_KINDS = ("Leak_DefinitelyLost",)
# Every memcheck error kind that is not a leak summary: all of them count against leaktop.
AGENT_SO = re.compile(r"(^|/)leaktop\.cpython-[^/]*\.so$")

START_STOP = r'''
import os, sys, leaktop
n = int(sys.argv[1])
keep = []
for i in range(n):
    # The sampler on (small interval: it samples), a census at once (interval 0.01 s).
    leaktop.start(interval=0.01, sample_bytes=2048, frames=16, history=1)
    junk = [bytearray(64 + i % 200) for _ in range(40)]
    keep.append(junk[:2])
    if len(keep) > 50:
        del keep[:25]
    assert leaktop.is_running()
    leaktop.stop()
    assert not leaktop.is_running()
print("cycles %d" % n, flush=True)
'''

TARGET = r'''
import os, sys, time, leaktop
leaktop.start(interval=0.1, sample_bytes=4096, frames=16, history=5)
print("ready %d %s" % (os.getpid(), leaktop.socket_path()), flush=True)
held = []
def churn(i):
    held.append([{"k": j, "v": "x" * (i % 50)} for j in range(20)])
    if len(held) > 100:
        del held[:50]
i = 0
while not os.path.exists(sys.argv[1]):
    churn(i)
    i += 1
    time.sleep(0.02)   # a mostly idle main thread: valgrind runs one thread at a time
print("running=%s" % leaktop.is_running(), flush=True)
'''

# The client for `connect`: plain Python, not under valgrind. Prints "ok N" when every
# connection that said hello got a HELLO frame first.
CLIENT = r'''
import socket, struct, sys, time
path, n = sys.argv[1], int(sys.argv[2])
name = b"valgrind-client"
payload = b"LKTP" + struct.pack("<HHI", 1, 0, len(name)) + name
HELLO = struct.pack("<IHH", len(payload), 2, 0) + payload
PING = struct.pack("<IHH", 6, 6, 0) + struct.pack("<HI", 1, 0)

def conn():
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(60)
    s.connect(path)
    return s

def read_until(s, want_type, limit=1 << 22):
    data = b""
    while len(data) < limit:
        off = 0
        while len(data) - off >= 8:
            ln, t, _ = struct.unpack_from("<IHH", data, off)
            if len(data) - off - 8 < ln:
                break
            if t == want_type:
                return True
            off += 8 + ln
        chunk = s.recv(65536)
        if not chunk:
            return False
        data += chunk
    return False

bad = 0
t0 = time.monotonic()
for i in range(n):
    kind = i % 10
    s = conn()
    try:
        if kind == 1:                 # never says hello: closed at once
            pass
        elif kind == 2:               # hello, then gone without reading a byte
            s.sendall(HELLO)
        elif kind == 3:               # hello and a PING, read up to its REPLY
            s.sendall(HELLO + PING)
            bad += not read_until(s, 7)
        elif kind == 4 and i % 1000 == 4:  # sixteen at once
            more = [conn() for _ in range(16)]
            for m in more:
                m.sendall(HELLO)
            for m in more:
                head = m.recv(8)
                bad += len(head) < 8 or struct.unpack("<IHH", head)[1] != 1
                m.close()
        else:                         # hello, read a little, close
            s.sendall(HELLO)
            head = s.recv(4096)
            bad += len(head) < 8 or struct.unpack_from("<IHH", head)[1] != 1
    finally:
        s.close()
    if i % 1000 == 999:
        sys.stderr.write("%d connections: %.1f s\n" % (i + 1, time.monotonic() - t0))
print("ok %d bad %d %.1f s" % (n, bad, time.monotonic() - t0), flush=True)
sys.exit(1 if bad else 0)
'''

HOLDER = r'''
import os, sys, time, leaktop
leaktop.start(interval=0.1, sample_bytes=8192)
class Session: pass
held = []
print("ready %d" % os.getpid(), flush=True)
for _ in range(int(float(sys.argv[1]) * 20)):
    held.extend(Session() for _ in range(50))
    time.sleep(0.05)
'''


class Failure(Exception):
    pass


def say(msg):
    print(msg, flush=True)


def is_leaktop_obj(obj):
    if not obj:
        return False
    if AGENT_SO.search(obj):
        return True
    try:
        return os.path.realpath(obj) == os.path.realpath(LEAKTOP)
    except OSError:
        return False


def frames_of(stack):
    out = []
    if stack is None:
        return out
    for f in stack.iter("frame"):
        out.append({"obj": f.findtext("obj") or "", "fn": f.findtext("fn") or "???",
                    "file": f.findtext("file") or "", "line": f.findtext("line") or ""})
    return out


def describe(frames, n=12):
    lines = []
    for f in frames[:n]:
        where = "%s:%s" % (f["file"], f["line"]) if f["file"] else os.path.basename(f["obj"])
        lines.append("      %s (%s)" % (f["fn"], where))
    return "\n".join(lines)


def parse_xml(path):
    """[(kind, text, frames)] of every error record valgrind wrote (leaks included)."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as e:
        raise Failure("valgrind left no readable XML at %s: %s" % (path, e))
    if root.find("status") is None:
        raise Failure("%s is not a complete valgrind XML file" % path)
    errors = []
    for e in root.iter("error"):
        kind = e.findtext("kind") or "?"
        text = e.findtext("xwhat/text") or e.findtext("what") or ""
        errors.append((kind, text, frames_of(e.find("stack"))))
    return errors


def judge(name, xml_path):
    """Print what valgrind found; raise Failure when leaktop's code is implicated."""
    errors = parse_xml(xml_path)
    ours_leaks, ours_errors, other_leaks, other_errors = [], [], [], []
    for kind, text, frames in errors:
        ours = any(is_leaktop_obj(f["obj"]) for f in frames)
        if kind.startswith("Leak_"):
            if kind in LEAK_KINDS:
                (ours_leaks if ours else other_leaks).append((kind, text, frames))
        else:
            (ours_errors if ours else other_errors).append((kind, text, frames))
    say("  %s: %d definitely-lost records in leaktop's code, %d memory errors in leaktop's "
        "code; outside it (CPython, libc): %d definitely-lost, %d errors"
        % (name, len(ours_leaks), len(ours_errors), len(other_leaks), len(other_errors)))
    for kind, text, frames in (other_leaks + other_errors)[:10]:
        say("    (not leaktop's) %s: %s\n%s" % (kind, text, describe(frames, 6)))
    problems = ours_leaks + ours_errors
    for kind, text, frames in problems[:20]:
        say("    LEAKTOP %s: %s\n%s" % (kind, text, describe(frames)))
    if len(problems) > 20:
        say("    ... and %d more (LEAKTOP_VG_KEEP=1 keeps the XML)" % (len(problems) - 20))
    if problems:
        raise Failure("%s: valgrind found %d problem(s) in leaktop's code (above)"
                      % (name, len(problems)))


class Runner:
    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="leaktop-vg-")
        self.runtime = os.path.join(self.tmp, "run")
        os.mkdir(self.runtime, 0o700)
        self.python = PYTHONS[0]
        self.env = dict(os.environ)
        self.env.update(XDG_RUNTIME_DIR=self.runtime, PYTHONPATH=AGENT_DIR,
                        PYTHONMALLOC="malloc", PYTHONDONTWRITEBYTECODE="1")
        for k in ("LEAKTOP_OPTIONS", "LEAKTOP_READY_FD", "PYTHONDEVMODE", "PYTHONTRACEMALLOC"):
            self.env.pop(k, None)
        self.procs = []

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        if os.environ.get("LEAKTOP_VG_KEEP"):
            say("valgrind output kept in %s" % self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def write(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def valgrind(self, name, argv):
        xml = os.path.join(self.tmp, name + ".xml")
        return xml, ["valgrind", "--tool=memcheck", "--leak-check=full",
                     "--show-leak-kinds=definite", "--errors-for-leak-kinds=definite",
                     "--num-callers=40", "--child-silent-after-fork=yes",
                     "--suppressions=" + SUPP, "--xml=yes", "--xml-file=" + xml] + argv

    def run_vg(self, name, argv, timeout, env=None):
        xml, cmd = self.valgrind(name, argv)
        t0 = time.monotonic()
        try:
            r = subprocess.run(cmd, env=env or self.env, capture_output=True, text=True,
                               timeout=timeout)
        except subprocess.TimeoutExpired:
            raise Failure("%s: still running after %d s under valgrind" % (name, timeout))
        return r, xml, time.monotonic() - t0

    # -- scenarios --------------------------------------------------------------------------
    def start_stop(self):
        prog = self.write("start_stop.py", START_STOP)
        r, xml, secs = self.run_vg("start-stop", [self.python, prog, str(CYCLES)],
                                   timeout=max(300, CYCLES))
        say("start-stop: %d leaktop.start()/stop() cycles under valgrind in %.1f s"
            % (CYCLES, secs))
        if r.returncode != 0 or ("cycles %d" % CYCLES) not in r.stdout:
            raise Failure("start-stop: the program failed (exit %s)\nstdout: %s\nstderr: %s"
                          % (r.returncode, r.stdout[-2000:], r.stderr[-4000:]))
        judge("start-stop", xml)

    def connect(self):
        prog = self.write("target.py", TARGET)
        client = self.write("client.py", CLIENT)
        stop_file = os.path.join(self.tmp, "stop-target")
        xml, cmd = self.valgrind("connect", [self.python, prog, stop_file])
        t0 = time.monotonic()
        out_path = os.path.join(self.tmp, "target.out")
        err_path = os.path.join(self.tmp, "target.err")
        with open(out_path, "w") as out, open(err_path, "w") as err:
            p = subprocess.Popen(cmd, env=self.env, stdout=out, stderr=err)
        self.procs.append(p)
        deadline = time.monotonic() + 120
        ready = None
        while ready is None and time.monotonic() < deadline and p.poll() is None:
            with open(out_path) as f:
                for line in f:
                    if line.startswith("ready "):
                        ready = line.split()
            time.sleep(0.1)
        if ready is None:
            raise Failure("connect: the target under valgrind never got ready\n%s"
                          % open(err_path).read()[-4000:])
        sock = ready[2]
        client_env = dict(self.env)
        client_env.pop("PYTHONMALLOC")
        try:
            c = subprocess.run([self.python, client, sock, str(CONNECTS)], env=client_env,
                               capture_output=True, text=True, timeout=max(300, CONNECTS / 10))
        except subprocess.TimeoutExpired:
            raise Failure("connect: the client was still connecting after %d s"
                          % max(300, CONNECTS / 10))
        open(stop_file, "w").close()
        try:
            p.wait(timeout=120)
        except subprocess.TimeoutExpired:
            raise Failure("connect: the target did not exit after its stop file")
        secs = time.monotonic() - t0
        out = open(out_path).read()
        say("connect: %d connect/disconnect cycles against the agent under valgrind in %.1f s "
            "(client: %s)" % (CONNECTS, secs, c.stdout.strip()))
        if c.stderr.strip():
            say("  " + c.stderr.strip().replace("\n", "; "))
        if c.returncode != 0:
            raise Failure("connect: the client saw bad answers: %s %s" % (c.stdout, c.stderr))
        if p.returncode != 0 or "running=True" not in out:
            raise Failure("connect: the target failed (exit %s)\nstdout: %s\nstderr: %s"
                          % (p.returncode, out[-2000:], open(err_path).read()[-4000:]))
        judge("connect", xml)

    def viewer(self):
        holder = self.write("holder.py", HOLDER)
        env = dict(self.env)
        env.pop("PYTHONMALLOC")
        p = subprocess.Popen([self.python, holder, "120"], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        self.procs.append(p)
        line = p.stdout.readline()
        if not line.startswith("ready"):
            raise Failure("viewer: the target did not start: %s %s" % (line, p.stderr.read()))
        pid = line.split()[1]
        rec = os.path.join(self.tmp, "rec.lktp")
        runs = [
            ("viewer-check-pid", [LEAKTOP, "check", "--json", "--duration", "3", "--pid", pid],
             (0, 1)),
            ("viewer-record", [LEAKTOP, "record", "-o", rec, "--duration", "3", "--pid", pid],
             (0,)),
            ("viewer-check-launch", [LEAKTOP, "check", "--json", "--duration", "3",
                                     "--interval", "0.2", "--", self.python, holder, "60"],
             (0, 1)),
        ]
        t0 = time.monotonic()
        failures = []
        for name, argv, ok in runs:
            r, xml, secs = self.run_vg(name, argv, timeout=300, env=env)
            try:
                if r.returncode not in ok:
                    raise Failure("%s: leaktop exited %d\n%s"
                                  % (name, r.returncode, r.stderr[-3000:]))
                judge(name, xml)
            except Failure as e:
                failures.append(str(e))
        p.kill()
        p.wait()
        say("viewer: the leaktop binary (check --pid, record, check -- CMD) under valgrind in "
            "%.1f s" % (time.monotonic() - t0))
        if failures:
            raise Failure("; ".join(failures))


SCENARIOS = {"start-stop": Runner.start_stop, "connect": Runner.connect,
             "viewer": Runner.viewer}


def main(argv):
    names = argv[1:] or list(SCENARIOS)
    for n in names:
        if n not in SCENARIOS:
            print("usage: run_valgrind.py [%s]..." % " | ".join(SCENARIOS), file=sys.stderr)
            return 2
    if shutil.which("valgrind") is None:
        if os.environ.get("CI") or os.environ.get("LEAKTOP_REQUIRE_VALGRIND"):
            print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
            return 1
        print("SKIP: valgrind is not installed", file=sys.stderr)
        return 77
    r = Runner()
    failed = []
    try:
        for n in names:
            try:
                SCENARIOS[n](r)
            except Failure as e:
                say("FAIL %s" % e)
                failed.append(n)
    finally:
        r.close()
    if failed:
        say("valgrind: FAILED: %s" % ", ".join(failed))
        return 1
    say("valgrind: nothing definitely lost, no memory error in leaktop's code (%s)"
        % ", ".join(names))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
