"""Soak: the agent's own memory stays flat and bounded through a long, busy life.

The accelerated day is bench/soak.py (a census every 10 ms, 10,000 allocation sites churning);
CI runs 8,640 censuses of it (2.4 hours of default operation; LEAKTOP_SOAK_CENSUSES to change),
and `python3 bench/soak.py --full` runs the whole day (docs/benchmarks.md, "Soak"). The memory
is agent_bytes, the agent's own count of what it holds, in every SAMPLE.
"""
import importlib.util
import os
import struct
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (AGENT_DIR, FRAME_SAMPLE, PYTHONS, ROOT, SANITIZE, LeaktopTestCase,  # noqa: E402
                     split_frames)

_spec = importlib.util.spec_from_file_location("soak", os.path.join(ROOT, "bench", "soak.py"))
soak = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(soak)

MiB = 1 << 20

# A client connecting `n` times: CLIENT_HELLO, read a little, close (every tenth differently:
# no hello, or gone without reading). Prints "ok N" when every greeted one got a HELLO first.
CHURN = r'''
import socket, struct, sys
path, n = sys.argv[1], int(sys.argv[2])
name = b"soak-churn"
payload = b"LKTP" + struct.pack("<HHI", 1, 0, len(name)) + name
HELLO = struct.pack("<IHH", len(payload), 2, 0) + payload
bad = 0
for i in range(n):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(30)
    s.connect(path)
    if i % 10 == 1:
        pass
    elif i % 10 == 2:
        s.sendall(HELLO)
    else:
        s.sendall(HELLO)
        head = s.recv(4096)
        bad += len(head) < 8 or struct.unpack_from("<IHH", head)[1] != 1
    s.close()
print("ok %d" % (n - bad), flush=True)
'''


class SoakTest(LeaktopTestCase):
    def test_accelerated_day_agent_memory_flat_and_bounded(self):
        censuses = int(os.environ.get("LEAKTOP_SOAK_CENSUSES", soak.CI_CENSUSES))
        # The run is judged by its censuses, not by its time: on a busy machine (or under the
        # sanitizers) the 10 ms interval slips, and the soak may take as long as meson lets the
        # test run (600 s, twice that for the sanitized pass: --timeout-multiplier 2), less
        # a minute for the start and the verdict.
        limit = (1200 if SANITIZE else 600) - 60
        r = soak.run_soak(AGENT_DIR, censuses=censuses, python=PYTHONS[0], timeout=limit)
        soak.print_report(r)   # the curve, in the test log
        a = r["agent_bytes"]
        self.assertEqual(r["censuses"], censuses)
        self.assertEqual(r["missing_censuses"], 0, "the reader fell behind: figures incomplete")
        # The churn reached the agent's bounds: every site named, tracebacks evicted.
        self.assertGreaterEqual(r["strings_announced"], 10000)
        self.assertGreater(r["sampler_last"]["evicted_traces"], 0)
        self.assertLess(a["max"], 16 * MiB, "the agent held %d bytes" % a["max"])
        # No trend after warm-up (a leak grows in every tenth of the run) ...
        self.assertLess(a["projected_growth_per_day"], 1 * MiB,
                        "agent memory trends up: %.2f bytes per census (%s)"
                        % (a["trend_bytes_per_census"], a["tenth_medians_after_warmup"]))
        # ... and at most a bounded table doubling once or twice (they never shrink).
        self.assertLessEqual(a["steps"], 2, a["tenth_medians_after_warmup"])
        self.assertLess(a["growth_after_warmup"], 1 * MiB, a["tenth_medians_after_warmup"])

    def test_connection_churn_leaves_agent_memory_flat(self):
        # The full 10,000 connect/disconnect cycles of the valgrind suite, without valgrind:
        # whatever a connection costs the agent must be given back when it goes.
        n = int(os.environ.get("LEAKTOP_CHURN_CONNECTS", "10000"))
        prog = self.write("steady.py", r'''
import os, time, leaktop
leaktop.start(interval=0.05, history=2, sample_bytes=65536)
class Session(object):
    pass
keep = [Session() for _ in range(1000)]
print("ready %d" % os.getpid(), flush=True)
while True:
    junk = [dict(a=i) for i in range(100)]
    time.sleep(0.01)
''')
        p = self.spawn([PYTHONS[0], prog], env=self.agent_env())
        pid = int(self.wait_line(p, "ready").split()[1])
        viewer = self.connect(pid)
        data = bytearray()

        def agent_bytes_for(seconds):
            """agent_bytes of every live sample over the next `seconds`."""
            out, deadline = [], time.monotonic() + seconds
            viewer.settimeout(0.2)
            while time.monotonic() < deadline:
                try:
                    chunk = viewer.recv(1 << 20)
                except OSError:
                    continue
                self.assertTrue(chunk, "the agent dropped its steady viewer")
                data.extend(chunk)
                frames, rest = split_frames(bytes(data))
                del data[:len(data) - rest]
                for t, f, pl in frames:
                    if t == FRAME_SAMPLE and not f & 1:
                        out.append(struct.unpack_from("<Q", pl, 60)[0])
            return out

        agent_bytes_for(3.0)   # warm-up: the 2 s of history fills
        before = agent_bytes_for(2.0)
        churn = self.write("churn.py", CHURN)
        c = subprocess.Popen([PYTHONS[0], churn, self.socket_path(pid), str(n)], env=self.env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        during = []
        while c.poll() is None:
            during += agent_bytes_for(0.5)
        out, err = c.communicate()
        self.assertEqual(c.returncode, 0, err)
        self.assertEqual(out.split(), ["ok", str(n)])
        after = agent_bytes_for(2.0)
        print("agent_bytes over %d connections: before %d..%d, during max %d, after %d..%d"
              % (n, min(before), max(before), max(during or [0]), min(after), max(after)))
        self.assertLessEqual(max(after), max(before) + 256 * 1024,
                             "the agent kept memory from %d connections" % n)
        self.assertLess(max(during or [0]), 16 * MiB)
        self.assertIsNone(p.poll())


if __name__ == "__main__":
    unittest.main()
