"""Estimates between exact censuses: a growing type shows before the next census.

A program builds a fragmented heap of a million tracked objects, starts the agent with a budget
so small that the next exact census is minutes away (budget=0.0002: its ~75 ms of CPU per census
earn back in about six minutes), keeps a bounded window of Churn objects replaced at 250/s, and
leaks 50 Record objects a second (instances with a few attributes: an int, a str, a float, a
dict). `leaktop check --pid` watches it for 30 s: no census completes meanwhile (its counts get
older), yet the report must show Record's count as an estimate near the true one (the program
logs how many it holds), name Record as a growing type, and name neither Churn (it churns but
stays bounded) nor Node (the heap, quiet). The sampler runs at 1 KiB so that a 30 s window holds
enough samples of the Records' own blocks. Then the same at the default sampler (64 KiB) and 20
Records a second: too few samples, but the arrivals since the census's mark are counted, so the
estimate is exact. bench/estimates.py measures the default settings on a 20 M-object heap.
"""
import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import AGENT_DIR, PYTHONS, SANITIZE, LeaktopTestCase  # noqa: E402

PROGRAM = r'''
import gc, os, random, sys, time
import leaktop

class Node(object):
    __slots__ = ("a", "b")

class Record(object):
    def __init__(self, i):
        self.id = i
        self.path = "/api/items/%d" % i
        self.started = time.time()
        self.headers = {"host": "example.org", "n": i}

class Churn(object):
    def __init__(self, i):
        self.id = i
        self.payload = [i, i + 1]

N, RATE, COUNT_FILE, SAMPLE_BYTES = (int(sys.argv[1]), float(sys.argv[2]), sys.argv[3],
                                     int(sys.argv[4]))
heap = [Node() for _ in range(N)]
random.shuffle(heap)
del heap[::2]
heap.extend(Node() for _ in range(N - len(heap)))
window = [Churn(k) for k in range(3000)]
gc.collect()
leaktop.start(budget=0.0002, sample_bytes=SAMPLE_BYTES)
# The first census is taken at start (not held to the budget): wait until it is done, so every
# Record is made after it.
deadline = time.monotonic() + 300
while (leaktop._census() or {}).get("censuses", 0) < 1 and time.monotonic() < deadline:
    time.sleep(0.05)
leaked = []
print("ready %d" % os.getpid(), flush=True)
t0, i = time.monotonic(), 0
while True:
    i += 1
    target = t0 + i / RATE
    now = time.monotonic()
    if target > now:
        time.sleep(target - now)
    leaked.append(Record(i))
    for k in range(5):
        window.append(Churn(k))
    del window[:5]
    if i % 10 == 0:
        with open(COUNT_FILE, "a") as f:
            f.write("%d %d\n" % (len(leaked), time.monotonic_ns()))
'''


class EstimatesTest(LeaktopTestCase):
    def test_growing_type_estimated_before_the_next_census_bounded_churn_quiet(self):
        # (The first Python only: the estimates' arithmetic is the agent's own; the walks each
        # version needs are the next test's, on every one.)
        self.estimated(rate=50, sample_bytes=1024, pythons=PYTHONS[:1])

    def test_arrivals_count_a_slow_leak_exactly_at_the_default_sampler(self):
        # 20 Records a second at the default 64 KiB interval: ~3 of the 600 instances leaked in
        # 30 s would be sampled, far below any noise floor. What joined the collector's lists
        # since the census's mark is counted instead: Record's estimate is exact (no sampling
        # noise: none of the Records made before the mark died), Churn's window (replaced
        # whole, every 12 s) is not a leak.
        self.estimated(rate=20, sample_bytes=65536, exact=True)

    def estimated(self, rate, sample_bytes, exact=False, pythons=PYTHONS):
        prog = self.write("est.py", PROGRAM)
        count_file = os.path.join(self.tmp, "count")
        slow = 3 if SANITIZE else 1
        for py in pythons:
            with self.subTest(python=py):
                p = self.spawn([py, prog, "1000000", str(rate), count_file, str(sample_bytes)],
                               env=self.agent_env())
                pid = int(self.wait_line(p, "ready ", timeout=240 * slow).split()[1])
                t0 = time.monotonic_ns()
                report, r = self.check_json("--pid", str(pid), "--duration", "30",
                                            timeout=120 * slow)
                t1 = time.monotonic_ns()
                self.kill_pid(p)
                # How many the program held (its log: a line every 10): the report's last
                # sample came near the end of the watch, before check waited for the agent's
                # answers (why-alive), and before it returned.
                with open(count_file) as f:
                    log = [tuple(map(int, line.split())) for line in f if line.strip()]
                os.unlink(count_file)

                def held_at(t):
                    return max([n for n, at in log if at <= t] or [0])
                held_lo = held_at(t0 + (report["duration_s"] - 3) * 1e9)
                held = held_at(t1)
                types = {t["name"]: t for t in report["types"]}
                sys.stderr.write("\n%s: Record %s (held %d), counts %.0f s old, suspects %s\n" % (
                    py, {k: v for k, v in types.get("__main__.Record", {}).items()
                         if k in ("count", "count_sd", "estimated")}, held,
                    report["agent"]["counts_age_s"],
                    [(s["kind"], s["name"]) for s in report["suspects"]][:6]))
                # No census meanwhile: the counts are older than the watch.
                self.assertGreater(report["agent"]["counts_age_s"], 25, report["agent"])
                rec = types.get("__main__.Record")
                self.assertIsNotNone(rec, list(types)[:10])
                self.assertTrue(rec["estimated"], rec)
                # Near the truth: within 4 standard deviations of the sampling noise (the
                # program counted a little after the report's last sample).
                self.assertLess(rec["count"], held + 4 * rec["count_sd"] + 0.1 * held,
                                (rec, held_lo, held))
                self.assertGreater(rec["count"], held_lo - 4 * rec["count_sd"] - 0.1 * held_lo,
                                   (rec, held_lo, held))
                self.assertGreater(rec["count"], held / 3, (rec, held))
                if exact:
                    # Counted, not sampled: the report's last sample came a little before the
                    # program's count (at most a second: 20 Records).
                    self.assertEqual(rec["count_sd"], 0, rec)
                    self.assertLessEqual(rec["count"], held, (rec, held_lo, held))
                    self.assertGreaterEqual(rec["count"], held_lo - 10, (rec, held_lo, held))
                # The heap's own type is exact, unchanged.
                self.assertFalse(types["__main__.Node"]["estimated"], types["__main__.Node"])
                self.assertEqual(types["__main__.Node"]["count"], 1000000)
                suspects = [(s["kind"], s["name"]) for s in report["suspects"]]
                self.assertIn(("type", "__main__.Record"), suspects,
                              json.dumps(report["suspects"], indent=1)[:3000])
                named = [s for s in report["suspects"] if s["name"] == "__main__.Record"]
                self.assertTrue(named[0]["estimated"], named[0])
                for quiet in ("__main__.Churn", "__main__.Node"):
                    self.assertNotIn(("type", quiet), suspects,
                                     json.dumps(report["suspects"], indent=1)[:3000])
                self.assertEqual(r.returncode, 1, r.stderr)


if __name__ == "__main__":
    unittest.main()
