#!/usr/bin/env python3
"""Big heaps: is a leak of 20 objects/s in a 20 M-object heap named by `leaktop check` in 60 s?

    python3 bench/estimates.py [BUILD_DIR] [--python python3] [--size 20M] [--rate 20]
                               [--duration 60] [--options "budget=0.01"]

BUILD_DIR (or $LEAKTOP_BUILD) is a meson build directory (default `build`). One child builds
the fragmented heap of bench/big_heap.py (instances, lists, dicts; a random half dropped and
allocated again) with the agent running from the start at its defaults (`leaktop.start()`, as
`leaktop run` would: census budget 1% of a core, sampler 64 KiB, at most 32,768 live samples),
then leaks RATE Record objects a second: instances of a class with four attributes (an int, a
str of about 20 characters, a float, a dict of two items), each appended to a module-level list.
`leaktop check --pid CHILD --duration S --json` watches it; the bench prints whether Record (the
type) or one of the Record's own lines (a site or a finding) was named, the estimate of Record's
count beside the true one, the census's age, the sampler's interval, and the statistics that
decide it: how many of the leaked blocks the sampler is expected to hold after S seconds, for
the instances themselves (what a type estimate sees) and for everything a Record allocates
(what a site sees), beside the noise floor a suspect must clear.

By default the leak starts once a census begun after the heap was built has completed (a service
whose heap was built long ago: the census's mark is then placed on the full heap, and what
arrives after it is counted exactly); --no-settle starts it at once.

Needs about 3-4 GB for 20 M objects and several minutes (the heap is built with the sampler on).
Exit status 0 when the run completed (named or not: the verdict is printed), 1 on a failed
child, 2 on a bad command line. Standard library only.
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "bench"))
from big_heap import parse_size  # noqa: E402

CHILD = r'''
import gc, json, os, sys, time
sys.path.insert(0, %(bench)r)
import leaktop
leaktop.start(**eval("dict(%(options)s)"))
from big_heap import build_heap

class Record(object):
    def __init__(self, i):
        self.id = i
        self.path = "/api/items/%%08d" %% i
        self.started = time.time()
        self.headers = {"host": "example.org", "n": i}

heap = build_heap(%(size)d)
# What one Record allocates, in bytes the sampler sees (tracemalloc is not running: count
# the parts), and its own block (the instance: what the type's estimate samples).
r = Record(0)
pre = 16 + (16 if sys.version_info >= (3, 11) else 0)
own = sys.getsizeof(r) + pre - 16  # getsizeof counts the GC head
parts = own + sys.getsizeof(r.path) + sys.getsizeof(r.started) + sys.getsizeof(r.headers)
if sys.version_info < (3, 11):
    parts += sys.getsizeof(r.__dict__)
leaked = []
# A service's heap was built long ago: wait (unless --no-settle) for a census that started after
# the heap was, as one does at some point within its period (the budget's spacing).
built_ns = time.monotonic_ns()
waited = 0.0
if %(settle)r:
    while (leaktop._census() or {}).get("started_mono_ns", 0) < built_ns:
        time.sleep(0.5)
    waited = (time.monotonic_ns() - built_ns) / 1e9
print("ready %%d %%d %%d %%d %%.0f" %% (os.getpid(), len(gc.get_objects()), own, parts, waited),
      flush=True)
t0, i = time.monotonic(), 0
while True:
    i += 1
    target = t0 + i / %(rate)f
    now = time.monotonic()
    if target > now:
        time.sleep(target - now)
    leaked.append(Record(i))
    if i %% 20 == 0:
        with open(%(count)r + ".tmp", "w") as f:
            f.write("%%d %%d %%s" %% (len(leaked), time.monotonic_ns(),
                                   json.dumps((leaktop._census() or {}).get("arrivals"))))
        os.replace(%(count)r + ".tmp", %(count)r)
        with open(%(count)r + ".log", "a") as f:
            f.write("%%d %%d\n" %% (len(leaked), time.monotonic_ns()))
'''


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("build", nargs="?",
                    default=os.environ.get("LEAKTOP_BUILD", os.path.join(REPO, "build")))
    ap.add_argument("--python", default="python3")
    ap.add_argument("--size", default="20M")
    ap.add_argument("--rate", type=float, default=20.0)
    ap.add_argument("--duration", type=float, default=60.0)
    ap.add_argument("--options", default="", help="leaktop.start() keywords, e.g. budget=0.1")
    ap.add_argument("--no-settle", dest="settle", action="store_false",
                    help="start leaking as soon as the heap is built, not after the first "
                         "census that follows (the counts then stay those of a census taken "
                         "while the heap was growing, until the next)")
    args = ap.parse_args()
    if not glob.glob(os.path.join(args.build, "agent", "leaktop.cpython-*.so")):
        print("estimates.py: no agent in %s (build it first)" % args.build, file=sys.stderr)
        return 2
    tmp = "/tmp/leaktop-bench-estimates-%d" % os.getpid()
    os.makedirs(tmp, exist_ok=True)
    count_file = os.path.join(tmp, "count")
    prog = os.path.join(tmp, "child.py")
    with open(prog, "w") as f:
        f.write(CHILD % {"bench": os.path.join(REPO, "bench"), "options": args.options,
                         "size": parse_size(args.size), "rate": args.rate, "count": count_file,
                         "settle": args.settle})
    env = dict(os.environ, PYTHONPATH=os.path.join(args.build, "agent"))
    t0 = time.monotonic()
    child = subprocess.Popen([args.python, prog], env=env, stdout=subprocess.PIPE, text=True)
    try:
        line = child.stdout.readline().split()
        if not line or line[0] != "ready":
            print("estimates.py: the child failed", file=sys.stderr)
            return 1
        pid, objects, own, parts = (int(x) for x in line[1:5])
        settled = float(line[5])
        built = time.monotonic() - t0 - settled
        watch_ns = time.monotonic_ns()
        r = subprocess.run([os.path.join(args.build, "leaktop"), "check", "--pid", str(pid),
                            "--duration", str(args.duration), "--json"], capture_output=True,
                           text=True, timeout=args.duration + 300)
        with open(count_file) as f:
            held, _, arrivals = f.read().split(" ", 2)
        held, arrivals = int(held), json.loads(arrivals)
        # How many were held when the watch ended (check waits for the agent's answers after
        # it, minutes on a big heap, before it reports).
        end_ns = watch_ns + args.duration * 1e9
        with open(count_file + ".log") as f:
            at_end = max([int(n) for n, at in (line.split() for line in f) if int(at) <= end_ns]
                         or [0])
        if r.returncode not in (0, 1):
            print("estimates.py: check failed: %s" % r.stderr, file=sys.stderr)
            return 1
        rep = json.loads(r.stdout)
    finally:
        child.kill()
        child.wait()
    types = {t["name"]: t for t in rep["types"]}
    rec = types.get("__main__.Record", {})
    named_type = [s for s in rep["suspects"] if s["kind"] == "type"
                  and s["name"] == "__main__.Record"]
    named_site = [s for s in rep["suspects"] if s["kind"] == "site" and s["file"] == prog]
    leaks = rep.get("findings", [])
    interval = rep["agent"].get("sample_interval_bytes", 0)
    leaked_s = args.rate * args.duration
    print("load average %.1f %.1f %.1f" % os.getloadavg())
    print("%s, %s tracked objects (gc.get_objects), heap built in %.0f s; leak %.0f Record/s, "
          "check --duration %.0f" % (args.python, format(objects, ","), built, args.rate,
                                     args.duration))
    print("waited %.0f s for a census begun after the heap was built (--no-settle: none)"
          % settled)
    print("census: counts %.0f s old at the report, exact %s, budget %s" % (
        rep["agent"]["counts_age_s"], rep["agent"]["counts_exact"], args.options or "default"))
    print("arrivals since the census's mark: %s" % arrivals)
    print("sampler: mean interval %s bytes" % format(interval, ","))
    if interval:
        print("expected samples of the %.0f leaked in %.0f s: their own blocks (%d B each, what "
              "the type's estimate sees) %.2f; everything a Record allocates (%d B, what its "
              "lines see) %.2f" % (leaked_s, args.duration, own, leaked_s * own / interval,
                                   parts, leaked_s * parts / interval))
        print("a site must rise by 4 intervals (%s B) at least; a type's estimate by 3 sd: at "
              "least 9 samples when none die" % format(4 * interval, ","))
    print("Record: estimate %s (sd %s, estimated %s), true %d at the end of the watch (%d when "
          "the report came)" % (rec.get("count"), rec.get("count_sd"), rec.get("estimated"),
                                at_end, held))
    print("named: type %s, a Record line %s (%s), findings %s" % (
        "yes" if named_type else "no", "yes" if named_site else "no",
        ", ".join("%s:%s" % (os.path.basename(s["file"]), s["line"]) for s in named_site),
        [x.get("summary", "")[:100] for x in leaks][:3]))
    print("suspects: %s" % [(s["kind"], s["name"][-50:]) for s in rep["suspects"]][:8])
    return 0


if __name__ == "__main__":
    sys.exit(main())
