"""The agent's memory stays bounded however many distinct tracebacks the program allocates from:
100,000 of them (bench/sites_memory.py is the same program as a benchmark)."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import PYTHONS, LeaktopTestCase  # noqa: E402

# 200 generated functions of 500 lines, each line allocating 4 KiB (every 50th kept), each
# called 40 frames down a recursion: 100,000 distinct 43-frame tracebacks, nearly all sampled
# at a 1 KiB interval.
MANY_SITES = r'''
import sys, time
nfunc, nline, depth, rounds = 200, 500, 40, 3
funcs = []
for f in range(nfunc):
    src = ["def f%d(keep):" % f]
    for l in range(nline):
        src.append("    x = bytes(4096)" + ("; keep.append(x)" if l % 50 == 0 else ""))
    ns = {}
    exec(compile("\n".join(src), "/generated/mod%d.py" % f, "exec"), ns)
    funcs.append(ns["f%d" % f])

def down(n, fn, keep):
    if n == 0:
        return fn(keep)
    return down(n - 1, fn, keep)

keep = []
for r in range(rounds):
    for fn in funcs:
        down(depth, fn, keep)
        time.sleep(0.002)
time.sleep(0.6)
print("done", len(keep), flush=True)
'''


class SitesMemoryTest(LeaktopTestCase):
    def test_100k_distinct_tracebacks(self):
        prog = self.write("many_sites.py", MANY_SITES)
        env = dict(self.env)
        env["LEAKTOP_OPTIONS"] = "interval=0.2,sample_bytes=1024"
        report, r = self.check_json("--duration", "300", "--top", "500", "--",
                                    PYTHONS[-1], prog, env=env, timeout=400)
        self.assertIn("done 6000", r.stderr)  # the program's stdout goes to stderr with --json
        self.assertEqual(report["process"].get("exit_code"), 0)
        agent = report["agent"]
        self.assertGreater(report["samples"], 5)
        self.assertLess(agent["agent_bytes_max"], 16 << 20, agent)
        self.assertGreater(agent["evicted_tracebacks"], 10000, agent)
        # The tables still do their job: thousands of the kept blocks are attributed to their
        # own generated line; what did not fit is in the one "not kept" site, not lost.
        generated = [s for s in report["sites"] if s["file"].startswith("/generated/")]
        self.assertGreater(len(generated), 100)
        for s in generated[:20]:
            self.assertEqual(len(s["traceback"]), 43)
            self.assertEqual(s["traceback"][1]["function"], "down")
        # The top 200 sites are sent; the heap estimate covers every sampled block.
        self.assertGreater(report["heap"]["python_bytes_estimate"], 0.8 * 6000 * 4096)
        self.assertLess(agent["dropped_samples"], 100)


if __name__ == "__main__":
    unittest.main()
