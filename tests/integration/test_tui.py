"""The terminal UI, used the way a person uses it: in tmux, keys in, screen text out."""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import LEAKTOP, PYTHONS, LeaktopTestCase  # noqa: E402

LEAKER = r'''
import os, sys, time
import leaktop
leaktop.start(interval=0.2)
class Session:
    pass
class Steady:
    pass
steady = [Steady() for _ in range(50)]
held = []
print("ready %d" % os.getpid(), flush=True)
while True:
    held.extend(Session() for _ in range(200))
    time.sleep(0.05)
'''


@unittest.skipUnless(shutil.which("tmux"), "needs tmux")
class TuiTest(LeaktopTestCase):
    def setUp(self):
        super().setUp()
        self.tmux_sock = "leaktop-test-%d-%d" % (os.getpid(), id(self))
        self.addCleanup(self.tmux, "kill-server")

    def tmux(self, *args, check=False):
        return subprocess.run(["tmux", "-L", self.tmux_sock] + list(args), capture_output=True,
                              text=True, check=check)

    def start(self, argv, width=80, height=24, env=None, name="main"):
        env = dict(env or self.env)
        env.setdefault("LANG", "C.UTF-8")
        env.setdefault("TERM", "xterm-256color")
        cmd = " ".join("'%s'" % a.replace("'", "'\\''") for a in argv)
        # The shell stays after leaktop ends, so the pane keeps what it printed on exit.
        self.tmux("-f", "/dev/null", "new-session", "-d", "-s", name, "-x", str(width), "-y",
                  str(height), "sh -c \"%s; echo EXIT=\\$?; sleep 600\"" % cmd.replace('"', '\\"'),
                  check=True)
        return name

    def screen(self, name="main", escapes=False):
        args = ["capture-pane", "-p", "-t", name]
        if escapes:
            args.append("-e")
        return self.tmux(*args).stdout

    def keys(self, *keys, name="main"):
        for k in keys:
            self.tmux("send-keys", "-t", name, k)
            time.sleep(0.15)

    def wait_screen(self, pattern, name="main", timeout=20.0):
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = self.screen(name)
            if re.search(pattern, text):
                return text
            time.sleep(0.1)
        self.fail("screen never showed %r; last screen:\n%s" % (pattern, text))

    def leaker(self):
        prog = self.write("leaker.py", LEAKER)
        p = self.spawn([PYTHONS[0], prog], env=self.agent_env())
        pid = int(self.wait_line(p, "ready").split()[1])
        return p, pid

    def tui_env(self, **extra):
        env = dict(self.env)
        env.update(extra)
        return env

    def run_in_tmux(self, argv, **kw):
        """Start argv in tmux with this test's environment exported through a wrapper."""
        env = kw.pop("env", None) or self.env
        wrapper = self.write("tui-%d.sh" % len(os.listdir(self.tmp)), "#!/bin/sh\n" + "".join(
            "export %s='%s'\n" % (k, v.replace("'", "'\\''")) for k, v in env.items()
            if k in ("XDG_RUNTIME_DIR", "LANG", "LC_ALL", "TERM", "NO_COLOR", "LEAKTOP_ASCII",
                     "PATH", "HOME", "PYENV_ROOT", "PYENV_VERSION", "TMPDIR")) +
            'exec "$@"\n')
        os.chmod(wrapper, 0o755)
        return self.start([wrapper] + list(argv), **kw)

    # -- the tests ------------------------------------------------------------------------

    def test_a_put_off_pymalloc_reading_shows_its_age(self):
        # 200 MB of pymalloc arenas sampled every 20 ms: a reading costs more than its budget
        # (0.2 ms) and is taken every few samples; the samples between show it with its age.
        prog = self.write("big.py", """
import os, time
import leaktop
leaktop.start(interval=0.02)
objs = [b"%0160d" % i for i in range(1000000)]
print("ready %d" % os.getpid(), flush=True)
while True:
    time.sleep(1)
""")
        p = self.spawn([PYTHONS[0], prog], env=self.agent_env())
        pid = int(self.wait_line(p, "ready", timeout=120).split()[1])
        self.run_in_tmux([LEAKTOP, str(pid)])
        self.wait_screen(r"1 Suspects")
        self.keys("5")
        self.wait_screen(r"pymalloc \(read [\d.]+ s ago\): \d+ arenas", timeout=30)

    def test_views_keys_and_drilldown(self):
        p, pid = self.leaker()
        self.run_in_tmux([LEAKTOP, str(pid)])
        # The Suspects view: the leak as one finding on the first row, what grows, the line
        # that allocates it and what holds it (asked of the agent as soon as it is found).
        text = self.wait_screen(r"Session \+\d+/s at leaker\.py:13 held by held")
        first_row = text.splitlines()[6]
        self.assertRegex(first_row, r"^ [+ ] Session \+\d+/s at leaker\.py:13 held by held ")
        self.assertIn("FINDING", text.splitlines()[5])
        self.keys("Enter")                                        # its parts, one Enter away
        text = self.wait_screen(r"[`|]- type __main__\.Session")
        self.assertIn(" - Session", text.splitlines()[6])
        self.keys("Enter")                                        # and folded again
        text = self.wait_screen(r"(?m)^ \+ Session")
        self.assertNotIn("- type __main__.Session", text)
        self.assertIn("leaktop pid %d" % pid, text)
        self.assertRegex(text, r"RSS \d")
        self.assertRegex(text, r"Heap \d")
        self.assertRegex(text, r"Mem \S+ (py|file|C|other) \d+%")  # the breakdown bar
        self.assertIn("1 Suspects", text)
        for line in text.splitlines():
            self.assertLessEqual(len(line), 80)
        self.keys("2")
        text = self.wait_screen(r"TYPE\s+COUNT\s+CHANGE")
        first_row = text.splitlines()[6]
        self.assertIn("__main__.Session", first_row)             # sorted by change: it leads
        self.keys("Enter")
        text = self.wait_screen(r"Type __main__\.Session")
        self.assertIn("live objects", text)
        text = self.wait_screen(r"__main__\.held\[\d+\]")       # what keeps it alive
        self.assertIn("What keeps it alive", text)
        self.keys("Escape")
        self.wait_screen(r"TYPE\s+COUNT")
        self.keys("Tab")
        self.wait_screen(r"ALLOCATION SITE")
        self.keys("Tab")
        text = self.wait_screen(r"GENERATION\s+COLLECTIONS")
        self.assertIn("automatic collection: enabled", text)
        self.keys("5")
        text = self.wait_screen(r"PART\s+BYTES\s+SHARE")
        self.assertRegex(text, r"Python objects.*MiB")
        self.assertRegex(text, r"pymalloc( \(read [\d.]+ s ago\))?: \d+ arenas")
        self.assertRegex(text, r"MemAvailable|RLIMIT|cgroup")    # the limits found
        self.keys("BTab", "BTab", "BTab")
        self.wait_screen(r"TYPE\s+COUNT")
        # Sort, filter, baseline.
        self.keys("s")
        self.wait_screen(r"sorted by \w+")
        self.keys("/", "S", "t", "e", "a", "d", "Enter")
        text = self.wait_screen(r"filter: Stead")
        rows = [l for l in text.splitlines()[6:-1] if l.strip()]
        self.assertTrue(rows and all("Steady" in r for r in rows), rows)
        self.keys("Escape")
        self.wait_screen(r"__main__\.Session")
        self.keys("b")
        self.wait_screen(r"baseline set")
        # Help, and any key closes it.
        self.keys("?")
        self.wait_screen(r"leaktop keys")
        self.keys("x")
        self.wait_screen(r"TYPE\s+COUNT")
        # Collect garbage in the target.
        self.keys("g")
        self.wait_screen(r"gc\.collect\(\) in pid %d: collected \d+ objects" % pid)
        # Quit: the terminal is given back, the watched process untouched.
        self.keys("q")
        self.wait_screen(r"EXIT=0")
        self.assertIsNone(p.poll(), "leaktop PID must not end the process")

    def test_pause_freezes_the_display(self):
        p, pid = self.leaker()
        self.run_in_tmux([LEAKTOP, str(pid)])
        self.wait_screen(r"Session")
        self.keys("2")
        self.wait_screen(r"TYPE\s+COUNT")
        self.keys("p")
        frozen = self.wait_screen(r"PAUSED")
        count = re.search(r"__main__\.Session\s+([\d,]+)", frozen).group(1)
        time.sleep(1.5)
        again = self.screen()
        self.assertEqual(re.search(r"__main__\.Session\s+([\d,]+)", again).group(1), count)
        self.keys("p")
        self.wait_screen(r"display resumed")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            now = re.search(r"__main__\.Session\s+([\d,]+)", self.screen())
            if now and now.group(1) != count:
                break
            time.sleep(0.2)
        else:
            self.fail("the count never moved after resuming")

    def test_resize_down_to_80x24_and_up(self):
        p, pid = self.leaker()
        self.run_in_tmux([LEAKTOP, str(pid)], width=120, height=40)
        self.wait_screen(r"Session")
        self.keys("2")
        wide = self.wait_screen(r"TYPE\s+COUNT")
        self.assertTrue(any(len(l.rstrip()) > 80 for l in wide.splitlines()))
        self.tmux("resize-window", "-t", "main", "-x", "80", "-y", "24")
        time.sleep(0.8)
        small = self.wait_screen(r"TYPE\s+COUNT")
        lines = small.splitlines()
        self.assertLessEqual(max(len(l.rstrip()) for l in lines), 80)
        self.assertIn("Quit", lines[-1] if lines[-1].strip() else lines[-2])
        self.tmux("resize-window", "-t", "main", "-x", "132", "-y", "43")
        time.sleep(0.8)
        big = self.wait_screen(r"TYPE\s+COUNT")
        self.assertGreater(len([l for l in big.splitlines() if l.strip()]), 24)

    def test_ascii_and_no_color(self):
        p, pid = self.leaker()
        self.run_in_tmux([LEAKTOP, str(pid)], env=self.tui_env(LANG="C", LC_ALL="C",
                                                              NO_COLOR="1"))
        text = self.wait_screen(r"Session")
        self.keys("2")
        text = self.wait_screen(r"TYPE\s+COUNT")
        self.assertTrue(all(ord(c) < 128 for c in text), "non-ASCII drawn in an ASCII locale")
        self.assertRegex(text, r"[_.\-~^]{6,}")  # ASCII sparklines
        colored = self.screen(escapes=True)
        self.assertIsNone(re.search(r"\x1b\[(3|4)[0-7]m|\x1b\[38;5", colored),
                          "colour escapes with NO_COLOR set")

    def test_unicode_sparklines_and_colour(self):
        p, pid = self.leaker()
        self.run_in_tmux([LEAKTOP, str(pid)])
        self.wait_screen(r"Session")
        self.keys("2")
        text = self.wait_screen(r"[▁▂▃▄▅▆▇█]{4}")
        self.assertRegex(text, r"[\u2800-\u28ff]")  # braille curves in the header
        colored = self.screen(escapes=True)
        self.assertRegex(colored, r"\x1b\[[0-9;]*(3[0-7]|4[0-7])m")

    def test_process_exit_keeps_data_and_reconnect(self):
        prog = self.write("restart.py", LEAKER.replace("while True:", r'''
import signal
def again(*_):
    leaktop.start(interval=0.2)
signal.signal(signal.SIGUSR1, again)
while True:'''))
        p = self.spawn([PYTHONS[0], prog], env=self.agent_env())
        pid = int(self.wait_line(p, "ready").split()[1])
        self.run_in_tmux([LEAKTOP, str(pid)])
        self.wait_screen(r"Session")
        # Another viewer stops the agent: this one says so and keeps its data.
        r = subprocess.run([PYTHONS[0], "-c", r'''
import socket, struct, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
hello = b"LKTP" + struct.pack("<HHI", 1, 0, 1) + b"x"
s.sendall(struct.pack("<IHH", len(hello), 2, 0) + hello)
s.sendall(struct.pack("<IHH", 6, 6, 0) + struct.pack("<HI", 3, 0))
s.settimeout(5)
while s.recv(65536): pass
''', self.socket_path(pid)], capture_output=True, timeout=30)
        text = self.wait_screen(r"was stopped\. r reconnects")
        self.assertIn("Session", text)
        os.kill(pid, signal.SIGUSR1)
        self.wait_for(lambda: os.path.exists(self.socket_path(pid)), what="agent restarted")
        self.keys("r")
        self.wait_screen(r"reconnected to pid %d" % pid)
        self.keys("2")
        self.wait_screen(r"__main__\.Session")
        # Now the process dies: the screen says so and keeps the last data.
        self.kill_pid(p, signal.SIGKILL)
        text = self.wait_screen(r"lost the connection to pid %d|pid %d exited" % (pid, pid))
        self.assertIn("__main__.Session", text)

    def test_run_shows_exit_status(self):
        prog = self.write("brief.py", "import time\nclass Gone: pass\nk=[Gone() for _ in range(300)]\n"
                                      "for i in range(30): time.sleep(0.1)\nraise SystemExit(7)\n")
        self.run_in_tmux([LEAKTOP, "run", "--interval", "0.2", "--", PYTHONS[0], prog])
        text = self.wait_screen(r"exited with status 7", timeout=30)
        self.keys("2")
        text = self.wait_screen(r"__main__\.Gone\s+300")
        self.keys("q")
        text = self.wait_screen(r"EXIT=0")
        self.assertRegex(text, r"its output is in /")

    def test_two_viewers_at_once(self):
        p, pid = self.leaker()
        self.run_in_tmux([LEAKTOP, str(pid)], name="one")
        self.run_in_tmux([LEAKTOP, str(pid)], name="two")
        for name in ("one", "two"):
            self.wait_screen(r"Session", name=name)
        self.keys("2", name="one")
        self.wait_screen(r"TYPE\s+COUNT", name="one")
        self.keys("q", name="two")
        self.wait_screen(r"EXIT=0", name="two")
        # The first goes on after the second left.
        before = self.screen("one")
        time.sleep(1.0)
        self.assertNotEqual(self.screen("one"), before)

    def test_marker_seen_by_every_viewer(self):
        p, pid = self.leaker()
        self.run_in_tmux([LEAKTOP, str(pid)], name="one")
        self.run_in_tmux([LEAKTOP, str(pid)], name="two")
        for name in ("one", "two"):
            self.wait_screen(r"Session", name=name)
        self.keys("m", name="one")
        for name in ("one", "two"):
            text = self.wait_screen(r"marker 1 from leaktop tui", name=name)
            self.assertIn("\u2503", text.splitlines()[1])   # on the RSS timeline
        # A viewer who comes later sees it on the timeline too.
        self.run_in_tmux([LEAKTOP, str(pid)], name="late")
        text = self.wait_screen(r"RSS", name="late")
        self.wait_for(lambda: "\u2503" in self.screen("late").splitlines()[1],
                      what="the marker on the late viewer's timeline")
        self.keys("m", name="two")
        self.wait_screen(r"marker 2 from leaktop tui", name="late")

    def test_replay_steps_through_time(self):
        p, pid = self.leaker()
        rec = os.path.join(self.tmp, "rec.lktp")
        r = self.leaktop("record", "-o", rec, "--duration", "3", "--pid", str(pid))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.run_in_tmux([LEAKTOP, "replay", rec])
        text = self.wait_screen(r"sample (\d+)/\1 paused")
        total = int(re.search(r"sample (\d+)/", text).group(1))
        self.assertIn("replay rec.lktp", text)
        self.keys(",")
        self.wait_screen(r"sample %d/%d" % (total - 1, total))
        self.keys("[")
        self.wait_screen(r"sample 1/%d" % total)
        self.keys(".", ".")
        self.wait_screen(r"sample 3/%d" % total)
        self.keys("p")
        self.wait_screen(r"sample %d/%d paused" % (total, total), timeout=total * 2 + 10)

    def test_truncated_recording_says_where_it_stops(self):
        p, pid = self.leaker()
        rec = os.path.join(self.tmp, "rec.lktp")
        self.leaktop("record", "-o", rec, "--duration", "2", "--pid", str(pid))
        with open(rec, "rb") as f:
            data = f.read()
        with open(rec, "wb") as f:
            f.write(data[:-7])
        self.run_in_tmux([LEAKTOP, "replay", rec])
        self.wait_screen(r"truncated at byte \d+")
        r = self.leaktop("replay", os.path.join(self.tmp, "nope.lktp"))
        self.assertEqual(r.returncode, 2)
        self.assertIn("cannot read", r.stderr)
        bad = self.write("bad.lktp", "hello")
        r = self.leaktop("replay", bad)
        self.assertEqual(r.returncode, 2)
        self.assertIn("not a leaktop recording", r.stderr)

    def test_garbage_on_the_socket(self):
        # A process of ours that listens on its own leaktop socket path and speaks nonsense.
        prog = self.write("liar.py", r'''
import os, socket, time
d = os.path.join(os.environ["XDG_RUNTIME_DIR"], "leaktop")
os.makedirs(d, mode=0o700, exist_ok=True)
s = socket.socket(socket.AF_UNIX); s.bind(os.path.join(d, "%d.sock" % os.getpid())); s.listen(4)
print("ready %d" % os.getpid(), flush=True)
while True:
    c, _ = s.accept()
    c.sendall(b"\x10\x00\x00\x00\x01\x00\x00\x00" + b"NOTLKTP!" * 2 + b"\xff" * 64)
    time.sleep(30)
''')
        p = self.spawn([PYTHONS[0], prog])
        pid = int(self.wait_line(p, "ready").split()[1])
        self.run_in_tmux([LEAKTOP, str(pid)])
        text = self.wait_screen(r"malformed hello frame|not a leaktop")
        self.keys("q")
        self.wait_screen(r"EXIT=0")

    def test_picker_marks_a_stale_socket(self):
        """A live Python without an agent whose socket path holds a dead socket (a recycled
        pid): the picker's AGENT column says stale, not yes."""
        prog = self.write("big.py", "import os, time\nblob = b'x' * (300 << 20)\n"
                                    "print('ready %d' % os.getpid(), flush=True)\n"
                                    "time.sleep(120)\n")
        p = self.spawn([PYTHONS[0], prog])
        pid = int(self.wait_line(p, "ready").split()[1])
        path = self.socket_path(pid)
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        dead = socket.socket(socket.AF_UNIX)
        dead.bind(path)
        dead.close()
        self.run_in_tmux([LEAKTOP], width=160, height=60)
        text = self.wait_screen(r"(?m)^\s+%d\s" % pid)
        row = [l for l in text.splitlines() if l.split()[:1] == [str(pid)]][0]
        self.assertRegex(row, r"\sstale\s", row)
        self.assertNotRegex(row, r"\syes\s", row)

    def test_not_a_terminal(self):
        r = self.leaktop("replay", "/dev/null")
        self.assertEqual(r.returncode, 2)
        r = subprocess.run([LEAKTOP, "1"], stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, env=self.env, timeout=30)
        self.assertEqual(r.returncode, 2)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)


if __name__ == "__main__":
    unittest.main()
