#!/usr/bin/env python3
"""Accuracy of the sampled allocation sites against tracemalloc's exact figures.

    python3 bench/sites_accuracy.py [BUILD_DIR] [--pythons current|pyenv|PATH,...]
                                    [--sample-bytes 8192,65536,262144] [--scale 1] [--runs 1]

The program (the same as tests/integration/test_sites.py's) builds three large sites: 16,000
bytearrays of 1,000 bytes, 20,000 small dicts with string keys, and 100,000 strings of ~110
characters (about 45 MB with --scale 1; --scale multiplies the counts). It runs once with
tracemalloc (statistics by line, exact) and, for every interval, under
`leaktop check --json`; for each line holding 1% of tracemalloc's total or more the table gives
leaktop's estimate and its error. The expected relative standard error of a site of B bytes in
small blocks is about sqrt(R / B) at interval R: the table prints it beside the error.

Exit status: 0 when it ran, 1 on errors. Standard library only.
"""
import argparse
import glob
import json
import math
import os
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PROGRAM = r'''
import json, os, sys, time
TM = os.environ.get("TM") == "1"
SCALE = float(os.environ.get("SCALE", "1"))
if TM:
    import tracemalloc
    tracemalloc.start()

def build():
    a = [bytearray(1000) for _ in range(int(16000 * SCALE))]                  # SITE_A
    b = [{"k%d" % j: j for j in range(6)} for _ in range(int(20000 * SCALE))] # SITE_B
    c = ["%07d:%s" % (i, "x" * 100) for i in range(int(100000 * SCALE))]     # SITE_C
    return a, b, c

data = build()
if TM:
    snap = tracemalloc.take_snapshot()
    stats = [(s.traceback[0].filename, s.traceback[0].lineno, s.size, s.count)
             for s in snap.statistics("lineno")]
    print(json.dumps({"total": tracemalloc.get_traced_memory()[0], "stats": stats}))
    sys.exit(0)
print("ready", flush=True)
while True:
    time.sleep(1)
'''


def pythons(spec):
    if spec == "current":
        return [sys.executable]
    if spec == "pyenv":
        root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
        found = []
        for d in sorted(glob.glob(os.path.join(root, "versions", "3.*"))):
            v = os.path.basename(d)
            parts = v.split(".")
            if len(parts) == 3 and all(p.isdigit() for p in parts) and 8 <= int(parts[1]) <= 13:
                found.append(os.path.join(d, "bin", "python3"))
        return sorted(found, key=lambda p: int(p.split("/")[-3].split(".")[1]))
    return spec.split(",")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("build", nargs="?", default=os.environ.get("LEAKTOP_BUILD",
                                                               os.path.join(REPO, "build-bench")))
    ap.add_argument("--pythons", default="current")
    ap.add_argument("--sample-bytes", default="8192,65536,262144")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--runs", type=int, default=1)
    args = ap.parse_args()
    leaktop = os.path.join(args.build, "leaktop")
    if not os.access(leaktop, os.X_OK):
        print("no leaktop binary at %s" % leaktop, file=sys.stderr)
        return 1
    intervals = [int(x) for x in args.sample_bytes.split(",") if x]
    print("%-8s %-6s %9s %12s %12s %8s %8s" % ("python", "line", "interval", "tracemalloc",
                                                "leaktop", "error", "expected"))
    worst = {}
    with tempfile.TemporaryDirectory(prefix="leaktop-bench-") as tmp:
        os.chmod(tmp, 0o700)
        prog = os.path.join(tmp, "sites.py")
        with open(prog, "w") as f:
            f.write(PROGRAM)
        for py in pythons(args.pythons):
            ver = subprocess.run([py, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                                 capture_output=True, text=True).stdout.strip()
            env = dict(os.environ, XDG_RUNTIME_DIR=tmp, TM="1", SCALE=str(args.scale))
            r = subprocess.run([py, prog], env=env, capture_output=True, text=True, timeout=600)
            if r.returncode != 0:
                print("%s: tracemalloc run failed: %s" % (py, r.stderr), file=sys.stderr)
                return 1
            tm = json.loads(r.stdout)
            exact = {}
            for fname, line, size, _ in tm["stats"]:
                if fname == prog:
                    exact[line] = exact.get(line, 0) + size
            big = {l: s for l, s in exact.items() if s >= 0.01 * tm["total"]}
            for R in intervals:
                for _ in range(args.runs):
                    env = dict(os.environ, XDG_RUNTIME_DIR=tmp, SCALE=str(args.scale),
                               LEAKTOP_OPTIONS="interval=0.25,sample_bytes=%d" % R)
                    r = subprocess.run([leaktop, "check", "--json", "--duration", "2.5", "--top",
                                        "200", "--", py, prog], env=env, capture_output=True,
                                       text=True, timeout=300)
                    if r.returncode not in (0, 1):
                        print("leaktop check failed: %s" % r.stderr, file=sys.stderr)
                        return 1
                    rep = json.loads(r.stdout)
                    got = {}
                    for s in rep["sites"]:
                        if s["file"] == prog:
                            got[s["line"]] = got.get(s["line"], 0) + s["live_bytes"]
                    for line, size in sorted(big.items()):
                        est = got.get(line, 0)
                        err = (est - size) / size
                        worst[R] = max(worst.get(R, 0.0), abs(err))
                        print("%-8s %-6d %9d %12d %12d %+7.1f%% %7.1f%%"
                              % (ver, line, R, size, est, 100 * err, 100 * math.sqrt(R / size)))
    for R in intervals:
        print("interval %d: worst error %.1f%%" % (R, 100 * worst.get(R, 0.0)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
