"""What leaves the watched program, and how (docs/security.md): referrer chains name the path to a
leaked object but not the keys of the program's dicts unless the process owner asks for them
(show_keys); recordings are created private; the bootstrap's refusals read as one sentence.
Runs the real `leaktop check` and `leaktop record` on real programs, on every Python the agent
was built for where the behaviour differs between versions."""
import concurrent.futures
import json
import os
import re
import stat
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import AGENT_DIR, LEAKTOP, PYTHONS, LeaktopTestCase, python_version  # noqa: E402

# Three leaks at module level, each into a dict keyed by the program's data: an e-mail address,
# a large account number, a session id in an instance attribute's dict (on 3.11+ an instance
# without a materialised __dict__ refers to that dict directly). __slots__ keep the per-instance
# __dict__ out of the suspects, so the three types are the three suspects check explains.
KEYED = r'''
import sys, time
if len(sys.argv) > 1:
    import leaktop
    leaktop.start(interval=0.2, show_keys=True)

class Token(object):
    __slots__ = ("n",)
    def __init__(self, n):
        self.n = n

class Account(object):
    __slots__ = ("n",)
    def __init__(self, n):
        self.n = n

class Session(object):
    __slots__ = ("n",)
    def __init__(self, n):
        self.n = n

class Registry(object):
    def __init__(self):
        self.sessions = {}

cache = {}
accounts = {}
registry = Registry()
print("ready", flush=True)
i = 0
while True:
    cache["secret-token-%d@example.com" % i] = Token(i)
    accounts[7310000000000 + i] = Account(i)
    registry.sessions["sess-secret-%d" % i] = Session(i)
    i += 1
    if i % 50 == 0:
        time.sleep(0.02)
'''

# A leak into a generator's local dict. Up to 3.10 the generator's frame is the root; from 3.11
# the generator itself holds its locals. Either way the dict is nobody's namespace: its keys are
# data.
LOCAL = r'''
import time

class Conn(object):
    __slots__ = ("n",)
    def __init__(self, n):
        self.n = n

def serve():
    pending = {}
    i = 0
    while True:
        pending["conn-secret-%d" % i] = Conn(i)
        i += 1
        yield

worker = serve()
while True:
    for _ in range(50):
        next(worker)
    time.sleep(0.02)
'''

SECRETS = ("secret-token", "7310000", "sess-secret", "conn-secret")


def chains(report):
    return {s["name"]: s.get("referrer_chain") or "" for s in report["suspects"]
            if s["kind"] == "type"}


class DictKeysTest(LeaktopTestCase):
    def run_all(self, jobs):
        """jobs: {key: argv for leaktop} -> {key: CompletedProcess}, three at a time."""
        def one(item):
            key, argv = item
            return key, self.leaktop(*argv, timeout=120)
        with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
            return dict(pool.map(one, sorted(jobs.items())))

    def test_keys_hidden_by_default_yet_the_path_is_named(self):
        keyed = self.write("keyed.py", KEYED)
        local = self.write("local.py", LOCAL)
        jobs = {}
        for py in PYTHONS:
            jobs[(py, "keyed")] = ["check", "--json", "--duration", "8", "--", py, keyed]
            jobs[(py, "local")] = ["check", "--json", "--duration", "8", "--", py, local]
        rec = os.path.join(self.tmp, "keyed.lktp")
        jobs[(PYTHONS[0], "record")] = ["record", "-o", rec, "--duration", "4", "--",
                                        PYTHONS[0], keyed]
        results = self.run_all(jobs)
        for (py, what), r in sorted(results.items()):
            with self.subTest(python=python_version(py), program=what):
                if what == "record":
                    self.assertEqual(r.returncode, 0, r.stderr)
                    with open(rec, "rb") as f:
                        data = f.read()
                    self.assertGreater(len(data), 16)
                    for secret in SECRETS:
                        self.assertNotIn(secret.encode(), data)
                    continue
                self.assertEqual(r.returncode, 1, r.stderr)
                for secret in SECRETS:
                    self.assertNotIn(secret, r.stdout)
                got = chains(json.loads(r.stdout))
                if what == "keyed":
                    self.assertRegex(got.get("__main__.Token", ""),
                                     r"^__main__\.cache\[<str key, item \d+>\]$", got)
                    self.assertRegex(got.get("__main__.Account", ""),
                                     r"^__main__\.accounts\[<int key, item \d+>\]$", got)
                    # An attribute name stays; the key of the dict it holds does not.
                    self.assertRegex(got.get("__main__.Session", ""),
                                     r"^__main__\.registry\.sessions\[<str key, item \d+>\]$",
                                     got)
                else:
                    self.assertRegex(got.get("__main__.Conn", ""),
                                     r"\(held by a (frame|generator)\)\[<str key, item \d+>\]$",
                                     got)

    def test_show_keys_names_them(self):
        keyed = self.write("keyed.py", KEYED)
        env = dict(self.env, LEAKTOP_OPTIONS="show_keys=1")
        p = self.spawn([PYTHONS[0], keyed, "start-with-show-keys"], env=self.agent_env())
        self.wait_line(p, "ready")
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            by_option = pool.submit(self.leaktop, "check", "--json", "--duration", "8", "--",
                                    PYTHONS[0], keyed, env=env, timeout=120)
            by_start = pool.submit(self.leaktop, "check", "--json", "--duration", "8", "--pid",
                                   str(p.pid), timeout=120)
            results = {"LEAKTOP_OPTIONS": by_option.result(),
                       "leaktop.start(show_keys=True)": by_start.result()}
        for how, r in sorted(results.items()):
            with self.subTest(how=how):
                self.assertEqual(r.returncode, 1, r.stderr)
                got = chains(json.loads(r.stdout))
                self.assertRegex(got.get("__main__.Token", ""),
                                 r"^__main__\.cache\['secret-token-\d+@example\.com'\]$", got)
                self.assertRegex(got.get("__main__.Account", ""),
                                 r"^__main__\.accounts\[7310000\d{6}\]$", got)
                self.assertRegex(got.get("__main__.Session", ""),
                                 r"^__main__\.registry\.sessions\['sess-secret-\d+'\]$", got)


