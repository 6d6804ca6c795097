"""Attaching to running processes (gdb on 3.8-3.13, PEP 768 on 3.14+ with gdb as the fallback),
and detaching: a busy multi-threaded program and programs blocked in time.sleep and in a read on
a pipe, on every Python the agent was built for; on 3.14+ the same without gdb; each refusal
with its message; and the program goes on untouched in every case (its numbered lines all
there, once, and its exit status 0)."""
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import AGENT_DIR, LEAKTOP, PYTHONS, LeaktopTestCase, python_version  # noqa: E402

# Prints "ready PID", then numbered lines, then "done", and exits 0. What it waits on between
# lines depends on the mode:
#   busy   three threads allocate all the time; the main thread prints a line every 20 ms until
#          the file FLAG exists
#   sleep  five lines, time.sleep(SECONDS), five lines
#   read   five lines, a blocking os.read() on stdin (a pipe), five lines
#   read-busy  the same, while three threads allocate
#   sleep-read  five lines, time.sleep(SECONDS), then the read, five lines
NUMBERED = r'''
import os, sys, threading, time
mode, flag = sys.argv[1], sys.argv[2]
class Blob(object):
    pass
keep = [Blob() for _ in range(1000)]
stop = []
def worker():
    held = []
    while not stop:
        held.append(bytearray(256))  # WORKER
        if len(held) > 4000:
            del held[:2000]
        sum(range(100))
threads = [threading.Thread(target=worker) for _ in range(3 if "busy" in mode else 0)]
for t in threads:
    t.start()
print("ready %d" % os.getpid(), flush=True)
n = [0]
def line():
    print("line %d" % n[0], flush=True)
    n[0] += 1
if mode == "busy":
    while not os.path.exists(flag):
        line()
        time.sleep(0.02)
else:
    for _ in range(5):
        line()
    if "sleep" in mode:
        time.sleep(float(sys.argv[3]))
    if "read" in mode:
        os.read(0, 1)
    for _ in range(5):
        line()
stop.append(1)
for t in threads:
    t.join()
print("done", flush=True)
'''

# Never returns to the interpreter loop, never checks for signals and makes no system call: a
# C loop consuming an endless iterator, holding the GIL, in the only thread.
NO_SAFE_POINT = r'''
import collections, itertools, os
print("ready %d" % os.getpid(), flush=True)
collections.deque(itertools.repeat(1), maxlen=0)
'''

LOADED = re.compile(r"loaded one \(Python (\d+\.\d+), (pending call|helper thread|PEP 768|"
                    r"PEP 768, another thread), ([0-9.]+) s\)")


def pep768(python):
    """Does leaktop attach to this Python through PEP 768 (3.14+)?"""
    major, minor = python_version(python).split(".")
    return (int(major), int(minor)) >= (3, 14)


def reverse_video_rows(screen):
    """[(text, reverse)] per line of a `tmux capture-pane -e`: the text without escapes, and
    whether its first visible character is in reverse video. tmux only emits changes, so the
    attribute state carries over from line to line."""
    rows, reverse = [], False
    for line in screen.splitlines():
        text, first_rev = "", None
        for m in re.finditer(r"\x1b\[([0-9;]*)m|([^\x1b]+)", line):
            if m.group(2) is not None:
                if first_rev is None and m.group(2).strip():
                    first_rev = reverse
                text += m.group(2)
                continue
            for code in (m.group(1) or "0").split(";"):
                if code in ("", "0", "27"):
                    reverse = False
                elif code == "7":
                    reverse = True
        rows.append((text, bool(first_rev)))
    return rows


def threads_of(pid):
    return len(os.listdir("/proc/%d/task" % pid))


# Run a command as nobody: runuser when there is one, else Python dropping root itself (a
# minimal Debian root has no util-linux).
AS_NOBODY = (["runuser", "-u", "nobody", "--"] if shutil.which("runuser") else
             [sys.executable, "-c", "import os, pwd, sys; pw = pwd.getpwnam('nobody'); "
              "os.setgroups([]); os.setgid(pw.pw_gid); os.setuid(pw.pw_uid); "
              "os.execvp(sys.argv[1], sys.argv[1:])"])


def exec_maps(pid):
    """The executable mappings of pid (the program's own allocations map none)."""
    with open("/proc/%d/maps" % pid) as f:
        return sorted(line for line in f if line.split()[1][2] == "x")


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def state_of(pid):
    with open("/proc/%d/stat" % pid) as f:
        return f.read().rsplit(")", 1)[1].split()[0]


