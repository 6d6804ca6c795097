"""Shared helpers for leaktop's integration tests: the real binary against real Python processes.

Standard library only. Every process a test starts is tracked and ended by pid in tearDown;
every file lives in the test's own temporary directory (XDG_RUNTIME_DIR points there too, so
agent sockets never touch the machine's real runtime directory).

Environment (set by tests/integration/meson.build):
  LEAKTOP_BIN       the leaktop binary under test
  LEAKTOP_AGENT     the directory holding the agent modules and their bootstrap
  LEAKTOP_PYTHONS   colon-separated interpreters the agent was built for
  LEAKTOP_SANITIZE  set for a sanitized build (its b_sanitize, e.g. "address,undefined"), with
  LEAKTOP_SANITIZER_PRELOAD  the runtimes an uninstrumented Python must preload (colon-separated)

Sanitized builds. The leaktop binary is instrumented and links its runtimes; the interpreters are
not, and can load the instrumented agent only with the runtimes preloaded. So PYTHONS are
wrappers (same basename, in a directory of this run) that export LD_PRELOAD and exec the real
interpreter: every Python a test starts, directly, through `leaktop check -- PY` or by
bench/soak.py, gets the preload, and nothing else does (tmux, gdb, prometheus, meson and the
leaktop binary itself never see LD_PRELOAD). ASAN_OPTIONS and UBSAN_OPTIONS are set for every
process the tests start: halt and abort at the first report, and write every report to a file
of this run's log directory (log_path). Leak detection stays on for the leaktop binary; the
wrappers turn it off for Python, which leaves memory behind at exit by design (valgrind,
tests/valgrind, checks the agent's own leaks). tearDown fails the test whenever a report file
appeared, whichever process wrote it and whether or not the test noticed the process dying, and
prints the report. UBSan is the exception: beside a preloaded ASan its log_path is not honoured
(the two runtimes share the symbol that sets it), so its reports go to the process's stderr, and
the process aborts; tearDown also fails when a process the test spawned died of SIGABRT.
`sanitized(why)` skips a test that measures what the sanitizers change.
"""
import atexit
import ctypes
import json
import os
import shlex
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
LEAKTOP = os.environ.get("LEAKTOP_BIN", os.path.join(ROOT, "build", "leaktop"))
AGENT_DIR = os.environ.get("LEAKTOP_AGENT", os.path.join(os.path.dirname(LEAKTOP), "agent"))
PYTHONS = [p for p in os.environ.get("LEAKTOP_PYTHONS", "python3").split(":") if p]
SANITIZE = [s for s in os.environ.get("LEAKTOP_SANITIZE", "").split(",") if s not in ("", "none")]
SANITIZER_LOGS = None


def _sanitized_run():
    """Under a sanitized build: the report directory, the options, and the Python wrappers."""
    global SANITIZER_LOGS, PYTHONS
    run = tempfile.mkdtemp(prefix="leaktop-sanitized-")
    atexit.register(shutil.rmtree, run, True)
    os.chmod(run, 0o755)
    SANITIZER_LOGS = os.path.join(run, "reports")
    os.mkdir(SANITIZER_LOGS)
    os.chmod(SANITIZER_LOGS, 0o1777)   # processes run as another user (runuser) report too
    common = "halt_on_error=1:abort_on_error=1:disable_coredump=1"
    os.environ["ASAN_OPTIONS"] = "%s:detect_leaks=1:log_path=%s/asan" % (common, SANITIZER_LOGS)
    os.environ["UBSAN_OPTIONS"] = "%s:print_stacktrace=1:log_path=%s/ubsan" % (common,
                                                                             SANITIZER_LOGS)
    preload = os.environ.get("LEAKTOP_SANITIZER_PRELOAD", "")
    wrapped = []
    for i, py in enumerate(PYTHONS):
        # The interpreter itself, not a launcher such as pyenv's shim (a shell script that the
        # preload would reach).
        real = subprocess.run([py, "-c", "import sys; print(sys.executable)"], check=True,
                              capture_output=True, text=True).stdout.strip()
        d = os.path.join(run, "python%d" % i)
        os.mkdir(d)
        path = os.path.join(d, os.path.basename(real))
        with open(path, "w") as f:
            f.write('#!/bin/sh\n'
                    '# %s with the sanitizer runtimes preloaded (tests/integration/harness.py)\n'
                    'export LD_PRELOAD=%s\n'
                    'export ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=0"\n'
                    'exec %s "$@"\n' % (real, shlex.quote(preload), shlex.quote(real)))
        os.chmod(path, 0o755)
        wrapped.append(path)
    PYTHONS = wrapped


