"""Where the RSS goes, and when it runs out: each part of the breakdown against an independent
reading, and the OOM forecast against the time a leaking program really takes to die of its
address-space limit.

Each breakdown test runs the same program twice, without and with the allocation it is about,
and compares the change of one part with what the program knows it allocated (its own
arithmetic, not leaktop's).
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import LEAKTOP, PYTHONS, LeaktopTestCase, sanitized  # noqa: E402

MB = 1 << 20

# argv: what (native, python, fragment), megabytes (0: the control run), report file.
# Allocates, writes what it allocated by its own count to the report file, then waits.
HOLDER = r'''
import ctypes, json, os, sys, time
import leaktop
leaktop.start(interval=0.25)
what, mb, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
report = {}
def block(o):
    # pymalloc's block of an object: its size rounded up to the 16-byte alignment.
    return (sys.getsizeof(o) + 15) // 16 * 16
if what == "native":
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    keep = []
    # Half in blocks malloc maps one by one, half in its heap; written, so resident.
    for size, n in ((4 * 1024 * 1024, mb // 8), (64 * 1024, mb * 8)):
        for _ in range(n):
            p = libc.malloc(size)
            ctypes.memset(p, 1, size)
            keep.append(p)
    report["allocated"] = mb * 1024 * 1024
elif what in ("python", "fragment"):
    # bytes of 160 characters: 193 or so bytes each, a 208-byte pymalloc block.
    n = mb * 1024 * 1024 // 208
    objs = [b"%0160d" % i for i in range(n)]
    report["allocated"] = sum(block(o) for o in objs)
    if what == "fragment":
        keep = objs[::60]            # a survivor in every pool: no arena can be returned
        report["freed"] = report["allocated"] - sum(block(o) for o in keep)
        del objs
with open(out, "w") as f:
    json.dump(report, f)
print("ready %d" % os.getpid(), flush=True)
time.sleep(120)
'''

# argv: MB per second, the file to write the time of the MemoryError to. Grows at that rate by
# the wall clock (100 KiB at a time, written) until the allocation fails.
LEAKER = r'''
import os, sys, time
rate, out = float(sys.argv[1]) * 1024 * 1024, sys.argv[2]
fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
held, chunk = [], 100 * 1024
t0 = time.monotonic()
try:
    while True:
        due = rate * (time.monotonic() - t0)
        while len(held) * chunk < due:
            held.append(bytes(chunk))
        time.sleep(0.01)
except MemoryError:
    t = time.time()
    held = None
    os.write(fd, b"%.3f" % t)
    os.close(fd)
'''


class MemoryTest(LeaktopTestCase):
    def run_check(self, py, *argv, duration="4", interval="0.5"):
        report, _ = self.check_json("--duration", duration, "--interval", interval, "--",
                                    py, *argv)
        return report

    def holder(self, py, what, mb):
        """The breakdown of a holder once it has allocated (watched from then on, by pid)."""
        prog = self.write("holder.py", HOLDER)
        out = os.path.join(self.tmp, "alloc-%s-%d.json" % (what, mb))
        p = self.spawn([py, prog, what, str(mb), out], env=self.agent_env())
        pid = int(self.wait_line(p, "ready", timeout=120).split()[1])
        breakdown = self.breakdown_since(pid, time.monotonic())
        self.kill_pid(p)
        with open(out) as f:
            known = json.load(f)
        return breakdown, known

    def breakdown_since(self, pid, since, timeout=30.0):
        """The breakdown of pid whose pymalloc figures were read after `since` (monotonic):
        pymalloc's reading is put off when it costs more than its budget, and an older one,
        carried with its age, may predate what the program just did."""
        deadline = time.monotonic() + timeout
        while True:
            report, _ = self.check_json("--duration", "1.5", "--pid", str(pid))
            b = report["breakdown"]
            self.assertIsNotNone(b, "no MEMORY frames: %s" % report["process"])
            # The report's last point is at most one sample (0.25 s) before the check ended.
            if b["pymalloc_age_s"] + 0.5 < time.monotonic() - since:
                return b
            self.assertLess(time.monotonic(), deadline,
                            "every pymalloc reading was older than %.1f s" % (
                                time.monotonic() - since))

    @sanitized("ASan replaces glibc's malloc, whose heap (mallinfo2) this part is measured by")
    def test_native_allocations_in_the_native_part(self):
        for py in PYTHONS:
            with self.subTest(python=py):
                base, _ = self.holder(py, "native", 0)
                got, known = self.holder(py, "native", 200)
                self.assertTrue(got["measured"]["malloc"])
                delta = got["native_used_bytes"] - base["native_used_bytes"]
                print("\n%s native: allocated %.1f MiB, native part grew %.1f MiB (%+.2f%%)"
                      % (py, known["allocated"] / MB, delta / MB,
                         100.0 * (delta - known["allocated"]) / known["allocated"]))
                self.assertAlmostEqual(delta, known["allocated"], delta=0.05 * known["allocated"])
                # Nothing of it counted as Python's.
                py_delta = got["python_objects_bytes"] - base["python_objects_bytes"]
                self.assertLess(abs(py_delta), 0.05 * known["allocated"])
                # And the kernel agrees it is resident, anonymous memory.
                anon = got["rss_anon_bytes"] - base["rss_anon_bytes"]
                self.assertAlmostEqual(anon, known["allocated"], delta=0.05 * known["allocated"])

    def test_python_objects_in_the_python_part(self):
        for py in PYTHONS:
            with self.subTest(python=py):
                base, _ = self.holder(py, "python", 0)
                got, known = self.holder(py, "python", 200)
                if not got["measured"]["pymalloc"]:
                    self.fail("pymalloc not read on %s" % py)
                delta = got["python_objects_bytes"] - base["python_objects_bytes"]
                print("\n%s python: objects take %.1f MiB by sys.getsizeof, Python part grew "
                      "%.1f MiB (%+.2f%%)" % (py, known["allocated"] / MB, delta / MB,
                                              100.0 * (delta - known["allocated"])
                                              / known["allocated"]))
                self.assertAlmostEqual(delta, known["allocated"], delta=0.05 * known["allocated"])
                self.assertGreaterEqual(got["python_arena_bytes"], got["python_objects_bytes"])
                # The list holding them (8 bytes a pointer) is a large block: the C heap's.
                native = got["native_used_bytes"] - base["native_used_bytes"]
                self.assertLess(native, 0.1 * known["allocated"])
                self.assertFalse(got["fragmentation"], got["fragmentation_reason"])

    def test_freed_objects_show_as_free_arena_memory(self):
        for py in PYTHONS:
            with self.subTest(python=py):
                base, _ = self.holder(py, "fragment", 0)
                got, known = self.holder(py, "fragment", 200)
                delta = got["python_free_bytes"] - base["python_free_bytes"]
                print("\n%s fragment: freed %.1f MiB of objects, pymalloc's free arena memory "
                      "grew %.1f MiB (%+.2f%%)" % (py, known["freed"] / MB, delta / MB,
                                                   100.0 * (delta - known["freed"])
                                                   / known["freed"]))
                self.assertAlmostEqual(delta, known["freed"], delta=0.05 * known["freed"])
                kept = got["python_objects_bytes"] - base["python_objects_bytes"]
                self.assertAlmostEqual(kept, known["allocated"] - known["freed"],
                                       delta=0.05 * known["allocated"])
                self.assertTrue(got["fragmentation"])
                self.assertIn("pymalloc holds", got["fragmentation_reason"])
                self.assertIn("not a leak", got["fragmentation_reason"])

    def test_a_put_off_reading_says_its_age(self):
        # 1,000,000 objects (200 MB of pymalloc arenas) sampled every 20 ms: a reading costs
        # more than its budget (1% of the interval, 0.2 ms) and is taken only every few samples;
        # the samples between carry it, and the report says how old the figures it shows are.
        prog = self.write("big.py", '''
import time
objs = [b"%0160d" % i for i in range(1000000)]
print("ready", flush=True)
while True:
    time.sleep(1)
''')
        b = self.run_check(PYTHONS[0], prog, duration="3", interval="0.02")["breakdown"]
        self.assertGreater(b["pymalloc_read_ms_last"], 0.2, b)
        age, age_s = b["pymalloc_age_samples"], b["pymalloc_age_s"]
        if age == 0:
            self.assertEqual(age_s, 0.0, b)
        else:  # age samples of 20 ms, each late by what a busy machine makes it (and a tick
            # after a late one comes early, to keep the pace: 6.6 ms for one sample in trixie)
            self.assertGreater(age_s, 0.0, b)
            self.assertLess(age_s, age * 0.02 + 2.0, b)

    @sanitized("ASan's quarantine keeps freed blocks (up to 256 MB) out of reuse: churn grows RSS")
    def test_fragmentation_is_no_native_suspect(self):
        # Every round fills new pools of its own size class and frees all but one object in
        # 80: the survivors keep the pools, the next size class cannot use them, and RSS grows
        # while the objects in use stay nearly flat. Fragmentation, not a native leak.
        prog = self.write("churn.py", r'''
import time
keep, size = [], 0
while True:
    objs = [b"x" * size + b"%08d" % i for i in range(20000)]
    keep.append(objs[::80])
    del objs
    size = (size + 16) % 480
    time.sleep(0.25)
''')
        report = self.run_check(PYTHONS[0], prog, duration="8")
        b = report["breakdown"]
        self.assertTrue(b["fragmentation"], b)
        self.assertGreater(b["growth_bytes_per_s"]["python_free"],
                           5 * b["growth_bytes_per_s"]["python_objects"])
        kinds = [s["kind"] for s in report["suspects"]]
        self.assertNotIn("native", kinds, report["suspects"])

    @sanitized("ASan replaces glibc's malloc, whose heap (mallinfo2) this part is measured by")
    def test_native_heap_growth_is_named(self):
        prog = self.write("cleak.py", r'''
import ctypes, time
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
while True:
    for _ in range(4):
        ctypes.memset(libc.malloc(50000), 1, 50000)
    time.sleep(0.1)
''')
        report = self.run_check(PYTHONS[0], prog, duration="8")
        native = [s for s in report["suspects"] if s["kind"] == "native"]
        self.assertEqual(len(native), 1, report["suspects"])
        self.assertIn("native heap", native[0]["name"])
        self.assertIn("native heap grows", native[0]["reason"])
        # At most 2 MB a second (less the time the loop itself takes).
        self.assertGreater(native[0]["growth_bytes_per_s"], 0.5 * MB)
        self.assertLess(native[0]["growth_bytes_per_s"], 2.2 * MB)

    def test_limits_are_reported(self):
        prog = self.write("idle.py", "import time\ntime.sleep(60)\n")
        report = self.run_check(PYTHONS[0], prog, duration="2")
        proc = report["process"]
        sources = [l["source"] for l in proc["limits"]]
        self.assertIn("MemAvailable", sources)
        self.assertIsNotNone(proc["limit_bytes"])
        self.assertIn(proc["limit_source"], sources)
        self.assertIsNone(proc["oom_eta_s"])             # an idle program is not running out
        self.assertIsNone(proc["oom_forecast"]["eta_low_s"])

    @sanitized("ASan reserves terabytes of address space for its shadow: no RLIMIT_AS fits")
    @unittest.skipUnless(shutil.which("prlimit"), "needs prlimit (util-linux)")
    def test_forecast_against_a_real_memory_error(self):
        py, rate = PYTHONS[0], 10.0
        prog = self.write("leaker.py", LEAKER)
        # The address space the program starts with, from a run that does not leak.
        calm = self.run_check(py, prog, "0", os.path.join(self.tmp, "calm"), duration="3")
        start = calm["breakdown"]["vm_size_bytes"]
        limit = start + 400 * MB
        oom_file = os.path.join(self.tmp, "oom-at")
        err = open(os.path.join(self.tmp, "check.err"), "w")
        self.addCleanup(err.close)
        # --keep: the program goes on after the report, to die of its limit while we wait.
        p = subprocess.Popen([LEAKTOP, "check", "--json", "--duration", "10", "--interval", "0.5",
                              "--keep", "--", "prlimit", "--as=%d" % limit, py, prog, str(rate),
                              oom_file], env=self.env, stdout=subprocess.PIPE, stderr=err)
        out, _ = p.communicate(timeout=120)
        with open(err.name) as f:
            self.assertIn(p.returncode, (0, 1), f.read())
        report = json.loads(out)
        pid = report["pid"]
        self.addCleanup(self.kill_quietly, pid)
        proc = report["process"]
        self.assertEqual(proc["limit_source"], "RLIMIT_AS")
        self.assertEqual(proc["limit_bytes"], limit)
        self.assertEqual(proc["oom_forecast"]["figure"], "vm_size")
        eta, made_at = proc["oom_eta_s"], proc["oom_forecast"]["made_at_unix_s"]
        self.assertIsNotNone(eta, proc)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not os.path.getsize(oom_file):
            time.sleep(0.05)
        with open(oom_file) as f:
            died = float(f.read())
        actual = died - made_at
        print("\nforecast after 10 s: %.1f s (%.1f-%.1f), MemoryError came after %.1f s: "
              "%+.1f%%" % (eta, proc["oom_forecast"]["eta_low_s"],
                           proc["oom_forecast"]["eta_high_s"] or float("inf"), actual,
                           100.0 * (eta - actual) / actual))
        self.assertGreater(actual, 0)
        self.assertAlmostEqual(eta, actual, delta=0.25 * actual)

    @staticmethod
    def kill_quietly(pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


if __name__ == "__main__":
    unittest.main()
