#!/usr/bin/env python3
"""The agent's own memory with many distinct allocation tracebacks.

    python3 bench/sites_memory.py [BUILD_DIR] [--python PY] [--functions 200] [--lines 500]
                                  [--depth 40] [--rounds 2] [--sample-bytes 1024]

Generates --functions functions (compiled from source, each in its own file name) of --lines
lines, every line allocating a 4 KiB bytes object (every 50th kept alive), and calls each one
--depth frames down a recursion, --rounds times: functions x lines distinct tracebacks (100,000
by default), each --depth + 3 frames deep, nearly every one sampled at the small interval used
here. The program runs under `leaktop check --json` (census every 0.2 s); the report gives the
most memory the agent held at any census (agent_bytes_max), how many tracebacks were evicted
from its bounded tables, and how many samples it held or dropped.

Exit status: 0 when it ran (a missed 16 MiB target is printed, not an exit status), 1 on
errors. Standard library only.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = 16 << 20

PROGRAM = r'''
import sys, time
nfunc, nline, depth, rounds = (int(a) for a in sys.argv[1:5])
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
t0 = time.monotonic()
for r in range(rounds):
    for fn in funcs:
        down(depth, fn, keep)
        time.sleep(0.002)
print("distinct tracebacks: %d, in %.1f s" % (nfunc * nline, time.monotonic() - t0),
      file=sys.stderr, flush=True)
time.sleep(1.0)  # a last census or two with everything in place
'''


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("build", nargs="?", default=os.environ.get("LEAKTOP_BUILD",
                                                               os.path.join(REPO, "build-bench")))
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--functions", type=int, default=200)
    ap.add_argument("--lines", type=int, default=500)
    ap.add_argument("--depth", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--sample-bytes", type=int, default=1024)
    args = ap.parse_args()
    leaktop = os.path.join(args.build, "leaktop")
    if not os.access(leaktop, os.X_OK):
        print("no leaktop binary at %s" % leaktop, file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="leaktop-bench-") as tmp:
        os.chmod(tmp, 0o700)
        prog = os.path.join(tmp, "many_sites.py")
        with open(prog, "w") as f:
            f.write(PROGRAM)
        env = dict(os.environ, XDG_RUNTIME_DIR=tmp,
                   LEAKTOP_OPTIONS="interval=0.2,sample_bytes=%d" % args.sample_bytes)
        r = subprocess.run([leaktop, "check", "--json", "--duration", "600", "--",
                            args.python, prog, str(args.functions), str(args.lines),
                            str(args.depth), str(args.rounds)],
                           env=env, capture_output=True, text=True, timeout=900)
        if r.returncode not in (0, 1):
            print("leaktop check failed (%d): %s" % (r.returncode, r.stderr), file=sys.stderr)
            return 1
        rep = json.loads(r.stdout)
    a = rep["agent"]
    print("Python %s, %d distinct tracebacks of %d frames, sample_bytes=%d, %d censuses"
          % (rep["python"], args.functions * args.lines, args.depth + 3, args.sample_bytes,
             rep["samples"]))
    print("agent memory: max %.2f MiB, last %.2f MiB (target < 16 MiB: %s)"
          % (a["agent_bytes_max"] / 2**20, a["agent_bytes"] / 2**20,
             "met" if a["agent_bytes_max"] < TARGET else "MISSED"))
    print("tracebacks evicted %d, live sampled blocks %d in %d tracebacks, samples dropped %d"
          % (a["evicted_tracebacks"], a["sampled_blocks"], a["sampled_tracebacks"],
             a["dropped_samples"]))
    print("heap estimate %.1f MB" % (rep["heap"]["python_bytes_estimate"] / 1e6))
    return 0


if __name__ == "__main__":
    sys.exit(main())