def _late_reports():
    """At exit: a report written after the last test's tearDown (by a process that outlived it)
    fails this test file's run."""
    names = sorted(os.listdir(SANITIZER_LOGS)) if os.path.isdir(SANITIZER_LOGS) else []
    for name in names:
        with open(os.path.join(SANITIZER_LOGS, name), errors="replace") as f:
            sys.stderr.write("==== sanitizer report after the last test: %s\n%s\n"
                             % (name, f.read()))
    if names:
        sys.stderr.flush()
        os._exit(1)


if SANITIZE:
    _sanitized_run()
    atexit.register(_late_reports)   # runs before the directory is removed (last in, first out)


def sanitized(why):
    """Skip under a sanitized build: the test measures something the sanitizers change."""
    return unittest.skipIf(SANITIZE, "under %s: %s" % ("+".join(SANITIZE), why))

# Wire protocol constants (include/leaktop/proto.h).
HEADER = struct.Struct("<IHH")
FRAME_HELLO, FRAME_CLIENT_HELLO, FRAME_STRING, FRAME_SAMPLE = 1, 2, 3, 4
FRAME_DROPS, FRAME_COMMAND, FRAME_REPLY, FRAME_BYE, FRAME_HISTORY_END = 5, 6, 7, 8, 9
CMD_PING, CMD_GC_COLLECT, CMD_STOP = 1, 2, 3


def python_version(python):
    out = subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def client_hello(name=b"test"):
    payload = b"LKTP" + struct.pack("<HHI", 1, 0, len(name)) + name
    return HEADER.pack(len(payload), FRAME_CLIENT_HELLO, 0) + payload


def command(code, arg=0):
    payload = struct.pack("<HI", code, arg)
    return HEADER.pack(len(payload), FRAME_COMMAND, 0) + payload


def split_frames(data):
    """[(type, flags, payload)], and the number of trailing bytes that form no whole frame."""
    frames, off = [], 0
    while len(data) - off >= HEADER.size:
        n, t, f = HEADER.unpack_from(data, off)
        if len(data) - off - HEADER.size < n:
            break
        frames.append((t, f, data[off + HEADER.size: off + HEADER.size + n]))
        off += HEADER.size + n
    return frames, len(data) - off


# The socket directories outside any test's own XDG_RUNTIME_DIR: the fallback one, and the
# runtime directory of whoever runs the suite.
SHARED_SOCKET_DIRS = ["/tmp/leaktop-%d" % os.geteuid()] + (
    [os.path.join(os.environ["XDG_RUNTIME_DIR"], "leaktop")]
    if os.environ.get("XDG_RUNTIME_DIR") else [])


def stale_socket(path, pid):
    """Is path a socket of ours whose pid is gone and on which nobody listens? (The rule of
    common/sock_sweep.c; another user's socket, or a live one, is never stale.)"""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    if not stat.S_ISSOCK(st.st_mode) or st.st_uid != os.geteuid():
        return False
    try:
        os.kill(pid, 0)
        return False
    except ProcessLookupError:
        pass
    except OSError:
        return False
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.setblocking(False)
    try:
        s.connect(path)
        return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return False
    finally:
        s.close()


_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent():
    """In a child before exec: SIGKILL when the process that started it dies (PR_SET_PDEATHSIG).
    Nothing is imported or allocated here: the parent may have threads."""
    _libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # 1: PR_SET_PDEATHSIG


