"""The census is exact for GC-tracked objects, on every Python the agent was built for."""
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import HOLDER, PYTHONS, LeaktopTestCase, python_version  # noqa: E402

N = 123457


class CensusTest(LeaktopTestCase):
    def test_exact_count_every_python(self):
        prog = self.write("holder.py", HOLDER)
        for py in PYTHONS:
            with self.subTest(python=py):
                report, _ = self.check_json("--duration", "2", "--interval", "0.2", "--",
                                            py, prog, str(N), "30")
                self.assertEqual(report["python"].rsplit(".", 1)[0], python_version(py))
                counts = {t["name"]: t["count"] for t in report["types"]}
                self.assertEqual(counts.get("__main__.Session"), N, report["types"][:5])
                self.assertGreater(report["samples"], 3)
                self.assertGreaterEqual(report["agent"]["tracked_objects"], N)
                self.assertGreater(report["process"]["rss_bytes"], 0)

    def test_frozen_objects_counted_once_every_python(self):
        # gc.freeze() moves every tracked object to the permanent generation. The collector's
        # own walk (PyUnstable_GC_VisitObjects) leaves that generation out on 3.12-3.13 and
        # includes it on 3.14+: each object must still be counted exactly once.
        prog = self.write("frozen.py", r'''
import gc, sys, time
class Frozen(object):
    pass
class Young(object):
    pass
old = [Frozen() for _ in range(40001)]
gc.freeze()
assert gc.get_freeze_count() > 40001, gc.get_freeze_count()
new = [Young() for _ in range(3001)]
print("ready", flush=True)
time.sleep(30)
''')
        for py in PYTHONS:
            with self.subTest(python=py):
                report, _ = self.check_json("--duration", "1.5", "--interval", "0.2", "--",
                                            py, prog)
                counts = {t["name"]: t["count"] for t in report["types"]}
                self.assertEqual(counts.get("__main__.Frozen"), 40001, report["types"][:5])
                self.assertEqual(counts.get("__main__.Young"), 3001, report["types"][:5])

    def test_names_follow_the_contract(self):
        prog = self.write("names.py", r'''
import collections, os, sys, time
class Outer:
    class Inner:
        pass
def make():
    class Local:
        pass
    return Local
Local = make()
keep = [Outer.Inner() for _ in range(300)] + [Local() for _ in range(200)]
keep += [collections.OrderedDict(a=i) for i in range(100)] + [{"x": [i]} for i in range(400)]
print("ready", flush=True)
time.sleep(30)
''')
        report, _ = self.check_json("--duration", "1.5", "--interval", "0.2", "--top", "500",
                                    "--", PYTHONS[0], prog)
        counts = {t["name"]: t["count"] for t in report["types"]}
        self.assertEqual(counts.get("__main__.Outer.Inner"), 300)
        self.assertEqual(counts.get("__main__.make.<locals>.Local"), 200)
        self.assertEqual(counts.get("collections.OrderedDict"), 100)
        self.assertGreaterEqual(counts.get("dict", 0), 400)  # bare builtin name
        for t in report["types"]:
            self.assertGreaterEqual(t["shallow_bytes"], t["count"] * 16, t)

    def test_growth_is_measured(self):
        prog = self.write("grow.py", r'''
import time
class Leak: pass
held = []
while True:
    held.extend(Leak() for _ in range(500))
    time.sleep(0.05)
''')
        report, _ = self.check_json("--duration", "3", "--interval", "0.25", "--",
                                    PYTHONS[0], prog)
        leak = [t for t in report["types"] if t["name"] == "__main__.Leak"]
        self.assertTrue(leak, report["types"][:5])
        # 500 per 50 ms is ~10,000/s less sleep overshoot: anything in the thousands is right.
        self.assertGreater(leak[0]["growth_per_s"], 2000)
        self.assertGreater(leak[0]["delta"], 5000)
        self.assertEqual(report["types"][0]["name"], "__main__.Leak")  # sorted by growth

    def test_api_start_stop(self):
        prog = self.write("api.py", r'''
import os, sys
import leaktop
assert not leaktop.is_running()
leaktop.start(interval=0.1)
path = leaktop.socket_path()
assert leaktop.is_running() and os.path.exists(path), path
leaktop.start()                      # twice: a no-op
assert leaktop.socket_path() == path
leaktop.stop()
assert not leaktop.is_running() and not os.path.exists(path)
leaktop.stop()                       # stopping twice is harmless
leaktop.start(interval=0.1)          # stop then start works
assert leaktop.is_running() and os.path.exists(path)
for bad in (dict(interval=0), dict(interval=-1), dict(history=-5), dict(max_clients=0)):
    try:
        leaktop.start(**bad)
    except ValueError:
        pass
    else:
        raise SystemExit("accepted %r" % bad)
try:
    leaktop.start(1)
except TypeError:
    pass
else:
    raise SystemExit("positional accepted")
print("ok", path)
''')
        for py in PYTHONS:
            with self.subTest(python=py):
                r = subprocess.run([py, prog], env=self.agent_env(), capture_output=True,
                                   text=True, timeout=60)
                self.assertEqual(r.returncode, 0, r.stderr)
                path = r.stdout.split()[1]
                self.assertFalse(os.path.exists(path), "socket left after exit")


if __name__ == "__main__":
    unittest.main()
