"""Where a type's live instances were allocated (TYPE_SITES), through the real binary: check's
report names the line for each type suspect on every Python, and the TUI's type detail shows it
and opens its traceback."""
import os
import re
import shutil
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import LEAKTOP, PYTHONS, LeaktopTestCase  # noqa: E402

# Two classes leaking from two lines, and a bigger leak of bytearrays (no GC-tracked type) from a
# third: each type must get its own line, not the largest site. Plain loops: comprehension frames
# differ across versions.
PROGRAM = r'''
import os, sys, time
import leaktop
leaktop.start(interval=0.2, sample_bytes=4096)
class Order:
    def __init__(self, n):
        self.n = n
class Session:
    pass
held_orders, held_sessions, blobs = [], [], []
def make_orders(n):
    out = []
    for i in range(n):
        out.append(Order(i))  # ORDER
    return out
def make_sessions(n):
    out = []
    for i in range(n):
        out.append(Session())  # SESSION
    return out
print("ready %d" % os.getpid(), flush=True)
while True:
    held_orders.extend(make_orders(300))
    held_sessions.extend(make_sessions(100))
    blobs.append(bytearray(60000))  # BLOB
    time.sleep(0.05)
'''


def line_of(marker):
    for i, text in enumerate(PROGRAM.splitlines(), 1):
        if "# " + marker in text:
            return i
    raise AssertionError(marker)


class TypeSitesCheckTest(LeaktopTestCase):
    def setUp(self):
        super().setUp()
        # check's launcher starts the agent before the program does: the options go this way.
        self.env["LEAKTOP_OPTIONS"] = "interval=0.2,sample_bytes=4096"

    def test_type_suspects_name_their_line_every_python(self):
        prog = self.write("types.py", PROGRAM)
        want = {"__main__.Order": (line_of("ORDER"), "make_orders"),
                "__main__.Session": (line_of("SESSION"), "make_sessions")}
        for py in PYTHONS:
            with self.subTest(python=py):
                report, _ = self.check_json("--duration", "6", "--", py, prog)
                types = {s["name"]: s for s in report["suspects"] if s["kind"] == "type"}
                # The bytearrays are the largest site: a type's line is its own, not that one.
                self.assertEqual(report["sites"][0]["line"], line_of("BLOB"), report["sites"][:3])
                for name, (line, function) in want.items():
                    self.assertIn(name, types, sorted(types))
                    s = types[name]
                    self.assertEqual((s["file"], s["line"]), (prog, line), s)
                    self.assertEqual(s["traceback"][0],
                                     {"file": prog, "line": line, "function": function})
                    self.assertEqual(s["traceback"][1]["function"], "<module>")
                    top = s["allocation_sites"][0]
                    self.assertEqual((top["file"], top["line"]), (prog, line))
                    self.assertGreater(top["samples"], 10)
                    # Estimated instances: within a factor of two of the count the census has.
                    count = [t for t in report["types"] if t["name"] == name][0]["count"]
                    self.assertGreater(top["live_count"], count / 2, (top, count))
                    self.assertLess(top["live_count"], count * 2, (top, count))

    def test_text_report_names_the_line(self):
        prog = self.write("types.py", PROGRAM)
        r = self.leaktop("check", "--duration", "6", "--", PYTHONS[0], prog)
        self.assertEqual(r.returncode, 1, r.stderr)
        text = r.stdout
        block = text[text.index("[type] __main__.Order"):]
        block = block[:block.index("\n  ", block.index("allocated at:"))]
        self.assertIn("allocated at: %s:%d in make_orders" % (prog, line_of("ORDER")), block)


