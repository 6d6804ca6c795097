"""Programs of several processes: pre-fork servers and worker pools, followed as one tree.

Real components: Debian's gunicorn (python3-gunicorn) serving a Flask app (python3-flask) with
sync and gthread workers under a real HTTP load to 127.0.0.1 (bounded in requests and time), and
multiprocessing pools with the fork, forkserver and spawn start methods. `check` must name the
leak and the workers it grows in, and exit 0 on the bounded control; the TUI (in tmux) must list
every worker, name the leak over them, replace a killed worker by its successor, and end the
whole tree on q. About 4 minutes in all (222 s for the sanitized build, alone on the machine).

Under ASan+UBSan: a freed block waits in ASan's quarantine before it is reused, so a server
churning through requests grows its RSS for minutes (native growth, rightly named) and the
bounded controls are skipped; the instrumented workers are slow enough on 2 shared cores that
a leak may be judged in only one of them, so one worker named is enough there.
"""
import http.client
import json
import os
import re
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (AGENT_DIR, FRAME_HELLO, HEADER, LEAKTOP, PYTHONS,  # noqa: E402
                     SANITIZE, LeaktopTestCase, sanitized, split_frames)
from test_tui import TuiTest  # noqa: E402

# The Flask app: every request keeps a Session (the planted leak), or, bounded, only the last 100.
FLASK_APP = r'''
import os
from flask import Flask

app = Flask(__name__)
_sessions = []
BOUNDED = os.environ.get("LEAKY_BOUNDED") == "1"


class Session:
    def __init__(self, n):
        self.n = n
        self.payload = [n] * 20


@app.route("/")
def index():
    _sessions.append(Session(len(_sessions)))
    if BOUNDED:
        del _sessions[:-100]
    return "ok %d\n" % os.getpid()
'''

# A pool whose workers keep what every task makes, or, bounded, the last 50. A task lost with a
# killed worker never finishes: each batch is waited for 2 s at most.
POOL = r'''
import multiprocessing as mp
import os
import sys
import time

_kept = []
BOUNDED = "--bounded" in sys.argv


class Record:
    def __init__(self, n):
        self.n = n
        self.payload = [n] * 16


def task(n):
    _kept.append(Record(n))
    if BOUNDED:
        del _kept[:-50]
    time.sleep(0.001)
    return os.getpid()


if __name__ == "__main__":
    ctx = mp.get_context(sys.argv[1])
    pool = ctx.Pool(3)
    end = time.time() + float(sys.argv[2])
    i = 0
    while time.time() < end:
        pool.map_async(task, range(i, i + 30), chunksize=1).wait(2)
        i += 30
    pool.terminate()
'''

GUNICORN = shutil.which("gunicorn")
MIN_WORKERS = 1 if SANITIZE else 2   # workers a leak must be named in (see above)
QUARANTINE = "ASan's quarantine of freed blocks grows a churning server's RSS"
REC_PROCESS = 16   # include/leaktop/proto.h: recordings only, whose stream follows


def _script_python(path):
    """The interpreter of a script's #! line (Debian's gunicorn: /usr/bin/python3)."""
    with open(path, "rb") as f:
        line = f.readline().decode(errors="replace")
    return shlex.split(line[2:])[0] if line.startswith("#!") else None