class LeaktopTestCase(unittest.TestCase):
    """Temp dir, private XDG_RUNTIME_DIR, process bookkeeping."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="leaktop-test-")
        self.runtime = os.path.join(self.tmp, "run")
        os.mkdir(self.runtime, 0o700)
        self.env = dict(os.environ)
        self.env["XDG_RUNTIME_DIR"] = self.runtime
        self.env.pop("LEAKTOP_READY_FD", None)
        self.env.pop("LEAKTOP_OPTIONS", None)
        self.procs = []

    def tearDown(self):
        if SANITIZER_LOGS:
            # UBSan reports on stderr only (log_path does not reach it beside ASan), then aborts.
            aborted = [p.pid for p in self.procs if p.poll() == -signal.SIGABRT]
        killed = []
        for p in self.procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except OSError:
                    p.kill()
                p.wait()
                killed.append(p.pid)
            for stream in (p.stdout, p.stderr):
                if stream:
                    stream.close()
        subprocess.run(["rm", "-rf", self.tmp])
        # The shared socket directories hold only live agents: what tearDown SIGKILLed it
        # cleans up, and any other stale socket of this test's processes fails the test.
        left = []
        for pid in {p.pid for p in self.procs}:
            for d in SHARED_SOCKET_DIRS:
                path = os.path.join(d, "%d.sock" % pid)
                if stale_socket(path, pid):
                    if pid in killed:
                        os.unlink(path)
                    else:
                        left.append(path)
        self.assertEqual(left, [], "stale agent sockets left in a shared directory")
        if SANITIZER_LOGS:
            self.sanitizer_reports()
            self.assertEqual(aborted, [], "process(es) aborted: a sanitizer report on stderr?")

    def sanitizer_reports(self):
        """Fail with every sanitizer report written since the last look (then set aside)."""
        names = sorted(os.listdir(SANITIZER_LOGS))
        if not names:
            return
        texts = []
        for name in names:
            path = os.path.join(SANITIZER_LOGS, name)
            with open(path, errors="replace") as f:
                texts.append("==== %s\n%s" % (name, f.read()))
            os.unlink(path)
        self.fail("sanitizer report(s) from this test's processes:\n" + "\n".join(texts))

    # -- files and processes --------------------------------------------------------------
    def write(self, name, text):
        path = os.path.join(self.tmp, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
        return path

    def spawn(self, argv, env=None, **kw):
        """Start a process in its own group; it is killed in tearDown if still running, and by
        the kernel if this test process dies first (a meson timeout, a ^C: tearDown never runs,
        and a program of its own session would keep running, a leaking one for ever)."""
        if "preexec_fn" not in kw and threading.current_thread() is threading.main_thread():
            kw["preexec_fn"] = _die_with_parent  # the forking thread must outlive the child
        # Unbuffered: wait_line's readline must not keep bytes that communicate() then misses.
        p = subprocess.Popen(argv, env=env or self.env, start_new_session=True, bufsize=0,
                             stdout=kw.pop("stdout", subprocess.PIPE),
                             stderr=kw.pop("stderr", subprocess.PIPE), **kw)
        self.procs.append(p)
        return p

    def leaktop(self, *args, timeout=60, env=None, input=None):
        """Run the leaktop binary to completion: CompletedProcess with text stdout/stderr."""
        return subprocess.run([LEAKTOP] + list(args), env=env or self.env, capture_output=True,
                              text=True, timeout=timeout, input=input)

    def check_json(self, *args, **kw):
        """`leaktop check --json ARGS`: (report, CompletedProcess). Every type is in the report
        (--top, unless the test gives its own): tests look counts up by name, and a type that
        did not grow can rank below the default 50 (a first point estimated mid-build, or
        imports that make many types grow a little)."""
        if "--top" not in args:
            args = ("--top", "100000") + args
        r = self.leaktop("check", "--json", *args, **kw)
        self.assertIn(r.returncode, (0, 1), "leaktop check failed: %s" % r.stderr)
        return json.loads(r.stdout), r

    def socket_path(self, pid):
        return os.path.join(self.runtime, "leaktop", "%d.sock" % pid)

    def agent_env(self, **extra):
        env = dict(self.env)
        env["PYTHONPATH"] = AGENT_DIR
        env.update(extra)
        return env

    def wait_for(self, predicate, timeout=20.0, what="condition"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.02)
        self.fail("timed out after %.0f s waiting for %s" % (timeout, what))

    def wait_line(self, proc, prefix, timeout=30.0):
        """Read proc's stdout until a line starting with prefix; return that line."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                if proc.poll() is not None:
                    self.fail("process %d exited (%s) before printing %r; stderr: %s"
                              % (proc.pid, proc.returncode, prefix, proc.stderr.read()))
                continue
            line = line.decode() if isinstance(line, bytes) else line
            if line.startswith(prefix):
                return line.strip()
        self.fail("timed out waiting for %r from pid %d" % (prefix, proc.pid))

    # -- raw protocol -----------------------------------------------------------------------
    def connect(self, pid, hello=True):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        self.addCleanup(s.close)
        s.connect(self.socket_path(pid))
        if hello:
            s.sendall(client_hello())
        return s

    def read_frames_until(self, sock, want_type, timeout=10.0):
        """Read from sock until a frame of want_type arrives; return all frames so far."""
        data, deadline = b"", time.monotonic() + timeout
        while time.monotonic() < deadline:
            frames, _ = split_frames(data)
            if any(t == want_type for t, _, _ in frames):
                return frames
            sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            data += chunk
        frames, _ = split_frames(data)
        return frames

    def kill_pid(self, proc, sig=signal.SIGTERM):
        if proc.poll() is None:
            os.kill(proc.pid, sig)
        return proc.wait(timeout=30)


# A program that holds exactly N instances of one class, says "ready <pid>", and waits.
HOLDER = r'''
import os, sys, time
class Session(object):
    pass
N = int(sys.argv[1])
keep = [Session() for _ in range(N)]
print("ready %d" % os.getpid(), flush=True)
for _ in range(int(float(sys.argv[2]) * 10) if len(sys.argv) > 2 else 600):
    time.sleep(0.1)
'''
