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
import struct
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (FRAME_COMMAND, FRAME_STRING, HEADER, PYTHONS, SANITIZE,  # noqa: E402
                     LeaktopTestCase, split_frames)

FRAME_WHY, CMD_WHY_ALIVE = 12, 5

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
                # One census in a run may pass it: its last slice's merge of the counts, in the
                # same hold, once took 2.7 ms of CPU (3.15, sid; 1.6 ms on 3.13), cause not yet
                # known; none may pass the default bound of 10 ms.
                over = [c for c in seen if c["max_slice_cpu_ms"] >= 1.5 * slow]
                self.assertLessEqual(len(over), 1, seen)
                self.assertLess(max(c["max_slice_cpu_ms"] for c in seen), 10.0, seen)
                # Through the real viewer: the counts it reports, and when they were completed.
                counts = {t["name"]: t["count"] for t in report["types"]}
                self.assertEqual(counts.get("__main__.Keep"), KEEP, report["types"][:5])


WHY = r'''
import gc, json, random, sys, threading, time
import leaktop

class Leak(object):
    pass
class Churn(object):
    pass
class Registry(object):
    def __init__(self):
        self.entries = []

registry = Registry()
filler = [[i] for i in range(int(sys.argv[1]))]  # a heap each walk needs many slices for
SLOW = float(sys.argv[2])  # 3 under the sanitizers: collections as often per unit of work
gc.collect()
stop = threading.Event()

def churn():
    window = []
    while not stop.is_set():
        window.append([Churn() for _ in range(50)])
        window.append({"k": [1, 2, 3]})
        if len(window) > 100:
            del window[:random.randrange(1, 80)]

def collector():
    # gc.collect() from another thread between the search's slices: young collections all the
    # time (they move the youngest Leak instances from list to list), a full one every 1.5 s.
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

threads = [threading.Thread(target=f) for f in (churn, collector, freezer)]
for t in threads:
    t.start()

def leak():
    # The leak: a Leak every 2 ms into the registry, until the test has its answer.
    while not stop.is_set():
        registry.entries.append(Leak())
        time.sleep(0.002)

leaker = threading.Thread(target=leak)
leaker.start()
threads.append(leaker)
print("ready", flush=True)
while sys.stdin.readline().strip() == "holds":  # "holds": the figures so far; else: the end
    print("holds " + json.dumps(leaktop._holds()), flush=True)
stop.set()
for t in threads:
    t.join()
print("holds " + json.dumps(leaktop._holds()), flush=True)
'''


class SlicedWhyAliveTest(LeaktopTestCase):
    def ask_why(self, pid, type_name, timeout):
        """Ask the agent in pid what keeps type_name alive, through its socket as a viewer
        does: wait for the type's STRING, send WHY_ALIVE, wait for the WHY frame."""
        sock = self.connect(pid)
        data, sid, asked = b"", None, False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            frames, rest = split_frames(data)
            data = data[len(data) - rest:] if rest else b""
            for t, _, p in frames:
                if t == FRAME_STRING and sid is None:
                    i, n = struct.unpack_from("<II", p)
                    if p[8:8 + n].decode("utf-8", "replace") == type_name:
                        sid = i
                elif t == FRAME_WHY and asked:
                    return True
            if sid is not None and not asked:
                payload = struct.pack("<HI", CMD_WHY_ALIVE, sid)
                sock.sendall(HEADER.pack(len(payload), FRAME_COMMAND, 0) + payload)
                asked = True
            sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                chunk = sock.recv(65536)
            except OSError:
                break
            if not chunk:
                break
            data += chunk
        return False

    def test_why_alive_in_slices_under_churn_and_collections(self):
        # Slices of 0.4 ms (max_pause 1 ms) over a heap of 200,000 lists and more, while one
        # thread churns containers, one calls gc.collect() every 10 ms (generation 2 every
        # 1.5 s), one freezes and unfreezes the heap, and one leaks a Leak into a registry
        # every 2 ms: the search must name the registry, resumed across many slices, each hold
        # of the GIL within the bound in CPU time.
        prog = self.write("why.py", WHY)
        slow = 3 if SANITIZE else 1
        for py in PYTHONS:
            with self.subTest(python=py):
                p = self.spawn([py, prog, "200000", str(slow)],
                               env=self.agent_env(LEAKTOP_AUTOSTART="1",
                                                  LEAKTOP_OPTIONS="max_pause=0.001"),
                               stdin=subprocess.PIPE)
                self.wait_line(p, "ready", timeout=60 * slow)
                # When collections kept moving the heap for a whole search (a full collection
                # every 1.5 s, slower slices under the sanitizers), the answer says so and asks
                # to try again: the test does, as a user would, up to three times.
                tries, before = 0, 0
                while True:
                    tries += 1
                    self.assertTrue(self.ask_why(p.pid, "__main__.Leak", 40 * slow),
                                    "no WHY answer")
                    p.stdin.write(b"holds\n")
                    p.stdin.flush()
                    line = self.wait_line(p, "holds ", timeout=30 * slow)
                    holds = json.loads(line[len("holds "):])
                    w = holds["why_last"]
                    if w["found"] or "try again" not in w["note"] or tries == 3:
                        break
                    before = holds["why_alive"]["holds"]
                p.stdin.write(b"done\n")
                p.stdin.flush()
                self.wait_line(p, "holds ", timeout=30 * slow)
                if SANITIZE and not w["found"]:
                    # Under the sanitizers, beside CI's other passes, three searches in a row
                    # were all moved by collections (27 restarts, one list skipped each): the
                    # answer must then say so, never a wrong chain or a wrong "no root"; what
                    # the sanitizers check here (the walk's references across slices and
                    # collections) ran all the same. The plain pass requires the chain.
                    self.assertIn("try again", w["note"], w)
                else:
                    self.assertEqual(w["found"], 1, w)
                    self.assertRegex(w["chain"], r"^__main__\.registry\.entries\[\d+\]", w)
                # Resumed across many slices, each hold short in CPU time (wall time may
                # include the machine's other load).
                self.assertGreater(w["slices"], 50, w)
                self.assertGreater(w["holds"], w["slices"] // 2, w)
                # The bound is 1 ms of CPU per hold (slices of 0.4 ms, 0.3 ms more for the young
                # lists). On a machine loaded far past its cores a hold's CPU time can still
                # pass it now and then: one in a hundred at most, and never 10 ms.
                h = holds["why_alive"]
                self.assertEqual(h["holds"] - before, w["holds"], holds)
                self.assertLessEqual(h["over_bound"], max(1, h["holds"] // 100), holds)
                self.assertLess(w["max_pause_cpu_ms"], 10.0, w)
                sys.stderr.write("why: %d slices, %d holds (%d over 1 ms of CPU), %d restarts, "
                                 "skipped %d, longest %.2f ms CPU / %.2f ms wall, %.0f ms in "
                                 "all: %s\n" % (
                                     w["slices"], w["holds"], h["over_bound"], w["restarts"],
                                     w["skipped"],
                                     w["max_pause_cpu_ms"], w["max_pause_ms"], w["total_ms"],
                                     w["chain"]))
                self.assertEqual(p.wait(timeout=30 * slow), 0)


if __name__ == "__main__":
    unittest.main()
