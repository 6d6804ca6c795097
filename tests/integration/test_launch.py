"""Starting programs with the agent: shims, -m, the program's own sitecustomize, fork, errors,
and record."""
import json
import os
import signal
import struct
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (AGENT_DIR, LEAKTOP, FRAME_HELLO, FRAME_HISTORY_END, FRAME_SAMPLE,  # noqa: E402
                     HOLDER, PYTHONS, LeaktopTestCase, split_frames)


class LaunchTest(LeaktopTestCase):
    def test_wrapper_whose_child_is_python(self):
        # Like a pyenv shim that does not exec: bash stays, python is its child.
        wrapper = self.write("shim.sh", '#!/bin/bash\n"$@"\nexit $?\n')
        os.chmod(wrapper, 0o755)
        prog = self.write("holder.py", HOLDER)
        report, r = self.check_json("--duration", "1.5", "--interval", "0.2", "--", wrapper,
                                    PYTHONS[0], prog, "1000", "30")
        counts = {t["name"]: t["count"] for t in report["types"]}
        self.assertEqual(counts.get("__main__.Session"), 1000)
        self.assertEqual(report["command"], [wrapper, PYTHONS[0], prog, "1000", "30"])
        # The whole group was ended: no python left behind with our holder.
        self.wait_for(lambda: subprocess.run(["pgrep", "-f", prog], capture_output=True)
                      .returncode != 0, what="the wrapped program to be ended")

    def test_module_and_own_sitecustomize(self):
        self.write("pkg/app/__init__.py", "")
        self.write("pkg/app/__main__.py", r'''
import os, sys, time
import sitecustomize
class Widget: pass
keep = [Widget() for _ in range(777)]
print("marker=%s" % getattr(sitecustomize, "MARKER", None), flush=True)
time.sleep(30)
''')
        own = self.write("own/sitecustomize.py", "MARKER = 'theirs'\nprint('their sitecustomize ran', flush=True)\n")
        env = dict(self.env, PYTHONPATH=os.path.dirname(own))
        r = subprocess.run([LEAKTOP, "check", "--json", "--duration", "1.5",
                            "--interval", "0.2", "--", PYTHONS[0], "-m", "app"],
                           env=env, cwd=os.path.join(self.tmp, "pkg"), capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        report = json.loads(r.stdout)
        counts = {t["name"]: t["count"] for t in report["types"]}
        self.assertEqual(counts.get("app.__main__.Widget", counts.get("__main__.Widget")), 777,
                         list(counts)[:10])
        # The program's stdout went to stderr (stdout is the report), and their hook ran once.
        self.assertEqual(r.stderr.count("their sitecustomize ran"), 1, r.stderr)
        self.assertIn("marker=theirs", r.stderr)

    def test_missing_agent_build_names_the_version(self):
        lonely = os.path.join(self.tmp, "agent-without-modules")
        os.mkdir(lonely)
        with open(os.path.join(AGENT_DIR, "sitecustomize.py")) as src:
            self.write("agent-without-modules/sitecustomize.py", src.read())
        r = self.leaktop("check", "--duration", "1", "--", PYTHONS[0], "-c", "pass",
                         env=dict(self.env, LEAKTOP_AGENT_DIR=lonely))
        self.assertEqual(r.returncode, 2)
        lines = r.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        out = subprocess.run([PYTHONS[0], "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                             capture_output=True, text=True).stdout.strip()
        self.assertIn("no leaktop agent built for Python %s" % out, lines[0])
        self.assertIn("-Dpythons=", lines[0])

    def test_subinterpreters_stay_quiet(self):
        # A subinterpreter (concurrent.interpreters, 3.14+) imports `site`, so the bootstrap,
        # and cannot load the agent: it says nothing, and the main interpreter is watched.
        prog = self.write("subinterp.py", r'''
import sys, threading, time
from concurrent import interpreters
class Kept: pass
kept = [Kept() for _ in range(4321)]
def work():
    interp = interpreters.create()
    for _ in range(20):
        interp.exec("x = [bytearray(100) for _ in range(2000)]")
    interp.close()
threads = [threading.Thread(target=work) for _ in range(2)]
for t in threads: t.start()
for t in threads: t.join()
print("subinterpreters done", flush=True)
time.sleep(30)
''')
        ran = 0
        for py in PYTHONS:
            has = subprocess.run([py, "-c", "import concurrent.interpreters"],
                                 capture_output=True).returncode == 0
            if not has:
                continue
            ran += 1
            with self.subTest(python=py):
                report, r = self.check_json("--duration", "3", "--interval", "0.2", "--",
                                            py, prog)
                counts = {t["name"]: t["count"] for t in report["types"]}
                self.assertEqual(counts.get("__main__.Kept"), 4321)
                self.assertIn("subinterpreters done", r.stderr)
                self.assertNotIn("leaktop", r.stderr, r.stderr)
        if not ran:
            self.skipTest("no Python with concurrent.interpreters (3.14+) built for")

    def test_bad_targets(self):
        cases = [
            (["check", "--duration", "1", "--", "/nonexistent/prog"], "cannot run"),
            (["check", "--duration", "1", "--", "true"], "before the leaktop agent started"),
            (["check", "--duration", "1", "--", PYTHONS[0], "-S", "-c", "pass"],
             "before the leaktop agent started"),
            (["check", "--pid", "4194000", "--duration", "1"], "no process with pid"),
            (["check", "--pid", "1", "--duration", "1"], "not a Python process"),
            (["check", "--duration", "-3", "--pid", "1"], "--duration"),
            (["check", "--json"], "needs a program"),
            (["check", "--pid", "1", "--", "x"], "takes one of"),
            (["record", "--pid", "1"], "-o FILE"),
            (["frobnicate"], "unknown command"),
            (["check", "--bogus"], "unknown"),
        ]
        for argv, why in cases:
            with self.subTest(argv=argv):
                r = self.leaktop(*argv)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertIn(why, r.stderr.splitlines()[0])
                self.assertNotIn("Traceback", r.stderr)

    def test_python_without_agent_running(self):
        # --pid attaches when the process has no agent (test_attach.py has the details), and
        # stops that agent again at the end.
        p = self.spawn([PYTHONS[0], "-c", "import time, os; print('ready', os.getpid(), flush=True); time.sleep(60)"])
        self.wait_line(p, "ready")
        r = self.leaktop("check", "--pid", str(p.pid), "--duration", "1")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("had no agent: loaded one", r.stderr)
        self.assertFalse(os.path.exists(self.socket_path(p.pid)))
        self.assertIsNone(p.poll(), "leaktop must never end a process it did not start")

    def test_keep_leaves_the_program_running(self):
        prog = self.write("holder.py", HOLDER)
        # Files, not pipes: the kept program goes on writing to leaktop's stderr.
        with open(os.path.join(self.tmp, "out"), "w+") as out, \
                open(os.path.join(self.tmp, "err"), "w+") as err:
            rc = subprocess.call([LEAKTOP, "check", "--json", "--keep", "--duration", "1",
                                  "--interval", "0.2", "--", PYTHONS[0], prog, "10", "60"],
                                 env=self.env, stdout=out, stderr=err, timeout=60)
            out.seek(0)
            err.seek(0)
            self.assertEqual(rc, 0, err.read())
            pid = json.load(out)["pid"]
        try:
            os.kill(pid, 0)  # still there
            self.assertTrue(os.path.exists(self.socket_path(pid)))
        finally:
            os.kill(pid, signal.SIGKILL)

    def test_check_reports_a_short_program_and_its_exit(self):
        prog = self.write("short.py", "class Thing: pass\nkeep = [Thing() for _ in range(4321)]\nraise SystemExit(3)\n")
        report, r = self.check_json("--duration", "20", "--", PYTHONS[0], prog)
        counts = {t["name"]: t["count"] for t in report["types"]}
        self.assertEqual(counts.get("__main__.Thing"), 4321)  # the final sample at exit
        self.assertEqual(report["process"]["exit_code"], 3)
        self.assertLess(report["duration_s"], 15)

    def test_forks_while_the_agent_works_never_hang_a_child(self):
        # A fork copies every lock as it is: one the agent thread held at that moment (inside an
        # allocator that does not guard fork(), such as ASan's) stays held in the child forever.
        # start() returns once the agent thread's start-up is over, and the fork gate keeps the
        # thread out of its work at fork(). Fork right after start() and then over and over
        # while a viewer takes frames and the agent samples every 10 ms: every child, and the
        # agent thread it starts, must allocate and exit in time.
        prog = self.write("forks.py", r'''
import os, sys, time
import leaktop
leaktop.start(interval=0.01, sample_bytes=1024)
hung = 0
for i in range(int(sys.argv[1])):
    if i == 1:
        os.write(1, b"forking\n")
        while not os.path.exists(sys.argv[2]):   # the viewer is connected
            time.sleep(0.01)
    junk = [bytearray(64) for _ in range(2000)]   # the agent samples it meanwhile
    pid = os.fork()
    if pid == 0:
        keep = [bytes(100) for _ in range(5000)]   # the child allocates at once
        sys.exit(0)   # and its exit joins its own agent thread, which must be running
    deadline = time.monotonic() + 20
    while os.waitpid(pid, os.WNOHANG) == (0, 0):
        if time.monotonic() > deadline:
            hung += 1
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            break
        time.sleep(0.001)
os.write(1, ("done %d hung\n" % hung).encode())
''')
        flag = os.path.join(self.tmp, "viewer-on")
        p = self.spawn([PYTHONS[0], prog, "150", flag], env=self.agent_env())
        self.wait_line(p, "forking")
        sock = self.connect(p.pid)   # a viewer, said hello, whose frames are read throughout
        sock.settimeout(None)
        got = []

        def drain():
            while True:
                try:
                    data = sock.recv(1 << 16)
                except OSError:
                    return
                if not data:
                    return
                got.append(len(data))
        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        self.wait_for(lambda: sum(got) > 0, what="the agent's first frames")
        open(flag, "w").close()
        self.assertEqual(self.wait_line(p, "done", timeout=240), "done 0 hung")

    def test_fork_child_has_its_own_agent(self):
        prog = self.write("forker.py", r'''
import os, sys, time
import leaktop
leaktop.start(interval=0.1)
class Parent: pass
p = [Parent() for _ in range(10)]
pid = os.fork()
if pid == 0:
    class Child: pass
    c = [Child() for _ in range(20)]
    os.write(1, ("child %d %s\n" % (os.getpid(), leaktop.socket_path())).encode())
    time.sleep(float(sys.argv[1]))
    sys.exit(0)
os.write(1, ("parent %d %s\n" % (os.getpid(), leaktop.socket_path())).encode())
os.waitpid(pid, 0)
os.write(1, b"child gone\n")
time.sleep(30)
''')
        p = self.spawn([PYTHONS[0], "-W", "ignore::DeprecationWarning", prog, "3"],
                       env=self.agent_env())
        # Parent and child race to print: take the two lines in whatever order they come.
        lines = [self.wait_line(p, ""), self.wait_line(p, "")]
        self.assertTrue(all(len(l.split()) == 3 for l in lines), lines)
        info = {l.split()[0]: (int(l.split()[1]), l.split()[2]) for l in lines}
        (ppid, ppath), (cpid, cpath) = info["parent"], info["child"]
        self.assertNotEqual(ppath, cpath)
        self.assertEqual(cpath, self.socket_path(cpid))
        report, _ = self.check_json("--pid", str(cpid), "--duration", "1")
        self.assertEqual(report["pid"], cpid)
        counts = {t["name"]: t["count"] for t in report["types"]}
        self.assertEqual(counts.get("__main__.Child"), 20)
        report, _ = self.check_json("--pid", str(ppid), "--duration", "1")
        self.assertEqual(report["pid"], ppid)
        self.assertNotIn("__main__.Child", {t["name"] for t in report["types"]})
        self.wait_line(p, "child gone")
        self.assertFalse(os.path.exists(cpath), "the child's exit removes its socket")
        self.assertTrue(os.path.exists(ppath), "the parent's socket stays")

    def test_record_to_file_and_dev_null(self):
        prog = self.write("holder.py", HOLDER)
        out = os.path.join(self.tmp, "rec.lktp")
        r = self.leaktop("record", "-o", out, "--duration", "1.5", "--interval", "0.2", "--",
                         PYTHONS[0], prog, "500", "30")
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(out, "rb") as f:
            data = f.read()
        self.assertEqual(data[:12], b"LEAKTOP-REC\n")
        # Version 2 (a program's processes in one file); one process holds no REC_PROCESS.
        self.assertEqual(struct.unpack_from("<I", data, 12)[0], 2)
        frames, rest = split_frames(data[16:])
        self.assertEqual(rest, 0)
        types = [t for t, _, _ in frames]
        self.assertEqual(types[0], FRAME_HELLO)
        self.assertNotIn(16, types)
        self.assertIn(FRAME_HISTORY_END, types)
        self.assertGreaterEqual(types.count(FRAME_SAMPLE), 5)
        r = self.leaktop("record", "-o", "/dev/null", "--duration", "1", "--", PYTHONS[0], prog,
                         "10", "30")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.leaktop("record", "-o", "/nonexistent-dir/x", "--duration", "1", "--pid", "1")
        self.assertEqual(r.returncode, 2)
        self.assertIn("cannot write", r.stderr)

    def test_record_until_program_exits(self):
        prog = self.write("brief.py", "import time\nfor i in range(10): time.sleep(0.1)\n")
        out = os.path.join(self.tmp, "brief.lktp")
        t0 = time.monotonic()
        r = self.leaktop("record", "-o", out, "--", PYTHONS[0], prog)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertLess(time.monotonic() - t0, 20)
        with open(out, "rb") as f:
            frames, rest = split_frames(f.read()[16:])
        self.assertEqual(frames[-1][0], 8)  # BYE: the program exited


if __name__ == "__main__":
    unittest.main()