class AttachCase(LeaktopTestCase):
    """Helpers: the numbered program, its checks, refusals."""

    def setUp(self):
        super().setUp()
        if not shutil.which("gdb"):
            self.skipTest("needs gdb")
        self.timings = []

    # -- helpers --------------------------------------------------------------------------
    def start(self, python, mode, *extra):
        prog = self.write("numbered.py", NUMBERED)
        flag = os.path.join(self.tmp, "finish-%d" % len(self.procs))
        p = self.spawn([python, prog, mode, flag] + [str(e) for e in extra],
                       stdin=subprocess.PIPE if "read" in mode else subprocess.DEVNULL)
        pid = int(self.wait_line(p, "ready").split()[1])
        return p, pid, prog, flag

    def finish(self, p, flag=None, data=None):
        """Let the program end; check every numbered line came once and in order."""
        if flag:
            open(flag, "w").close()
        out, err = p.communicate(input=data, timeout=60)
        out, err = out.decode(), err.decode()
        self.assertEqual(p.returncode, 0, err)
        self.assertEqual(err, "", "the program wrote to stderr")
        lines = getattr(p, "seen", []) + out.splitlines()
        self.assertEqual(lines[-1], "done", out[-300:])
        self.assertEqual(lines[:-1], ["line %d" % i for i in range(len(lines) - 1)],
                         "numbered lines missing, repeated or out of order")
        return len(lines) - 1

    def wait_blocked(self, p, pid):
        """Wait until the numbered program printed its first five lines and its main thread
        sits in a system call (its sleep or its read)."""
        p.seen = [self.wait_line(p, "line %d" % i) for i in range(5)]

        # Its own blocking call, not a wait for the GIL on the way there (a futex: the busy
        # threads hold the GIL; the main thread then takes a request meant for the others).
        futex = {"x86_64": 202, "aarch64": 98}.get(os.uname().machine)

        def in_syscall():
            with open("/proc/%d/task/%d/syscall" % (pid, pid)) as f:
                nr = f.read().split(" ", 1)[0]
            return nr.isdigit() and int(nr) != futex
        self.wait_for(in_syscall, what="the main thread to block")

    def assert_untouched(self, p, pid):
        self.assertIsNone(p.poll(), "the target ended")
        self.assertNotIn(state_of(pid), ("t", "T"), "the target was left stopped")
        self.assertFalse(os.path.exists(self.socket_path(pid)))
        with open("/proc/%d/status" % pid) as f:
            self.assertIn("TracerPid:\t0\n", f.read(), "still traced")

    def loaded(self, stderr, route=None):
        m = LOADED.search(stderr)
        self.assertIsNotNone(m, stderr)
        if route is not None:
            self.assertEqual(m.group(2), route, stderr)
        self.timings.append((m.group(1), m.group(2), float(m.group(3))))
        return m

    def refused(self, args, why, env=None):
        r = self.leaktop(*args, env=env, timeout=90)
        self.assertEqual(r.returncode, 2, r.stderr)
        lines = r.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertIn(why, lines[0])
        self.assertNotIn("Traceback", r.stderr)
        return lines[0]

    def tearDown(self):
        for version, route, seconds in self.timings:
            sys.stderr.write("  attach %s: %s, %.2f s\n" % (version, route, seconds))
        super().tearDown()


