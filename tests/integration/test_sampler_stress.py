"""The allocation sampler under stress, on every Python the agent was built for: many threads
allocating while the agent starts and stops, garbage collection running meanwhile, allocations
from C extensions, interpreter shutdown with daemon threads still allocating, fork while
sampling, and another tool (tracemalloc) wrapping the hooks. Each program must finish with its
expected output and exit status 0."""
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import PYTHONS, LeaktopTestCase  # noqa: E402

START_STOP = r'''
import ctypes, gc, json, re, sys, threading, time, zlib
import leaktop

NTHREADS = 24
stop = False
counts = [0] * NTHREADS
errors = []

def worker(k):
    try:
        rx = re.compile(r"(\w+)-(\d+)")
        keep = []
        i = 0
        while not stop:
            s = json.dumps({"k": k, "i": i, "l": list(range(i % 30))})   # C: json
            d = json.loads(s)
            m = rx.findall("abc-%d def-%d " % (i, k) * 3)                # C: re
            b = ctypes.create_string_buffer(64 + i % 500)                # C: ctypes
            z = zlib.compress(s.encode() * 4)                            # C: zlib
            keep.append((d, m, b.raw[:8], z, bytearray(i % 2000)))
            if len(keep) > 300:
                del keep[:150]
            i += 1
        counts[k] = i
    except BaseException as e:
        errors.append(repr(e))

def collector():
    while not stop:
        gc.collect()
        time.sleep(0.002)

threads = [threading.Thread(target=worker, args=(k,)) for k in range(NTHREADS)]
threads.append(threading.Thread(target=collector))
for t in threads:
    t.start()
for cycle in range(100):
    leaktop.start(interval=0.02, sample_bytes=(1024, 16384, 262144)[cycle % 3],
                  frames=(1, 64, 256)[cycle % 3])
    assert leaktop.is_running()
    time.sleep(0.06 if cycle % 10 == 0 else 0.005)  # some cycles see a census or two
    leaktop.stop()
    assert not leaktop.is_running()
stop = True
for t in threads:
    t.join()
assert not errors, errors
assert all(counts), counts
print("done", NTHREADS, sum(counts) > 0)
'''

SHUTDOWN = r'''
import json, sys, threading, time
import leaktop

def churn(k):
    keep = []
    i = 0
    while True:
        keep.append({"k": k, "i": i, "s": "x" * (i % 300), "j": json.dumps([i] * 5)})
        if len(keep) > 500:
            del keep[:250]
        i += 1

leaktop.start(interval=0.05, sample_bytes=2048)
for k in range(8):
    threading.Thread(target=churn, args=(k,), daemon=True).start()
time.sleep(0.3)
print("exiting", flush=True)
sys.exit(0)  # daemon threads still allocating, sampler still on
'''

FORK = r'''
import os, sys, threading, time
import leaktop

stop = False
def churn():
    keep = []
    while not stop:
        keep.append(bytearray(300))
        keep.append({"a": len(keep)})
        if len(keep) > 2000:
            del keep[:1000]

leaktop.start(interval=0.05, sample_bytes=2048)
threads = [threading.Thread(target=churn) for _ in range(4)]
for t in threads:
    t.start()
kids = []
for n in range(6):
    time.sleep(0.05)
    pid = os.fork()
    if pid == 0:
        # The child: its own agent and an empty sampler, working at once.
        ok = leaktop.is_running() and leaktop.socket_path().endswith("/%d.sock" % os.getpid())
        st = leaktop._sampler_stats()
        ok = ok and st is not None and st["live"] < 10000
        data = [bytearray(1000) for _ in range(5000)]
        st = leaktop._sampler_stats()
        ok = ok and st["samples"] > 100
        leaktop.stop()
        os._exit(0 if ok else 3)
    kids.append(pid)
statuses = [os.waitpid(pid, 0)[1] for pid in kids]
stop = True
for t in threads:
    t.join()
st = leaktop._sampler_stats()
assert st is not None and st["samples"] > 0, st
assert leaktop.is_running()
leaktop.stop()
print("children", statuses)
'''

WRAPPED = r'''
import leaktop, tracemalloc, gc
leaktop.start(interval=0.05, sample_bytes=4096)
tracemalloc.start(5)          # wraps leaktop's hooks
data = [bytearray(100) for _ in range(20000)]
leaktop.stop()                # cannot unhook: stays in the chain, passing through
more = [bytearray(100) for _ in range(20000)]
assert leaktop._sampler_stats() is None
del data
gc.collect()
leaktop.start(interval=0.05, sample_bytes=4096)   # re-armed in place, not nested
again = [bytearray(100) for _ in range(20000)]
st = leaktop._sampler_stats()
assert st["samples"] > 100, st
size, peak = tracemalloc.get_traced_memory()
assert size > 2000000, size   # tracemalloc still sees everything
tracemalloc.stop()            # back to leaktop's hook
after = [bytearray(100) for _ in range(20000)]
assert leaktop._sampler_stats()["samples"] > st["samples"]
leaktop.stop()
tracemalloc.start()
leaktop.start(sample_bytes=4096)
leaktop.stop()
tracemalloc.stop()
print("wrapped ok")
'''


class SamplerStressTest(LeaktopTestCase):
    def run_prog(self, name, text, timeout=240, runs=1):
        """Run the program once on every Python, and `runs` times in all on the first (python3:
        the races the repeats are for are the agent's own, in code every version shares)."""
        prog = self.write(name, text)
        outs = []
        for py in PYTHONS:
            for _ in range(runs if py == PYTHONS[0] else 1):
                with self.subTest(python=py):
                    r = subprocess.run([py, prog], env=self.agent_env(), capture_output=True,
                                       text=True, timeout=timeout)
                    self.assertEqual(r.returncode, 0, "%s: %s" % (py, r.stderr[-3000:]))
                    self.assertNotIn("Fatal Python error", r.stderr)
                    self.assertNotIn("Segmentation", r.stderr)
                    outs.append(r.stdout)
        return outs

    def test_threads_while_start_stop_cycles(self):
        for out in self.run_prog("startstop.py", START_STOP):
            self.assertEqual(out.strip(), "done 24 True")

    def test_shutdown_with_daemon_threads_allocating(self):
        for out in self.run_prog("shutdown.py", SHUTDOWN, runs=3):
            self.assertEqual(out.strip(), "exiting")

    def test_fork_while_sampling(self):
        for out in self.run_prog("fork.py", FORK):
            self.assertEqual(out.strip(), "children [0, 0, 0, 0, 0, 0]")

    def test_wrapped_by_tracemalloc(self):
        # Several runs: tracemalloc.stop() racing the agent thread's thread state crashed 3.11
        # one run in four before the agent kept one thread state for its life.
        for out in self.run_prog("wrapped.py", WRAPPED, runs=4):
            self.assertEqual(out.strip(), "wrapped ok")


if __name__ == "__main__":
    unittest.main()
