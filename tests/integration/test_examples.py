"""Leak verdicts on the bundled examples: every leak is named among the top three suspects
(its type, the leaking line in a site's traceback, or native memory) and check exits 1; every
bounded program has no suspect and exits 0. Runs `leaktop check --json --duration 10` as a user
would."""
import concurrent.futures
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import LEAKTOP, PYTHONS, ROOT, SANITIZE, LeaktopTestCase  # noqa: E402

EXAMPLES = os.path.join(ROOT, "examples")

# What counts as naming the leak: type names, "native", or "site" (the marked line). Up to
# Python 3.10 every instance has its own __dict__, which leaks with it: "dict" names it too.
LEAKS = {
    "leak_unbounded_cache.py": {"__main__.Result", "dict", "site"},
    "leak_listeners.py": {"__main__.RequestContext", "method", "dict", "site"},
    "leak_cycles_gc_disabled.py": {"__main__.Node", "dict", "site"},
    "leak_closure.py": {"function", "cell", "native", "site"},
    "leak_global_history.py": {"__main__.Event", "list", "site"},
    "leak_pending_tasks.py": {"_asyncio.Task", "coroutine", "site"},
    "leak_growing_buffer.py": {"bytearray", "native", "site"},
    "leak_native_ctypes.py": {"native"},
}
BOUNDED = ["bounded_lru_cache.py", "bounded_deque.py", "bounded_warm_cache.py",
           "bounded_churn.py"]


def leaking_line(path):
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if "# the leaking line" in line:
                return n
    return None