class AttachTest(AttachCase):
    # -- attaching ------------------------------------------------------------------------
    def test_busy_multithreaded_program(self):
        for python in PYTHONS:
            with self.subTest(python=python):
                p, pid, prog, flag = self.start(python, "busy")
                base = threads_of(pid)
                report, r = self.check_json("--pid", str(pid), "--keep", "--duration", "2",
                                            "--interval", "0.2")
                self.loaded(r.stderr, "PEP 768" if pep768(python) else "pending call")
                self.assertEqual(report["python"].rsplit(".", 1)[0], python_version(python))
                counts = {t["name"]: t["count"] for t in report["types"]}
                self.assertEqual(counts.get("__main__.Blob"), 1000)
                if report.get("agent", {}).get("sample_interval_bytes"):
                    # The sampler sees what is allocated after the attach: the workers.
                    self.assertIn(prog, {s["file"] for s in report.get("sites", [])},
                                  report.get("sites", [])[:3])
                # --keep left the agent running; detach stops it from outside.
                self.assertTrue(os.path.exists(self.socket_path(pid)))
                self.assertGreater(threads_of(pid), base)
                d = self.leaktop("detach", str(pid))
                self.assertEqual(d.returncode, 0, d.stderr)
                self.assertIn("stopped the agent in pid %d" % pid, d.stdout)
                self.wait_for(lambda: threads_of(pid) == base, what="the agent thread to end")
                self.assert_untouched(p, pid)
                # Attach again after the detach: the module is loaded, start() starts anew.
                report, r = self.check_json("--pid", str(pid), "--duration", "1.5",
                                            "--interval", "0.2")
                self.loaded(r.stderr)
                self.assertEqual({t["name"]: t["count"] for t in report["types"]}
                                 .get("__main__.Blob"), 1000)
                self.wait_for(lambda: threads_of(pid) == base, what="the agent thread to end")
                self.assert_untouched(p, pid)
                self.assertGreater(self.finish(p, flag=flag), 10)

    def test_blocked_in_time_sleep(self):
        for python in PYTHONS:
            with self.subTest(python=python):
                p, pid, prog, flag = self.start(python, "sleep", 8)
                self.wait_blocked(p, pid)
                base = threads_of(pid)
                report, r = self.check_json("--pid", str(pid), "--duration", "1",
                                            "--interval", "0.2")
                # The main thread never reaches the interpreter loop: the helper thread did it.
                self.loaded(r.stderr, "helper thread")
                counts = {t["name"]: t["count"] for t in report["types"]}
                self.assertEqual(counts.get("__main__.Blob"), 1000)
                # Stopped again at the end (no --keep), helper thread gone too.
                self.wait_for(lambda: threads_of(pid) == base, what="the threads to end")
                self.assertIsNone(p.poll(), "the sleep must still be going on")
                self.assert_untouched(p, pid)
                # When the sleep ends, the queued pending call finds its ticket taken: no-op.
                self.assertEqual(self.finish(p), 10)

    def test_blocked_in_read_on_a_pipe(self):
        for python in PYTHONS:
            with self.subTest(python=python):
                p, pid, prog, flag = self.start(python, "read")
                self.wait_blocked(p, pid)
                base = threads_of(pid)
                report, r = self.check_json("--pid", str(pid), "--keep", "--duration", "1",
                                            "--interval", "0.2")
                self.loaded(r.stderr, "helper thread")
                counts = {t["name"]: t["count"] for t in report["types"]}
                self.assertEqual(counts.get("__main__.Blob"), 1000)
                self.assertTrue(os.path.exists(self.socket_path(pid)))
                d = self.leaktop("detach", str(pid))
                self.assertEqual(d.returncode, 0, d.stderr)
                self.wait_for(lambda: threads_of(pid) == base, what="the agent thread to end")
                self.assert_untouched(p, pid)
                self.assertEqual(self.finish(p, data=b"x"), 10)

    def test_route_chosen_with_leaktop_attach_via(self):
        p, pid, prog, flag = self.start(PYTHONS[-1], "busy")
        base = threads_of(pid)
        self.refused(["attach", str(pid)], "LEAKTOP_ATTACH_VIA=ssh: expected gdb or pep768",
                     env=dict(self.env, LEAKTOP_ATTACH_VIA="ssh"))
        self.assert_untouched(p, pid)
        report, r = self.check_json("--pid", str(pid), "--duration", "1", "--interval", "0.2",
                                    env=dict(self.env, LEAKTOP_ATTACH_VIA="gdb"))
        self.loaded(r.stderr, "pending call")  # gdb on 3.14+ too
        self.wait_for(lambda: threads_of(pid) == base, what="the agent thread to end")
        self.assert_untouched(p, pid)
        self.finish(p, flag=flag)
        older = [py for py in PYTHONS if not pep768(py)]
        if older:
            p, pid, prog, flag = self.start(older[0], "busy")
            self.refused(["attach", str(pid)], "PEP 768 (LEAKTOP_ATTACH_VIA=pep768) needs 3.14",
                         env=dict(self.env, LEAKTOP_ATTACH_VIA="pep768"))
            self.assert_untouched(p, pid)
            self.finish(p, flag=flag)

    def test_detach_refusals(self):
        p, pid, prog, flag = self.start(PYTHONS[0], "busy")
        self.refused(["detach", str(pid)], "has no leaktop agent running")
        s = self.spawn(["sleep", "60"])
        self.refused(["detach", str(s.pid)], "not a Python process")
        self.refused(["detach", "4194000"], "no process with pid")
        r = self.leaktop("detach")
        self.assertEqual(r.returncode, 2)
        self.assertIn("detach needs one process id", r.stderr.splitlines()[0])
        self.assert_untouched(p, pid)
        self.finish(p, flag=flag)

    # -- refusals: one line, exit 2, the target untouched ---------------------------------
    def test_refusals_leave_the_program_untouched(self):
        # Blocked in a read: on 3.14+ too only gdb (the helper thread) could attach.
        p, pid, prog, flag = self.start(PYTHONS[0], "read")
        self.wait_blocked(p, pid)
        empty = os.path.join(self.tmp, "empty-path")
        os.mkdir(empty)
        no_gdb = dict(self.env, PATH=empty, LEAKTOP_ATTACH_TIMEOUT="2")
        no_gdb.pop("LEAKTOP_GDB", None)
        for args in (["attach", str(pid)], ["check", "--pid", str(pid), "--duration", "1"]):
            self.refused(args, "apt-get install gdb", env=no_gdb)
            self.assert_untouched(p, pid)
        lonely = os.path.join(self.tmp, "agent-without-modules")
        os.mkdir(lonely)
        shutil.copy(os.path.join(AGENT_DIR, "sitecustomize.py"), lonely)
        line = self.refused(["attach", str(pid)],
                            "no leaktop agent built for Python %s" % python_version(PYTHONS[0]),
                            env=dict(self.env, LEAKTOP_AGENT_DIR=lonely))
        self.assertIn("meson configure build -Dpythons=", line)
        self.assert_untouched(p, pid)
        # A gdb that never answers is ended; the target is not.
        # (Its pid, written by itself: other suites run this test at the same time, so a
        # search by command line would see their gdb.)
        gdb_pid = os.path.join(self.tmp, "hung-gdb.pid")
        hung = self.write("hung-gdb/gdb", "#!/bin/sh\necho $$ > '%s'\nexec sleep 612.25\n"
                          % gdb_pid)
        os.chmod(hung, 0o755)
        t0 = time.monotonic()
        self.refused(["attach", str(pid)], "gdb did not answer in time",
                     env=dict(self.env, LEAKTOP_GDB=hung, LEAKTOP_ATTACH_TIMEOUT="2"))
        self.assertLess(time.monotonic() - t0, 30)
        with open(gdb_pid) as f:
            hung_pid = int(f.read())
        try:
            with open("/proc/%d/cmdline" % hung_pid) as f:
                alive = "sleep" in f.read()
        except OSError:
            alive = False
        self.assertFalse(alive, "the hung gdb was left behind")
        self.assert_untouched(p, pid)
        self.assertEqual(self.finish(p, data=b"x"), 10)

    def test_refused_exec_leaves_the_program_whole(self):
        # An audit hook that refuses exec makes PyRun_SimpleString fail before the loader runs.
        # A pending call that fails like that would raise SystemError in the program; leaktop's
        # pending call keeps the failure to itself and says what happened. On 3.14+ the hook
        # refuses the PEP 768 script (cpython.remote_debugger_script): CPython reports that on
        # the program's stderr, and leaktop says the request was taken but its loader not run.
        first = "import os, sys, threading, time\n"
        prog = self.write("audited.py", NUMBERED.replace(first, first + (
            "def hook(event, args):\n"
            "    if event in ('exec', 'cpython.remote_debugger_script'):\n"
            "        raise RuntimeError('no exec here')\n"
            "sys.addaudithook(hook)\n"), 1))
        for python in (PYTHONS[0], PYTHONS[-1]):
            with self.subTest(python=python):
                flag = os.path.join(self.tmp, "finish-audited-%d" % len(self.procs))
                p = self.spawn([python, prog, "busy", flag], stdin=subprocess.DEVNULL)
                pid = int(self.wait_line(p, "ready").split()[1])
                self.refused(["attach", str(pid)],
                             "took leaktop's PEP 768 request but did not run its loader"
                             if pep768(python) else "refused to run leaktop's loader")
                self.assert_untouched(p, pid)
                open(flag, "w").close()
                out, err = p.communicate(timeout=60)
                self.assertEqual(p.returncode, 0, err)
                self.assertNotIn(b"SystemError", err)
                lines = out.decode().splitlines()
                self.assertEqual(lines[-1], "done")
                self.assertEqual(lines[:-1], ["line %d" % i for i in range(len(lines) - 1)])

    def test_not_python_and_gone(self):
        s = self.spawn(["sleep", "60"])
        self.refused(["attach", str(s.pid)], "is not a Python process")
        self.assertIsNone(s.poll())
        self.assertNotIn(state_of(s.pid), ("t", "T"))
        gone = self.spawn([PYTHONS[0], "-c", "pass"])
        gone.wait()
        self.refused(["attach", str(gone.pid)], "no process with pid %d" % gone.pid)
        self.refused(["check", "--pid", str(gone.pid), "--duration", "1"], "no process with pid")

    def test_no_safe_point_in_time(self):
        prog = self.write("endless.py", NO_SAFE_POINT)
        p = self.spawn([PYTHONS[0], prog])
        pid = int(self.wait_line(p, "ready").split()[1])
        # In the loop: 0.2 s more CPU time after "ready" (the bytecode between the two is a few
        # microseconds, but a request may land there if the program is preempted).
        cpu = cpu_ticks(pid)
        self.wait_for(lambda: cpu_ticks(pid) >= cpu + os.sysconf("SC_CLK_TCK") // 5,
                      what="the program to enter its C loop")
        t0 = time.monotonic()
        line = self.refused(["attach", str(pid)], "did not reach a point where the agent can "
                            "start within 3 s", env=dict(self.env, LEAKTOP_ATTACH_TIMEOUT="3"))
        self.assertLess(time.monotonic() - t0, 20)
        self.assertIn("native code", line)
        self.assertIsNone(p.poll())
        self.assertEqual(state_of(pid), "R")
        self.assert_untouched(p, pid)

    # -- other users, and ptrace refused (as nobody; never changing the machine) ----------
    def nobody(self):
        if os.geteuid() != 0:
            self.skipTest("needs root to act as another user")
        try:
            pw = pwd.getpwnam("nobody")
        except KeyError:
            self.skipTest("no user nobody")
        if subprocess.run(AS_NOBODY + [LEAKTOP, "--version"],
                          capture_output=True).returncode != 0:
            self.skipTest("nobody cannot run %s" % LEAKTOP)
        home = tempfile.mkdtemp(prefix="leaktop-nobody-")
        self.addCleanup(subprocess.run, ["rm", "-rf", home])
        os.chmod(home, 0o755)
        run = os.path.join(home, "run")
        os.mkdir(run, 0o700)
        os.chown(run, pw.pw_uid, pw.pw_gid)
        return pw, home, run

    def as_nobody(self, run, *args, path=None):
        env = ["env", "-u", "LEAKTOP_GDB", "PATH=" + path] if path else ["env"]
        return subprocess.run(AS_NOBODY + env + ["XDG_RUNTIME_DIR=" + run, LEAKTOP] + list(args),
                              capture_output=True, text=True, timeout=90)

    def test_another_users_process(self):
        pw, home, run = self.nobody()
        p, pid, prog, flag = self.start(PYTHONS[0], "busy")
        r = self.as_nobody(run, "attach", str(pid))
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("belongs to root, not to you", r.stderr)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        self.assert_untouched(p, pid)
        self.finish(p, flag=flag)

    def nobody_python(self, home, code):
        # pyenv's interpreters live under /root; the system one is reachable by nobody.
        for python in ("/usr/bin/python3", "/usr/local/bin/python3"):
            if os.path.exists(python) and subprocess.run(
                    AS_NOBODY + [python, "-c", "pass"],
                    capture_output=True).returncode == 0:
                break
        else:
            self.skipTest("no Python that nobody can run")
        prog = os.path.join(home, "prog.py")
        with open(prog, "w") as f:
            f.write(code)
        os.chmod(prog, 0o644)
        p = self.spawn(AS_NOBODY + [python, prog, "busy",
                        os.path.join(home, "finish")])
        pid = int(self.wait_line(p, "ready").split()[1])
        return p, pid

    def test_root_refuses_another_users_process(self):
        pw, home, run = self.nobody()
        p, pid = self.nobody_python(home, NUMBERED)
        line = self.refused(["attach", str(pid)], "belongs to nobody, not to root")
        self.assertIn("sudo -u nobody leaktop attach %d" % pid, line)
        self.assertIsNone(p.poll())
        self.assertNotIn(state_of(pid), ("t", "T"))
        open(os.path.join(home, "finish"), "w").close()
        out, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 0, err)

    def test_ptrace_refused(self):
        # A process of nobody's that is not dumpable: nobody (no CAP_SYS_PTRACE) may not
        # ptrace it, whatever kernel.yama.ptrace_scope says. Nothing on the machine changes.
        pw, home, run = self.nobody()
        code = "import ctypes\nctypes.CDLL(None).prctl(4, 0)  # PR_SET_DUMPABLE\n" + NUMBERED
        p, pid = self.nobody_python(home, code)
        r = self.as_nobody(run, "attach", str(pid))
        self.assertEqual(r.returncode, 2, r.stderr)
        lines = r.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertIn("ptrace refused", lines[0])
        self.assertRegex(lines[0], r"ptrace_scope (is \d|on this kernel)|no Yama ptrace_scope")
        self.assertIn("CAP_SYS_PTRACE", lines[0])
        r = self.as_nobody(run, "check", "--pid", str(pid), "--duration", "1")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("ptrace refused", r.stderr)
        if pep768(os.readlink("/proc/%d/exe" % pid)):
            # Without gdb too: PEP 768's process_vm_readv is refused by the same rules.
            empty = os.path.join(home, "no-gdb")
            os.mkdir(empty)
            r = self.as_nobody(run, "attach", str(pid), path=empty)
            self.assertEqual(r.returncode, 2, r.stderr)
            lines = r.stderr.strip().splitlines()
            self.assertEqual(len(lines), 1, r.stderr)
            self.assertIn("ptrace refused", lines[0])
            self.assertIn("CAP_SYS_PTRACE", lines[0])
        self.assertIsNone(p.poll())
        with open("/proc/%d/status" % pid) as f:
            self.assertIn("TracerPid:\t0\n", f.read(), "still traced")
        self.assertNotIn(state_of(pid), ("t", "T"))
        open(os.path.join(home, "finish"), "w").close()
        out, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 0, err)
        lines = out.decode().splitlines()
        self.assertEqual(lines[-1], "done")
        self.assertEqual(lines[:-1], ["line %d" % i for i in range(len(lines) - 1)])


