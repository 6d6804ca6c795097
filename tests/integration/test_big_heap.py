"""The census in slices: exact counts while the host allocates and collects between slices.

The walk holds the GIL for at most a slice and goes on from a cursor object it keeps alive; a
collection of the cursor's generation or an older one, gc.freeze()/unfreeze(), or a cursor that
left its list makes it start over. A program holding a fixed population of Keep objects runs a
thread churning objects (young collections all the time), a thread calling gc.collect() on a
random generation and one freezing and unfreezing the heap, while the agent walks in slices of
0.4 ms: every census must count exactly the Keep objects, and every slice must stay short.
"""
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import PYTHONS, SANITIZE, LeaktopTestCase  # noqa: E402

KEEP = 60000

CHURN = r'''
import gc, json, random, sys, threading, time
import leaktop

class Keep(object):
    pass
class Churn(object):
    pass

KEEP = int(sys.argv[1])
keep = [Keep() for _ in range(KEEP)]
filler = [[i] for i in range(150000)]  # a heap the walk needs many slices for
gc.collect()
built = time.monotonic_ns()  # CLOCK_MONOTONIC, as the agent's
stop = threading.Event()

def churn():
    window = []
    while not stop.is_set():
        window.append([Churn() for _ in range(50)])
        window.append({"k": [1, 2, 3]})
        if len(window) > 100:
            del window[:random.randrange(1, 80)]

SLOW = float(sys.argv[4])

def collector():
    # Young collections all the time (they must not disturb a walk of the oldest generation),
    # a full one now and then (the walk starts over).
    n = 0
    while not stop.is_set():
        n += 1
        gc.collect(2 if n % 150 == 0 else random.randrange(2))
        time.sleep(0.01 * SLOW)

def freezer():
    while not stop.is_set():
        time.sleep(2.5 * SLOW)
        gc.freeze()
        time.sleep(0.02)
        gc.unfreeze()

threads = [threading.Thread(target=f) for f in (churn, churn, collector, freezer)]
for t in threads:
    t.start()
seen, last, deadline = [], 0, time.monotonic() + float(sys.argv[2])
def enough():
    # the censuses wanted, and at least one walk moved by a collection (started over)
    return len(seen) >= int(sys.argv[3]) and (
        sum(c["restarts"] for c in seen) + seen[-1]["given_up"]) > 0
while not enough() and time.monotonic() < deadline:
    c = leaktop._census()
    if c is not None and c["censuses"] != last and c["started_mono_ns"] > built:
        last = c["censuses"]
        seen.append({"keep": c["counts"].get("__main__.Keep", 0), "exact": c["exact"],
                     "slices": c["slices"], "restarts": c["restarts"],
                     "max_hold_ms": c["max_hold_ns"] / 1e6, "objects": c["objects"],
                     "max_slice_cpu_ms": c["max_slice_cpu_ns"] / 1e6,
                     "given_up": c["given_up"]})
    time.sleep(0.005)
stop.set()
for t in threads:
    t.join()
print("censuses " + json.dumps(seen), flush=True)
sys.stderr.write("censuses " + json.dumps(seen) + "\n")
'''


class SlicedCensusTest(LeaktopTestCase):
    def test_exact_under_churn_and_collections_between_slices(self):
        prog = self.write("churn.py", CHURN)
        # Short slices (max_pause 1 ms: 0.4 ms slices) and a budget that lets censuses follow
        # each other, so collections land between slices all the time.
        env = dict(self.env, LEAKTOP_OPTIONS="budget=0.5,max_pause=0.001")
        slow = 3 if SANITIZE else 1
        for py in PYTHONS:
            with self.subTest(python=py):
                # The program ends after 6 censuses (or 30 s); check ends with it.
                report, r = self.check_json("--duration", str(40 * slow), "--interval", "0.05",
                                            "--", py, prog, str(KEEP), str(30 * slow), "6", str(slow),
                                            env=env, timeout=120 * slow)
                line = [x for x in r.stderr.splitlines() + r.stdout.splitlines()
                        if x.startswith("censuses ")]
                self.assertTrue(line, "the program's summary is missing: %s" % r.stderr[-2000:])
                seen = json.loads(line[0][len("censuses "):])
                # On a loaded machine (or under the sanitizers) most walks are moved by a
                # collection and start over; a few finish.
                self.assertGreaterEqual(len(seen), 1, seen)
                exact = [c for c in seen if c["exact"]]
                self.assertTrue(exact, seen)
                for c in exact:
                    self.assertEqual(c["keep"], KEEP, c)
                # The walk was resumed many times, and started over when it had to.
                self.assertGreater(max(c["slices"] for c in seen), 3, seen)
                # (given_up: walks that started over three times and were not published)
                self.assertGreater(sum(c["restarts"] for c in seen) + seen[-1]["given_up"], 0,
                                   seen)
                # Each slice's own CPU time stays near its 0.4 ms (+0.3 ms for the young lists);
                # wall time may include the machine's other load, CPU time does not.
                self.assertLess(max(c["max_slice_cpu_ms"] for c in seen), 1.5 * slow, seen)
                # Through the real viewer: the counts it reports, and when they were completed.
                counts = {t["name"]: t["count"] for t in report["types"]}
                self.assertEqual(counts.get("__main__.Keep"), KEEP, report["types"][:5])


if __name__ == "__main__":
    unittest.main()