def _gunicorn_problem():
    if GUNICORN is None:
        return "needs Debian's gunicorn and Flask (apt-get install python3-gunicorn python3-flask)"
    py = _script_python(GUNICORN)
    probe = subprocess.run([py, "-c", "import flask, gunicorn, sysconfig; "
                            "print(sysconfig.get_config_var('EXT_SUFFIX'))"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        return "gunicorn's Python (%s) cannot import flask: apt-get install python3-flask" % py
    suffix = probe.stdout.strip()
    if not os.path.exists(os.path.join(AGENT_DIR, "leaktop" + suffix)):
        return ("no agent built for gunicorn's Python %s (leaktop%s); build one with "
                "meson configure build -Dpythons=python3,%s" % (py, suffix, py))
    return None


GUNICORN_PROBLEM = _gunicorn_problem()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Load(threading.Thread):
    """HTTP GETs to 127.0.0.1:port from `clients` concurrent clients (so that every worker of a
    pre-fork server is kept busy), one connection each, until stopped, `seconds` pass, or
    `limit` requests were made; waits (bounded) for the server to listen first."""

    def __init__(self, port, seconds, limit=40000, clients=4):
        super().__init__(daemon=True)
        self.clients = clients
        self.lock = threading.Lock()
        self.url = "http://127.0.0.1:%d/" % port
        self.port, self.seconds, self.limit = port, seconds, limit
        self.done = 0
        self.pids = set()
        self.halt = threading.Event()
        self.listening = threading.Event()

    def run(self):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not self.halt.is_set():
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        self.listening.set()
        end = time.monotonic() + self.seconds
        clients = [threading.Thread(target=self.client, args=(end,), daemon=True)
                   for _ in range(self.clients)]
        for c in clients:
            c.start()
        for c in clients:
            c.join()

    def client(self, end):
        while not self.halt.is_set() and time.monotonic() < end and self.done < self.limit:
            try:
                with urllib.request.urlopen(self.url, timeout=5) as r:
                    pid = int(r.read().split()[1])
                with self.lock:
                    self.pids.add(pid)
                    self.done += 1
            except (OSError, ValueError, IndexError, http.client.HTTPException):
                time.sleep(0.05)   # a worker killed mid-answer, or being replaced: try again

    def stop(self):
        self.halt.set()
        self.join(timeout=10)


class TreeCase(LeaktopTestCase):
    def gunicorn(self, port, worker_class, bounded=False):
        """The command line a user types; under a sanitized build the interpreter is a wrapper
        that preloads the runtimes (as the harness does for PYTHONS)."""
        self.write("leakyapp.py", FLASK_APP)
        argv = [GUNICORN]
        if SANITIZE:
            real = _script_python(GUNICORN)
            preload = os.environ.get("LEAKTOP_SANITIZER_PRELOAD", "")
            wrapper = self.write("pywrap/%s" % os.path.basename(real),
                                 "#!/bin/sh\nexport LD_PRELOAD=%s\n"
                                 'export ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=0"\n'
                                 "exec %s \"$@\"\n" % (shlex.quote(preload), shlex.quote(real)))
            os.chmod(wrapper, 0o755)
            argv = [wrapper, GUNICORN]
        argv += ["-w", "3", "-k", worker_class, "-b", "127.0.0.1:%d" % port, "--chdir", self.tmp,
                 "leakyapp:app"]
        if worker_class == "gthread":
            argv[argv.index("-k"):argv.index("-k")] = ["--threads", "4"]
        if bounded:
            self.env["LEAKY_BOUNDED"] = "1"
        return argv

    def pool(self, method, seconds, bounded=False):
        prog = self.write("pool.py", POOL)
        return [PYTHONS[0], prog, method, str(seconds)] + (["--bounded"] if bounded else [])

    def check_with_load(self, argv, port=None, duration=15, load_s=14):
        # At the default interval (1 s): at 0.5 s, on 2 shared cores, a worker starved for a
        # moment shows steps without growth often enough to miss the verdict.
        p = self.spawn([LEAKTOP, "check", "--json", "--duration", str(duration), "--"] + argv)
        load = None
        if port is not None:
            load = Load(port, load_s)
            load.start()
        out, err = p.communicate(timeout=duration + 60)
        if load is not None:
            load.stop()
            self.assertGreater(load.done, 500, "the load made too few requests")
        self.assertIn(p.returncode, (0, 1), err.decode())
        return p.returncode, json.loads(out), err.decode(), load

    def assert_leak_in_workers(self, rc, report, name, err):
        self.assertEqual(rc, 1, "no leak named; stderr: %s" % err[-2000:])
        workers = [x["pid"] for x in report["processes"] if x["role"] == "worker"]
        self.assertEqual(len(workers), 3, report["processes"])
        self.assertEqual(report["processes"][0]["pid"], report["pid"])
        self.assertEqual(report["processes"][0]["role"], "main")
        found = [s for s in report["suspects"] if s["name"] == name]
        self.assertTrue(found, [s["name"] for s in report["suspects"]])
        pids = found[0]["pids"]
        self.assertTrue(set(pids) <= set(workers), (pids, workers))
        self.assertGreaterEqual(len(pids), MIN_WORKERS, report["processes"])
        return found[0]


@unittest.skipIf(GUNICORN_PROBLEM, GUNICORN_PROBLEM)
class GunicornCheckTest(TreeCase):
    def test_sync_workers_leak_named_with_its_workers(self):
        port = free_port()
        rc, report, err, load = self.check_with_load(self.gunicorn(port, "sync"), port)
        s = self.assert_leak_in_workers(rc, report, "leakyapp.Session", err)
        self.assertIn("leakyapp", s.get("referrer_chain", "") + s["file"])
        # The whole program: its four processes summed.
        self.assertEqual(report["tree"]["processes"], 4)
        self.assertEqual(report["tree"]["rss_bytes"],
                         sum(x["rss_bytes"] for x in report["processes"]))
        # The workers the load reached are the ones the report lists.
        self.assertTrue(load.pids <= {x["pid"] for x in report["processes"]})

    def test_gthread_workers_leak_named_in_the_text_report(self):
        port = free_port()
        argv = self.gunicorn(port, "gthread")
        p = self.spawn([LEAKTOP, "check", "--duration", "15", "--"] + argv)
        load = Load(port, 14)
        load.start()
        out, err = p.communicate(timeout=80)
        load.stop()
        text = out.decode()
        self.assertEqual(p.returncode, 1, text + err.decode()[-2000:])
        self.assertRegex(text, r"PID\s+PPID\s+ROLE")
        self.assertRegex(text, r"all of them\s+\d")
        self.assertEqual(len(re.findall(r"^  \d+\s+\d+\s+worker ", text, re.M)), 3, text)
        where = r"in [23] of 3 workers: pids( \d+){2,3}"
        if SANITIZE:
            where = r"(%s|in 1 of 3 workers: pid \d+)" % where
        self.assertRegex(text, r"\[type\] leakyapp\.Session .*\n.*\n\s+" + where)

    @sanitized(QUARANTINE)
    def test_bounded_control_exits_0(self):
        port = free_port()
        rc, report, err, _ = self.check_with_load(self.gunicorn(port, "sync", bounded=True), port)
        self.assertEqual(rc, 0, [(s["name"], s["pids"], s["reason"]) for s in report["suspects"]])
        self.assertEqual(len([x for x in report["processes"] if x["role"] == "worker"]), 3)
        self.assertEqual(report["suspects"], [])


class PoolCheckTest(TreeCase):
    def check_pool(self, method):
        rc, report, err, _ = self.check_with_load(self.pool(method, 40))
        self.assert_leak_in_workers(rc, report, "__mp_main__.Record"
                                    if method != "fork" else "__main__.Record", err)

    def test_fork(self):
        self.check_pool("fork")

    def test_forkserver(self):
        self.check_pool("forkserver")

    def test_spawn(self):
        self.check_pool("spawn")

    def test_pid_of_a_running_pool(self):
        # Started with the agent but not by leaktop: --pid on its main process follows the
        # workers already running, from now on (their history is not part of the watch).
        p = self.spawn(self.pool("forkserver", 60), env=self.agent_env(LEAKTOP_AUTOSTART="1"))
        self.wait_for(lambda: os.path.exists(self.socket_path(p.pid)), what="the agent")
        r = self.leaktop("check", "--json", "--duration", "12", "--pid", str(p.pid), timeout=90)
        self.assertIn(r.returncode, (0, 1), r.stderr)
        report = json.loads(r.stdout)
        self.assert_leak_in_workers(r.returncode, report, "__mp_main__.Record", r.stderr)
        self.assertIsNone(p.poll(), "--pid never ends the program")

    @sanitized(QUARANTINE)
    def test_bounded_control_exits_0(self):
        rc, report, err, _ = self.check_with_load(self.pool("spawn", 40, bounded=True))
        self.assertEqual(rc, 0, [(s["name"], s["pids"], s["reason"]) for s in report["suspects"]])
        self.assertGreaterEqual(len([x for x in report["processes"] if x["role"] == "worker"]), 3)


ROW = re.compile(r"^\s+(\*?)(\d+) (main|worker|forkserver|resource tracker)\b(.*)$", re.M)


class TreeTuiTest(TuiTest, TreeCase):
    """The Workers screen, in tmux at 80x24."""

    def rows(self, text):
        return [(int(m.group(2)), m.group(3), m.group(4)) for m in ROW.finditer(text)]

    def workers(self, text):
        return [pid for pid, role, rest in self.rows(text)
                if role == "worker" and "(ended)" not in rest]

    def wait_workers(self, n, timeout, not_in=()):
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = self.screen()
            w = self.workers(text)
            if len(w) == n and not set(w) & set(not_in):
                return w, text
            time.sleep(0.1)
        self.fail("the Workers screen never listed %d workers (without %s):\n%s"
                  % (n, list(not_in), text))

    def alive(self, pid):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ")[1][0] != "Z"

    def tree_session(self, argv, leak, load_port=None, held_by=None):
        self.run_in_tmux([LEAKTOP, "run", "--"] + argv)
        self.wait_screen(r"leaktop pid \d+", timeout=30)
        # All three workers within 5 s of the TUI's first screen.
        workers, text = self.wait_workers(3, timeout=5)
        root = [pid for pid, role, _ in self.rows(text) if role == "main"][0]
        for line in text.splitlines():
            self.assertLessEqual(len(line), 80)
        load = None
        if load_port is not None:
            load = Load(load_port, 40)
            load.start()
            self.addCleanup(load.stop)
            self.assertTrue(load.listening.wait(30))
        # The planted leak within 15 s of load, as one finding over the workers.
        self.wait_screen(r"%s\s+type\s+in [23] of 3 workers" % re.escape(leak), timeout=15)
        # Enter watches one worker; w comes back to the list.
        rows = self.rows(self.screen())
        first_worker = [i for i, (_, role, _) in enumerate(rows) if role == "worker"][0]
        self.keys(*(["Down"] * first_worker + ["Enter"]))
        text = self.wait_screen(r"leaktop pid \d+ \(worker of %d\)" % root)
        if held_by is not None:
            # The views are that worker's: its types, and what keeps one alive in it.
            self.keys("2", "/", *leak.split(".")[-1], "Enter")
            self.wait_screen(r"%s\s+[\d,]+" % re.escape(leak))
            self.keys("Enter")
            self.wait_screen(held_by)
            self.keys("Escape", "Escape")
        self.keys("w")
        self.wait_screen(r"FINDING OVER THE PROCESSES")
        # A killed worker is replaced in the list by its successor.
        victim = [w for w in self.workers(self.screen())
                  if "*%d " % w not in self.screen()][0]
        os.kill(victim, signal.SIGKILL)
        after, _ = self.wait_workers(3, timeout=15, not_in=[victim])
        self.assertEqual(len(set(after) - set(workers)), 1, (workers, after))
        # q ends the whole tree.
        everyone = [root] + after
        self.keys("q")
        self.wait_screen(r"EXIT=0", timeout=20)
        self.wait_for(lambda: not any(self.alive(p) for p in everyone), timeout=10,
                      what="every process of the tree to end")
        if load is not None:
            load.stop()

    def test_pid_of_a_running_pool(self):
        """leaktop PID on a pool's main process lists the workers already running; q only
        disconnects."""
        p = self.spawn(self.pool("spawn", 60), env=self.agent_env(LEAKTOP_AUTOSTART="1"))
        self.wait_for(lambda: os.path.exists(self.socket_path(p.pid)), what="the agent")
        self.run_in_tmux([LEAKTOP, str(p.pid)])
        self.wait_screen(r"leaktop pid %d" % p.pid)
        workers, _ = self.wait_workers(3, timeout=30)  # spawn workers start slowly under load
        self.wait_screen(r"__mp_main__\.Record\s+type\s+in [23] of 3 workers", timeout=15)
        self.keys("q")
        self.wait_screen(r"EXIT=0")
        self.assertIsNone(p.poll(), "leaktop PID never ends the program")
        self.assertTrue(all(self.alive(w) for w in workers))

    def test_record_then_replay_the_tree(self):
        """record keeps every process's stream in one file (version 2); replay shows the same
        Workers screen; the root's stream alone, as a version 1 file, replays as ever."""
        rec = os.path.join(self.tmp, "pool.lktp")
        r = self.leaktop("record", "-o", rec, "--duration", "10", "--", *self.pool("fork", 30),
                         timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("and its other processes", r.stderr)
        with open(rec, "rb") as f:
            data = f.read()
        self.assertEqual(data[:16], b"LEAKTOP-REC\n" + struct.pack("<I", 2))
        frames, rest = split_frames(data[16:])
        self.assertEqual(rest, 0)
        runs = [struct.unpack_from("<II", p) for t, _, p in frames if t == REC_PROCESS]
        self.assertEqual(frames[0][0], FRAME_HELLO)           # the root's stream comes first
        root = struct.unpack_from("<4sHHI", frames[0][2])[3]  # its pid, from its HELLO
        others = {pid for pid, ppid in runs if pid != root}
        self.assertEqual(len(others), 3, runs)               # the pool's three workers
        self.assertTrue(all(ppid == root for pid, ppid in runs if pid != root), runs)

        self.run_in_tmux([LEAKTOP, "replay", rec])
        workers, _ = self.wait_workers(3, timeout=10)
        self.assertEqual(set(workers), others)
        self.wait_screen(r"__main__\.Record\s+type\s+in [23] of 3 workers")
        rows = self.rows(self.screen())
        first_worker = [i for i, (_, role, _) in enumerate(rows) if role == "worker"][0]
        self.keys(*(["Down"] * first_worker + ["Enter"]))
        self.wait_screen(r"leaktop pid \d+ \(worker of %d\)" % root)
        self.keys("[", "]", "w")                           # back to the start and the end
        self.wait_workers(3, timeout=10)
        self.keys("q")
        self.wait_screen(r"EXIT=0")

        # The root's own frames, without REC_PROCESS, under a version 1 header: an old recording.
        self.assertIn(root, [pid for pid, _ in runs])        # named again after the others
        old, mine = [], True
        for t, f, p in frames:
            if t == REC_PROCESS:
                mine = struct.unpack_from("<I", p)[0] == root
            elif mine:
                old.append(HEADER.pack(len(p), t, f) + p)
        v1 = self.write("old.lktp", "")
        with open(v1, "wb") as f:
            f.write(b"LEAKTOP-REC\n" + struct.pack("<I", 1) + b"".join(old))
        self.run_in_tmux([LEAKTOP, "replay", v1], name="v1")
        text = self.wait_screen(r"sample \d+/\d+", name="v1")
        self.assertIn("leaktop replay old.lktp", text)
        self.assertNotIn("w Workers", text)                 # one process, as it always was
        self.keys("w", name="v1")
        self.wait_screen(r"one process: no other process", name="v1")

    @unittest.skipIf(GUNICORN_PROBLEM, GUNICORN_PROBLEM)
    def test_gunicorn_workers(self):
        port = free_port()
        self.tree_session(self.gunicorn(port, "sync"), "leakyapp.Session", load_port=port,
                          held_by=r"leakyapp\._sessions\[\d+\]")

    def test_pool_fork(self):
        self.tree_session(self.pool("fork", 60), "__main__.Record")

    def test_pool_forkserver(self):
        self.tree_session(self.pool("forkserver", 60), "__mp_main__.Record")

    def test_pool_spawn(self):
        self.tree_session(self.pool("spawn", 60), "__mp_main__.Record")


def load_tests(loader, tests, pattern):
    """Only this file's tests: TreeTuiTest borrows TuiTest's tmux helpers, not its tests."""
    suite = unittest.TestSuite()
    for case in (GunicornCheckTest, PoolCheckTest, TreeTuiTest):
        for name in loader.getTestCaseNames(case):
            if name in vars(case):
                suite.addTest(case(name))
    return suite

if __name__ == "__main__":
    unittest.main()