PEP768_PYTHONS = [py for py in PYTHONS if pep768(py)]


@unittest.skipUnless(PEP768_PYTHONS, "needs a Python 3.14+ (PEP 768)")
class Pep768Test(AttachCase):
    """3.14+ without gdb: the PEP 768 request alone, written from outside with
    process_vm_writev. PATH holds no gdb (and LEAKTOP_GDB is unset), so any use of gdb would
    fail the attach."""

    def setUp(self):
        LeaktopTestCase.setUp(self)  # no gdb needed
        self.timings = []
        empty = os.path.join(self.tmp, "no-gdb-path")
        os.mkdir(empty)
        self.no_gdb = dict(self.env, PATH=empty)
        self.no_gdb.pop("LEAKTOP_GDB", None)

    def check_no_gdb(self, *args):
        report, r = self.check_json(*args, env=self.no_gdb)
        return report, r

    def test_busy_program_without_gdb(self):
        for python in PEP768_PYTHONS:
            with self.subTest(python=python):
                p, pid, prog, flag = self.start(python, "busy")
                base = threads_of(pid)
                report, r = self.check_no_gdb("--pid", str(pid), "--keep", "--duration", "2",
                                              "--interval", "0.2")
                self.loaded(r.stderr, "PEP 768")
                counts = {t["name"]: t["count"] for t in report["types"]}
                self.assertEqual(counts.get("__main__.Blob"), 1000)
                d = self.leaktop("detach", str(pid), env=self.no_gdb)
                self.assertEqual(d.returncode, 0, d.stderr)
                self.wait_for(lambda: threads_of(pid) == base, what="the agent thread to end")
                self.assert_untouched(p, pid)
                # Again, through `leaktop attach`'s own path (check --pid is the same call).
                report, r = self.check_no_gdb("--pid", str(pid), "--duration", "1",
                                              "--interval", "0.2")
                self.loaded(r.stderr, "PEP 768")
                self.wait_for(lambda: threads_of(pid) == base, what="the agent thread to end")
                self.assert_untouched(p, pid)
                self.assertGreater(self.finish(p, flag=flag), 10)

    def test_main_blocked_other_threads_running(self):
        # The main thread blocks in os.read on a pipe; the request goes to the threads that
        # run bytecode, and one of them loads the agent.
        for python in PEP768_PYTHONS:
            with self.subTest(python=python):
                p, pid, prog, flag = self.start(python, "read-busy")
                self.wait_blocked(p, pid)
                base = threads_of(pid)
                report, r = self.check_no_gdb("--pid", str(pid), "--duration", "1",
                                              "--interval", "0.2")
                self.loaded(r.stderr, "PEP 768, another thread")
                counts = {t["name"]: t["count"] for t in report["types"]}
                self.assertEqual(counts.get("__main__.Blob"), 1000)
                self.wait_for(lambda: threads_of(pid) == base, what="the agent thread to end")
                self.assert_untouched(p, pid)
                # The main thread's request was withdrawn: nothing runs when the read returns.
                self.assertEqual(self.finish(p, data=b"x"), 10)

    def test_main_thread_wakes_up_within_the_deadline(self):
        # A single thread sleeping 1.5 s (then blocked in a read while leaktop looks): without
        # gdb the request waits for the next bytecode, after the sleep.
        for python in PEP768_PYTHONS:
            with self.subTest(python=python):
                p, pid, prog, flag = self.start(python, "sleep-read", 1.5)
                self.wait_blocked(p, pid)
                t0 = time.monotonic()
                report, r = self.check_no_gdb("--pid", str(pid), "--duration", "1",
                                              "--interval", "0.2")
                m = self.loaded(r.stderr, "PEP 768")
                self.assertGreater(float(m.group(3)), 0.5, "loaded before the sleep ended?")
                self.assertLess(time.monotonic() - t0, 15)
                self.assertEqual({t["name"]: t["count"] for t in report["types"]}
                                 .get("__main__.Blob"), 1000)
                self.assertEqual(self.finish(p, data=b"x"), 10)

    def test_sleeping_program_without_gdb_is_left_alone(self):
        # The only thread sleeps past the deadline and there is no gdb for a helper thread: one
        # line, and the request is withdrawn (when the sleep ends nothing runs: a request left
        # behind would make CPython report the removed script on the program's stderr).
        for python in PEP768_PYTHONS:
            with self.subTest(python=python):
                p, pid, prog, flag = self.start(python, "sleep", 5)
                self.wait_blocked(p, pid)
                t0 = time.monotonic()
                line = self.refused(["attach", str(pid)], "did not reach a point where the "
                                    "agent can start within 2 s",
                                    env=dict(self.no_gdb, LEAKTOP_ATTACH_TIMEOUT="2"))
                self.assertLess(time.monotonic() - t0, 15)
                self.assertIn("clock_nanosleep()", line)
                self.assertIn("a PEP 768 request runs only between two bytecodes", line)
                self.assertIn("apt-get install gdb", line)
                self.assert_untouched(p, pid)
                self.assertEqual(self.finish(p), 10)

    def test_remote_debugging_disabled(self):
        # Both ways of turning PEP 768 off; gdb is on PATH here and must not be used either:
        # the program gets no new executable mapping (gdb's route maps one) and no new thread.
        cases = [(["-X", "disable-remote-debug"], {}, "started with -X disable-remote-debug"),
                 ([], {"PYTHON_DISABLE_REMOTE_DEBUG": "1"},
                  "PYTHON_DISABLE_REMOTE_DEBUG is set in its environment")]
        prog = self.write("numbered.py", NUMBERED)
        for python in PEP768_PYTHONS:
            for opts, env, why in cases:
                with self.subTest(python=python, why=why):
                    flag = os.path.join(self.tmp, "finish-%d" % len(self.procs))
                    p = self.spawn([python] + opts + [prog, "busy", flag],
                                   env=dict(self.env, **env), stdin=subprocess.DEVNULL)
                    pid = int(self.wait_line(p, "ready").split()[1])
                    maps = exec_maps(pid)
                    base = threads_of(pid)
                    for args in (["attach", str(pid)],
                                 ["check", "--pid", str(pid), "--duration", "1"]):
                        line = self.refused(args, "does not allow remote debugging (PEP 768)")
                        self.assertIn(why, line)
                    self.assertEqual(exec_maps(pid), maps, "code was mapped (gdb's page?)")
                    self.assertEqual(threads_of(pid), base)
                    self.assert_untouched(p, pid)
                    self.finish(p, flag=flag)