class RecordingModeTest(LeaktopTestCase):
    QUIET = "import time\ntime.sleep(3)\n"

    def record(self, out):
        prog = self.write("quiet.py", self.QUIET)
        return subprocess.run([LEAKTOP, "record", "-o", out, "--duration", "1", "--",
                               PYTHONS[0], prog], env=self.env, capture_output=True, text=True,
                              timeout=60, preexec_fn=lambda: os.umask(0o022))

    def test_new_recording_is_0600_under_umask_022(self):
        out = os.path.join(self.tmp, "new.lktp")
        r = self.record(out)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(stat.S_IMODE(os.stat(out).st_mode), 0o600)
        with open(out, "rb") as f:
            self.assertEqual(f.read(12), b"LEAKTOP-REC\n")

    def test_existing_file_keeps_its_mode(self):
        out = os.path.join(self.tmp, "shared.lktp")
        with open(out, "w") as f:
            f.write("old contents, longer than a header and then some")
        os.chmod(out, 0o640)
        r = self.record(out)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(stat.S_IMODE(os.stat(out).st_mode), 0o640)
        with open(out, "rb") as f:
            self.assertEqual(f.read(12), b"LEAKTOP-REC\n")  # truncated and rewritten

    def test_dev_null(self):
        r = self.record("/dev/null")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(stat.S_IMODE(os.stat("/dev/null").st_mode), 0o666)


class BootstrapMessageTest(LeaktopTestCase):
    def test_agent_not_started_says_leaktop_once(self):
        # A socket path too long for a Unix socket: the agent refuses, the program goes on.
        xdg = self.tmp + "/" + "x" * (120 - len(self.tmp) - 1)
        os.mkdir(xdg, 0o700)
        prog = self.write("quiet.py", "import time\ntime.sleep(2)\nprint('went on')\n")
        want = re.compile(r"^leaktop: agent not started: socket path .* is longer than")
        # Launched by leaktop: the bootstrap answers through the pipe, leaktop prints it.
        r = self.leaktop("check", "--duration", "2", "--", PYTHONS[0], prog,
                         env=dict(self.env, XDG_RUNTIME_DIR=xdg))
        self.assertEqual(r.returncode, 2, r.stderr)
        line = r.stderr.strip().splitlines()[0]
        self.assertRegex(line, want)
        self.assertEqual(line.count("leaktop:"), 1, line)
        # Started without leaktop waiting (a child of a launched program): it says so on stderr.
        env = self.agent_env(XDG_RUNTIME_DIR=xdg, LEAKTOP_AUTOSTART="1")
        env["PYTHONPATH"] = AGENT_DIR
        r = subprocess.run([PYTHONS[0], prog], env=env, capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "went on\n")
        line = r.stderr.strip().splitlines()[0]
        self.assertRegex(line, want)
        self.assertEqual(line.count("leaktop:"), 1, line)


if __name__ == "__main__":
    unittest.main()