@unittest.skipUnless(shutil.which("tmux"), "needs tmux")
class TypeSitesTuiTest(LeaktopTestCase):
    def setUp(self):
        super().setUp()
        self.tmux_sock = "leaktop-ts-%d-%d" % (os.getpid(), id(self))
        self.addCleanup(self.tmux, "kill-server")

    def tmux(self, *args, check=False):
        return subprocess.run(["tmux", "-L", self.tmux_sock] + list(args), capture_output=True,
                              text=True, check=check)

    def start_tui(self, argv, width=100, height=30):
        env = {k: v for k, v in self.env.items()
               if k in ("XDG_RUNTIME_DIR", "PATH", "HOME", "PYENV_ROOT", "TMPDIR")}
        env.update(LANG="C.UTF-8", TERM="xterm-256color")
        wrapper = self.write("tui.sh", "#!/bin/sh\n" + "".join(
            "export %s='%s'\n" % (k, v.replace("'", "'\\''")) for k, v in env.items()) +
            'exec "$@"\n')
        os.chmod(wrapper, 0o755)
        cmd = " ".join("'%s'" % a.replace("'", "'\\''") for a in [wrapper] + list(argv))
        self.tmux("-f", "/dev/null", "new-session", "-d", "-s", "main", "-x", str(width), "-y",
                  str(height), "sh -c \"%s; sleep 600\"" % cmd.replace('"', '\\"'), check=True)

    def screen(self):
        return self.tmux("capture-pane", "-p", "-t", "main").stdout

    def keys(self, *keys):
        for k in keys:
            self.tmux("send-keys", "-t", "main", k)
            time.sleep(0.15)

    def wait_screen(self, pattern, timeout=20.0):
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = self.screen()
            if re.search(pattern, text):
                return text
            time.sleep(0.1)
        self.fail("screen never showed %r; last screen:\n%s" % (pattern, text))

    def leaker(self):
        prog = self.write("types.py", PROGRAM)
        p = self.spawn([PYTHONS[0], prog], env=self.agent_env())
        return prog, int(self.wait_line(p, "ready").split()[1])

    def open_type(self, name):
        self.wait_screen(r"1 Suspects")
        self.keys("2")
        self.wait_screen(r"TYPE\s+COUNT")
        self.keys("/", *name, "Enter")
        self.wait_screen(r"__main__\.%s" % name)
        self.keys("Enter")
        self.wait_screen(r"Type __main__\.%s" % name)

    def test_type_detail_shows_sites_and_opens_the_traceback(self):
        prog, pid = self.leaker()
        time.sleep(2)  # a few censuses: the sampled instances' tracebacks are resolved
        self.start_tui([LEAKTOP, str(pid)])
        self.open_type("Session")
        line = line_of("SESSION")
        text = self.wait_screen(r"types\.py:%d in make_sessions" % line)
        self.assertIn("Allocated at", text)
        self.assertRegex(text, r"> types\.py:%d in make_sessions\s+\S+ \S*B\s+[\d,]+ inst\." % line)
        self.assertNotIn("types.py:%d" % line_of("ORDER"), text)  # Order's line is not Session's
        self.wait_screen(r"__main__\.held_sessions\[\d+\]")     # what keeps it alive, still there
        self.keys("Enter")
        text = self.wait_screen(r"Traceback \(most recent call first\)")
        self.assertIn('File "%s", line %d, in make_sessions' % (prog, line), text)
        self.assertIn("out.append(Session())  # SESSION", text)  # the source line
        self.keys("Escape")
        self.wait_screen(r"Type __main__\.Session")
        self.keys("Escape")
        self.wait_screen(r"TYPE\s+COUNT")

    def test_replay_says_sites_per_type_need_a_live_process(self):
        prog, pid = self.leaker()
        rec = os.path.join(self.tmp, "types.lktp")
        r = self.leaktop("record", "-o", rec, "--duration", "3", "--pid", str(pid))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.start_tui([LEAKTOP, "replay", rec])
        self.open_type("Order")
        self.wait_screen(r"not in this recording: allocation sites per type are asked of a live "
                         r"process")


if __name__ == "__main__":
    unittest.main()