class InTmux(object):
    """Running leaktop's terminal UI in tmux: keys in, screen text out."""

    def start_tmux(self):
        self.tmux_sock = "leaktop-attach-%d-%d" % (os.getpid(), id(self))
        self.addCleanup(self.tmux, "kill-server")

    def tmux(self, *args):
        return subprocess.run(["tmux", "-L", self.tmux_sock] + list(args), capture_output=True,
                              text=True)

    def run_in_tmux(self, argv, height=40):
        env = dict(self.env, LANG="C.UTF-8", TERM="xterm-256color", NO_COLOR="1")
        wrapper = self.write("tui-%d.sh" % len(os.listdir(self.tmp)), "#!/bin/sh\n" + "".join(
            "export %s='%s'\n" % (k, v.replace("'", "'\\''")) for k, v in env.items()
            if k in ("XDG_RUNTIME_DIR", "LANG", "TERM", "NO_COLOR", "PATH", "HOME")) +
            '"$@"\necho EXIT=$?\nsleep 600\n')
        os.chmod(wrapper, 0o755)
        cmd = " ".join("'%s'" % a for a in [wrapper] + list(argv))
        self.assertEqual(self.tmux("-f", "/dev/null", "new-session", "-d", "-s", "main", "-x",
                                   "140", "-y", str(height), cmd).returncode, 0)

    def screen(self, escapes=False):
        return self.tmux(*(["capture-pane", "-p", "-t", "main"] + (["-e"] if escapes else [])))\
            .stdout

    def keys(self, *keys):
        for k in keys:
            self.tmux("send-keys", "-t", "main", k)
            time.sleep(0.15)

    def wait_screen(self, pattern, timeout=30.0):
        deadline, text = time.monotonic() + timeout, ""
        while time.monotonic() < deadline:
            text = self.screen()
            if re.search(pattern, text):
                return text
            time.sleep(0.1)
        self.fail("screen never showed %r; last screen:\n%s" % (pattern, text))

    def stop_with_D(self, pid, base):
        self.keys("D")
        self.wait_screen(r"stop the agent in pid %d \(detach; the program goes on\)\? y/n" % pid)
        self.keys("y")
        self.wait_screen(r"the agent in pid %d was stopped" % pid)
        self.wait_for(lambda: not os.path.exists(self.socket_path(pid)), what="the socket to go")
        self.wait_for(lambda: threads_of(pid) == base, what="the agent thread to end")