class ExamplesTest(LeaktopTestCase):
    def check_all(self, names):
        def one(name):
            return name, self.leaktop("check", "--json", "--duration", "10", "--",
                                      PYTHONS[0], os.path.join(EXAMPLES, name), timeout=120)
        with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
            return dict(pool.map(one, names))

    def test_leaks_are_named(self):
        results = self.check_all(sorted(LEAKS))
        for name, r in sorted(results.items()):
            with self.subTest(example=name):
                self.assertEqual(r.returncode, 1, "%s: exit %d, %s" % (name, r.returncode,
                                                                       r.stderr))
                report = json.loads(r.stdout)
                path = os.path.join(EXAMPLES, name)
                line = leaking_line(path)
                named = []
                for s in report["suspects"][:3]:
                    self.assertGreaterEqual(s["score"], 0.5)
                    self.assertTrue(s["reason"])
                    if s["kind"] == "site":
                        frames = [(f["file"], f["line"]) for f in s["traceback"]]
                        if (path, line) in frames:
                            named.append("site")
                    elif s["kind"] == "native":
                        named.append("native")
                    else:
                        named.append(s["name"])
                self.assertTrue(set(named) & LEAKS[name],
                                "%s: top suspects %s, expected one of %s" % (
                                    name, [(s["kind"], s["name"]) for s in report["suspects"][:3]],
                                    sorted(LEAKS[name])))

    def test_listeners_chain_names_the_list(self):
        r = self.leaktop("check", "--json", "--duration", "8", "--", PYTHONS[0],
                         os.path.join(EXAMPLES, "leak_listeners.py"), timeout=90)
        self.assertEqual(r.returncode, 1, r.stderr)
        report = json.loads(r.stdout)
        chains = {s["name"]: s.get("referrer_chain") for s in report["suspects"]
                  if s["kind"] == "type"}
        self.assertIn("__main__.RequestContext", chains)
        self.assertRegex(chains["__main__.RequestContext"],
                         r"^__main__\.bus\.handlers\[\d+\]\.__self__$")
        s = [x for x in report["suspects"] if x["name"] == "__main__.RequestContext"][0]
        self.assertEqual([h["type"] for h in s["referrers"]],
                         ["module", "__main__.EventBus", "list", "method",
                          "__main__.RequestContext"])
        self.assertLess(s["referrers_pause_ms"], 500)

    def test_a_leaking_builtin_is_traced_to_the_leak_not_to_older_instances(self):
        # 200,000 lists made at start and kept (as libraries keep theirs), then a list of 8 KB
        # leaked into a registry every 10 ms (a suspect by its bytes): "what keeps list alive"
        # must name the registry, not the old ones that outnumber the leaked for the whole run
        # (over 200 to 1). With the allocation sampler off no leaked instance is ever sampled,
        # so the search cannot be lucky: it must start from the youngest lists, whatever the
        # collector did meanwhile (each interpreter's differs: every Python built for).
        prog = self.write("leak_lists.py", '''
import time
old_tables = [[i] for i in range(200000)]
class Registry:
    def __init__(self):
        self.entries = []
registry = Registry()
print("ready", flush=True)
while True:
    registry.entries.append([0] * 1000)
    time.sleep(0.01)
''')
        # With the sampler on too (its newest pick is where the search went first), once.
        runs = [(py, "sample_bytes=0") for py in PYTHONS] + [(PYTHONS[0], "")]

        # Watched once the old lists are made (their creation, seconds on a busy machine, would
        # be a step in the series, not a trend): started with the agent, then check --pid.
        def one(run):
            py, options = run
            p = self.spawn([py, prog], env=self.agent_env(LEAKTOP_AUTOSTART="1",
                                                          LEAKTOP_OPTIONS=options))
            self.wait_line(p, "ready", timeout=120)
            return run, self.leaktop("check", "--json", "--duration", "8", "--pid", str(p.pid),
                                     timeout=120)
        with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
            results = dict(pool.map(one, runs))
        for (py, options), r in sorted(results.items()):
            with self.subTest(python=py, options=options):
                self.assertEqual(r.returncode, 1, r.stderr)
                report = json.loads(r.stdout)
                if options:
                    self.assertEqual(report["agent"]["sample_interval_bytes"], 0)
                lists = [s for s in report["suspects"]
                         if s["kind"] == "type" and s["name"] == "list"]
                self.assertTrue(lists, [(s["kind"], s["name"]) for s in report["suspects"]])
                self.assertRegex(lists[0]["referrer_chain"],
                                 r"^__main__\.registry\.entries\[\d+\]$")

    def test_cycles_with_gc_disabled_are_explained(self):
        r = self.leaktop("check", "--json", "--duration", "8", "--", PYTHONS[0],
                         os.path.join(EXAMPLES, "leak_cycles_gc_disabled.py"), timeout=90)
        report = json.loads(r.stdout)
        node = [s for s in report["suspects"] if s["name"] == "__main__.Node"][0]
        self.assertEqual(node["referrer_chain"], "")
        self.assertIn("gc is disabled", node["referrers_note"])

    def test_bounded_programs_stay_quiet(self):
        # Under ASan a freed block waits in its quarantine (256 MB) before it is reused, so a
        # program that churns through memory grows its RSS for minutes: native growth, rightly.
        churn = {"bounded_churn.py"} if SANITIZE else set()
        results = self.check_all([n for n in BOUNDED if n not in churn])
        for name in sorted(churn):
            with self.subTest(example=name):
                self.skipTest("under ASan: its quarantine of freed blocks grows a churning "
                              "program's RSS")
        for name, r in sorted(results.items()):
            with self.subTest(example=name):
                report = json.loads(r.stdout)
                self.assertEqual(report["suspects"], [], name)
                self.assertEqual(r.returncode, 0, r.stderr)

    def test_text_report_lists_suspects(self):
        r = self.leaktop("check", "--duration", "8", "--", PYTHONS[0],
                         os.path.join(EXAMPLES, "leak_cycles_gc_disabled.py"), timeout=60)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("LEAK SUSPECTS", r.stdout)
        self.assertRegex(r.stdout, r"\[type\] __main__\.Node\s+score \d\.\d\d")
        self.assertIn("DISABLED", r.stdout)  # gc off is shown


if __name__ == "__main__":
    unittest.main()
