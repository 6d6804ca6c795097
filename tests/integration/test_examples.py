"""Leak verdicts on the bundled examples: the first finding names each planted leak (its type,
the line of the example that allocates it, and what holds it; or the line alone for memory no
GC-tracked type holds; or native memory) and check exits 1; every bounded program has no
finding and exits 0. Runs `leaktop check --json --duration 10` as a user would."""
import concurrent.futures
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import LEAKTOP, PYTHONS, ROOT, SANITIZE, LeaktopTestCase  # noqa: E402

EXAMPLES = os.path.join(ROOT, "examples")

# What the first finding must say of each leak: its type (one of), whether the marked line is in
# one of its tracebacks, and its holder (the container expression), or a word of the note that
# says why there is none. "site": the marked line alone (a bytearray, which the GC does not
# track); "native": native memory.
LEAKS = {
    "leak_unbounded_cache.py": ({"__main__.Result"}, "__main__._cache"),
    "leak_listeners.py": ({"__main__.RequestContext"}, "__main__.bus.handlers"),
    "leak_cycles_gc_disabled.py": ({"__main__.Node"}, "note:gc is disabled"),
    "leak_closure.py": ({"function", "cell"}, "__main__.callbacks"),
    "leak_global_history.py": ({"__main__.Event"}, "__main__.history"),
    "leak_pending_tasks.py": ({"_asyncio.Task"}, "pending:"),
    "leak_growing_buffer.py": ("site", None),
    "leak_native_ctypes.py": ("native", None),
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
        # Under ASan every freed block waits in a quarantine (256 MB) before it is reused: a
        # buffer that grows by reallocation then grows the RSS many times faster than the heap,
        # and the native finding would rank above the buffer's own line. A small quarantine keeps
        # the sanitizer's memory out of what is measured.
        env = None
        if SANITIZE:
            env = dict(self.env, ASAN_OPTIONS=self.env.get("ASAN_OPTIONS", "") +
                       ":quarantine_size_mb=4")

        def one(name):
            return name, self.leaktop("check", "--json", "--duration", "10", "--",
                                      PYTHONS[0], os.path.join(EXAMPLES, name), timeout=120,
                                      env=env)
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
                types, holder = LEAKS[name]
                self.assertTrue(report["findings"], report["suspects"])
                first = report["findings"][0]
                what = "%s: first finding %r" % (name, first["summary"])
                self.assertGreaterEqual(first["score"], 0.5, what)
                self.assertTrue(first["score_reason"], what)
                if types == "native":
                    self.assertEqual(first["kind"], "native", what)
                    continue
                if types == "site":
                    self.assertEqual(first["kind"], "site", what)
                else:
                    self.assertEqual(first["kind"], "type", what)
                    self.assertIn(first["type"], types, what)
                # Its line is the example's own, and the marked line allocates it (or what it
                # groups: a listener's bound method, a closure's cell).
                self.assertEqual(first["file"], path, what)
                lines = {(f["file"], f["line"]) for f in first["traceback"]}
                for site in first["sites"]:
                    lines |= {(f["file"], f["line"]) for f in site["traceback"]}
                self.assertIn((path, line), lines, what)
                if holder is None:
                    continue
                if holder == "pending:":
                    # Held by the event loop, from no module; what lists them is asyncio's
                    # task set (its WeakSet, or that set's own set of weak references).
                    self.assertIn("pending tasks, never awaited or cancelled",
                                  first["holder_note"], what)
                    self.assertIn(first["holder"], {"_asyncio._all_tasks", "_asyncio.data",
                                                    "asyncio.all_tasks()"}, what)
                    self.assertIn("held by the event loop", first["summary"], what)
                elif holder.startswith("note:"):
                    self.assertEqual(first["holder"], "", what)
                    self.assertIn(holder[5:], first["holder_note"], what)
                else:
                    self.assertEqual(first["holder"], holder, what)

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
                # The first finding: lists, held by the registry, made at the loop's line
                # (known with the sampler).
                first = report["findings"][0]
                self.assertEqual(first["type"], "list", first["summary"])
                self.assertEqual(first["holder"], "__main__.registry.entries", first["summary"])
                if options == "":
                    self.assertEqual((first["file"], first["line"]), (prog, 10),
                                     first["summary"])

    def test_a_leak_is_traced_past_the_temporaries_in_flight(self):
        # A thread that always holds ten fresh lists in its locals (a request being served),
        # and a list leaked into a registry every 10 ms: the youngest lists are nearly always
        # the temporaries, held by a running function (by nothing the GC tracks since 3.11).
        # What keeps lists alive is the registry, not "a running function's locals".
        prog = self.write("leak_in_flight.py", '''
import threading
import time
class Registry:
    def __init__(self):
        self.entries = []
registry = Registry()
def serve():
    while True:
        a, b, c, d, e, f, g, h, i, j = [], [], [], [], [], [], [], [], [], []
        time.sleep(0.002)
threading.Thread(target=serve, daemon=True).start()
print("ready", flush=True)
while True:
    registry.entries.append([0] * 1000)
    time.sleep(0.01)
''')
        runs = [(py, "sample_bytes=0") for py in PYTHONS] + [(PYTHONS[0], "")]

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
                first = report["findings"][0]
                self.assertEqual(first["type"], "list", first["summary"])
                self.assertEqual(first["holder"], "__main__.registry.entries", first["summary"])

    def test_pending_tasks_are_held_by_the_event_loop_every_python(self):
        # The task leads its finding (not its coroutines, frames or futures, which grow at
        # twice its pace), held by the event loop, listed in asyncio's task set; on every
        # Python built for (the task set and the chains to it differ).
        path = os.path.join(EXAMPLES, "leak_pending_tasks.py")

        def one(py):
            return py, self.leaktop("check", "--json", "--duration", "10", "--", py, path,
                                    timeout=120)
        with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
            results = dict(pool.map(one, PYTHONS))
        for py, r in sorted(results.items()):
            with self.subTest(python=py):
                self.assertEqual(r.returncode, 1, r.stderr)
                first = json.loads(r.stdout)["findings"][0]
                what = first["summary"]
                self.assertEqual(first["type"], "_asyncio.Task", what)
                self.assertEqual((first["file"], first["line"]), (path, leaking_line(path)),
                                 what)
                self.assertIn(first["holder"], {"_asyncio._all_tasks", "_asyncio.data",
                                                "asyncio.all_tasks()"}, what)
                self.assertIn("pending tasks, never awaited or cancelled",
                              first["holder_note"], what)

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
                self.assertEqual(report["findings"], [], name)
                self.assertEqual(r.returncode, 0, r.stderr)

    def test_text_report_lists_suspects(self):
        r = self.leaktop("check", "--duration", "8", "--", PYTHONS[0],
                         os.path.join(EXAMPLES, "leak_cycles_gc_disabled.py"), timeout=60)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("LEAK SUSPECTS", r.stdout)
        # Findings first: before the process's figures, one sentence each.
        self.assertLess(r.stdout.index("LEAKS FOUND"), r.stdout.index("process   RSS"))
        self.assertRegex(r.stdout, r"1\. __main__\.Node grows \(\+\d+/s, .*\), allocated at "
                                   r"leak_cycles_gc_disabled\.py:\d+ in <module>, not held by "
                                   r"a chain: .*gc is disabled")
        self.assertRegex(r.stdout, r"\[type\] __main__\.Node\s+score \d\.\d\d")
        self.assertIn("DISABLED", r.stdout)  # gc off is shown


if __name__ == "__main__":
    unittest.main()