@unittest.skipUnless(shutil.which("tmux") and shutil.which("gdb"), "needs tmux and gdb")
class AttachTuiTest(InTmux, AttachCase):
    """attach, the picker's y/n and `leaktop PID`'s offer, and D in the UI, the way a person
    uses them: in tmux, keys in, screen text out."""

    def setUp(self):
        super().setUp()
        self.start_tmux()

    def test_attach_then_D_detaches(self):
        p, pid, prog, flag = self.start(PYTHONS[-1], "busy")
        base = threads_of(pid)
        self.run_in_tmux([LEAKTOP, "attach", str(pid)])
        self.wait_screen(r"leaktop pid %d" % pid)
        self.keys("2")
        self.wait_screen(r"__main__\.Blob")
        self.stop_with_D(pid, base)
        self.keys("q")
        text = self.wait_screen(r"EXIT=0")
        self.assertNotIn("keeps running", text)  # it was stopped with D
        self.assert_untouched(p, pid)
        self.finish(p, flag=flag)

    def test_pid_offers_to_attach(self):
        p, pid, prog, flag = self.start(PYTHONS[0], "read")
        base = threads_of(pid)
        self.run_in_tmux([LEAKTOP, str(pid)])
        self.wait_screen(r"pid %d runs Python %s but has no leaktop agent\. Load it now"
                         % (pid, re.escape(python_version(PYTHONS[0]))))
        self.keys("y", "Enter")
        self.wait_screen(r"leaktop pid %d" % pid)
        self.keys("2")
        self.wait_screen(r"__main__\.Blob")
        self.keys("q")
        self.wait_screen(r"keeps running; `leaktop detach %d` stops it\s+EXIT=0" % pid)
        self.assertTrue(os.path.exists(self.socket_path(pid)))
        r = self.leaktop("detach", str(pid))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.wait_for(lambda: threads_of(pid) == base, what="the agent thread to end")
        self.assert_untouched(p, pid)
        self.finish(p, data=b"x")

    def test_picker_lists_growth_and_offers_to_attach(self):
        p, pid, prog, flag = self.start(PYTHONS[0], "busy")
        base = threads_of(pid)
        self.run_in_tmux([LEAKTOP])
        text = self.wait_screen(r"(?m)^\s+%d\s" % pid)
        self.assertRegex(text, r"PID\s+RSS\s+GROWTH\s+RSS \(1 min\)\s+PY\s+AGENT")
        row = [l for l in text.splitlines() if l.split()[:1] == [str(pid)]][0]
        self.assertIn(" %s " % python_version(PYTHONS[0]), row)
        self.assertRegex(row, r"\s-\s")  # no agent yet
        # A growth rate appears once two samples a second apart are in.
        self.wait_screen(r"(?m)^\s+%d\s+\S+ \S+\s+[+-]?[0-9.]+ \S*B/s" % pid)
        # Move the selection (reverse video) onto our row; rows may move as RSS changes.
        for attempt in range(120):
            rows = reverse_video_rows(self.screen(escapes=True))[2:-1]
            sel = [i for i, (text, rev) in enumerate(rows) if rev]
            mine = [i for i, (text, rev) in enumerate(rows) if text.split()[:1] == [str(pid)]]
            if sel and mine and sel[0] == mine[0]:
                break
            if sel and mine:
                self.keys("Down" if mine[0] > sel[0] else "Up")
            elif sel:  # scrolled out of sight among many processes: walk the list
                self.keys("Home" if attempt % 40 == 39 else "Down")
            else:
                time.sleep(0.2)
        else:
            self.fail("could not select pid %d; screen:\n%s" % (pid, self.screen()))
        self.keys("Enter")
        self.wait_screen(r"pid %d has no agent\. Load it now \(leaktop attach\)\? y/n"
                         % pid)
        self.keys("y")
        self.wait_screen(r"leaktop pid %d" % pid)
        self.keys("2")
        self.wait_screen(r"__main__\.Blob")
        self.stop_with_D(pid, base)
        self.keys("q")
        self.wait_screen(r"EXIT=0")
        self.assert_untouched(p, pid)
        self.finish(p, flag=flag)


if __name__ == "__main__":
    unittest.main()


@unittest.skipUnless(PEP768_PYTHONS and shutil.which("tmux"), "needs tmux and a Python 3.14+")
class Pep768TuiTest(InTmux, AttachCase):
    """`leaktop attach PID` on 3.14+ with no gdb on PATH (only sleep, which the tmux wrapper
    needs): the UI comes up on the loaded agent, and D stops it."""

    def setUp(self):
        LeaktopTestCase.setUp(self)  # no gdb needed
        self.timings = []
        bare = os.path.join(self.tmp, "path-without-gdb")
        os.mkdir(bare)
        os.symlink(shutil.which("sleep"), os.path.join(bare, "sleep"))
        self.env["PATH"] = bare
        self.env.pop("LEAKTOP_GDB", None)
        self.start_tmux()

    def test_attach_without_gdb_then_D_detaches(self):
        for python in PEP768_PYTHONS:
            with self.subTest(python=python):
                p, pid, prog, flag = self.start(python, "busy")
                base = threads_of(pid)
                self.run_in_tmux([LEAKTOP, "attach", str(pid)])
                self.wait_screen(r"leaktop pid %d" % pid)
                self.keys("2")
                self.wait_screen(r"__main__\.Blob")
                self.stop_with_D(pid, base)
                self.keys("q")
                text = self.wait_screen(r"EXIT=0")
                self.assertNotIn("keeps running", text)
                self.assert_untouched(p, pid)
                self.finish(p, flag=flag)
                self.tmux("kill-server")
