#!/usr/bin/env python3
"""Census cost: the leaktop agent vs objgraph.typestats() vs a Counter over gc.get_objects().

    python3 bench/census.py [BUILD_DIR] [--pythons current|pyenv|PATH,...] [--sizes 1M,10M]

BUILD_DIR (or $LEAKTOP_BUILD) is a meson build directory holding agent/leaktop.cpython-*.so and
the leaktop client; the default is build-bench at the repository root.

For every interpreter and workload size a fresh child process builds the workload (instances of
a few user classes plus dicts, lists and tuples, all GC-tracked), then, in that one process:
  * times len(gc.get_objects()) alone: CPython's own walk of the same lists, for reference;
  * times collections.Counter(type(o) for o in gc.get_objects()), a few repetitions;
  * times objgraph.typestats() (Debian's objgraph, pure Python, loaded from its file), unless a
    probe says one call would take more than 60 s;
  * starts the agent (leaktop.start) and runs `leaktop check --json --pid <child>` several times
    while the child's main thread waits for it (GIL free); every report gives the last
    census's time (agent.census_ms_last) and object count (agent.tracked_objects).
Every figure is a median, reported in ns per GC-tracked object.

--layouts churned adds a heap where a random half of the workload was dropped and allocated
again: the collector's list then jumps around memory, as in a long-running program.

Exit status: 0 whenever the measurements ran (a missed target is printed, loudly, not an exit
status); 1 on errors (no build, a child failed); 2 on a bad command line.
Standard library only; runs on CPython 3.8-3.13.
"""
import argparse
import collections
import gc
import glob
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from machine_load import say_busy, wait_quiet  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET_NS = 15.0
OBJGRAPH_LIMIT_S = 60.0
OBJGRAPH_DEFAULT = "/usr/lib/python3/dist-packages/objgraph.py"


# ---- the workload (child) -----------------------------------------------------------------

class Node:
    def __init__(self, value, ref):
        self.value = value
        self.ref = ref


class Leaf(Node):
    pass


class Slotted:
    __slots__ = ("a", "b")

    def __init__(self, a, b):
        self.a = a
        self.b = b


def make_unit(i, keep):
    """Six GC-tracked objects of six types (more on 3.8-3.10, where instances own a dict).
    Every container holds a tracked object, so the collector does not untrack it."""
    n = Node(i, None)
    s = Slotted(n, i)
    leaf = Leaf(i, s)
    d = {"node": n, "i": i}
    lst = [leaf, s]
    t = (d, i)
    keep.append(t)
    keep.append(lst)


def build_workload(target, layout="fresh"):
    """About `target` tracked objects in all, counting what the interpreter already has.

    fresh:   objects allocated in one go, so the collector's list runs through memory in
             address order: the friendliest heap for any walk.
    churned: the same, then a random half of it dropped and allocated again into the holes, as
             in a long-running program: the list jumps around memory."""
    gc.collect()
    base = len(gc.get_objects())
    probe = []
    for i in range(10000):
        make_unit(i, probe)
    gc.collect()
    per_unit = (len(gc.get_objects()) - base) / 10000.0
    del probe
    gc.collect()
    units = max(0, int((target - base) / per_unit))
    keep = []
    for i in range(units):
        make_unit(i, keep)
    if layout == "churned":
        import random
        random.Random(1).shuffle(keep)
        del keep[len(keep) // 2:]
        gc.collect()
        missing = target - len(gc.get_objects())
        for i in range(max(0, int(missing / per_unit))):
            make_unit(i, keep)
    return keep, per_unit


def load_objgraph(path):
    if path and os.path.exists(path):
        spec = importlib.util.spec_from_file_location("objgraph", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod, path
    try:
        import objgraph  # noqa: F401 (a copy on sys.path, if any)
        return objgraph, objgraph.__file__
    except ImportError:
        return None, None


def time_reps(fn, reps):
    """Run fn() reps times; return (seconds per run list, objects counted by the last run)."""
    times = []
    counted = 0
    for _ in range(reps):
        t0 = time.perf_counter()
        counted = fn()
        times.append(time.perf_counter() - t0)
    return times, counted


def walk_only():
    """CPython's own walk of the same lists, building the list and nothing else."""
    return len(gc.get_objects())


def counter_census():
    c = collections.Counter(type(o) for o in gc.get_objects())
    return sum(c.values())


def run_child(args):
    sys.path.insert(0, os.path.join(args.build, "agent"))
    import leaktop

    client = os.path.join(args.build, "leaktop")
    gc.disable()  # no collection runs inside a timed census; the workload holds no garbage
    t0 = time.perf_counter()
    keep, per_unit = build_workload(args.size, args.layout)
    gc.collect()  # everything into the oldest generation; untracks what can be
    build_s = time.perf_counter() - t0
    objects = len(gc.get_objects())
    out = {
        "python": platform.python_version(),
        "size": args.size,
        "layout": args.layout,
        "objects": objects,
        "per_unit": per_unit,
        "build_s": build_s,
    }

    # 0. gc.get_objects() alone
    times, counted = time_reps(walk_only, args.reps)
    out["walk_ns"] = [t * 1e9 / counted for t in times]

    # 1. Counter over gc.get_objects()
    times, counted = time_reps(counter_census, args.reps)
    out["counter_ns"] = [t * 1e9 / counted for t in times]
    out["counter_objects"] = counted

    # 2. objgraph.typestats()
    og, og_path = load_objgraph(args.objgraph)
    out["objgraph_path"] = og_path
    if og is None:
        out["objgraph_skip"] = "objgraph not found"
    else:
        objs = gc.get_objects()
        sample = objs[: min(len(objs), 200000)]
        del objs
        t0 = time.perf_counter()
        og.typestats(objects=sample)
        probe_ns = (time.perf_counter() - t0) * 1e9 / max(1, len(sample))
        del sample
        projected = probe_ns * objects / 1e9
        out["objgraph_projected_s"] = projected
        if projected > OBJGRAPH_LIMIT_S:
            out["objgraph_skip"] = "projected %.0f s per call > %.0f s" % (projected,
                                                                          OBJGRAPH_LIMIT_S)
        else:
            times, counted = time_reps(lambda: sum(og.typestats().values()), args.reps)
            out["objgraph_ns"] = [t * 1e9 / counted for t in times]
            out["objgraph_objects"] = counted

    # 3. the agent's census, as its own samples report it. The interval leaves the census a
    # fifth of it at most (estimated from CPython's own walk), so samples come steadily.
    est_s = statistics.median(out["walk_ns"]) * objects / 1e9
    interval = args.interval or max(0.1, round(5 * est_s, 1))
    leaktop.start(interval=interval, history=60)
    time.sleep(interval * 2.5)  # a couple of censuses first
    lt_ns, lt_objects, lt_max_ms, failures = [], [], [], []
    while len(lt_ns) < args.samples and len(failures) <= args.samples // 2:
        cmd = [client, "check", "--json", "--pid", str(os.getpid()),
               "--duration", "%.2f" % (interval * 1.5 + 0.5)]
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=120 + interval * 3)
        if r.returncode not in (0, 1):
            failures.append("%s: exit %d: %s" % (" ".join(cmd), r.returncode, r.stderr.strip()))
            continue
        agent = json.loads(r.stdout)["agent"]
        lt_ns.append(agent["census_ms_last"] * 1e6 / agent["tracked_objects"])
        lt_objects.append(agent["tracked_objects"])
        lt_max_ms.append(agent["census_ms_max"])
    if len(lt_ns) < args.samples:
        raise RuntimeError("leaktop check failed %d times:\n%s" % (len(failures),
                                                                  "\n".join(failures)))
    out["check_failures"] = failures
    leaktop.stop()
    out["leaktop_ns"] = lt_ns
    out["leaktop_objects"] = int(statistics.median(lt_objects))
    out["leaktop_max_ms"] = max(lt_max_ms)
    out["interval"] = interval
    del keep
    print("RESULT " + json.dumps(out), flush=True)
    return 0


# ---- the driver (parent) ------------------------------------------------------------------

def parse_size(s):
    s = s.strip().upper()
    mult = 1
    if s.endswith("M"):
        mult, s = 1000000, s[:-1]
    elif s.endswith("K"):
        mult, s = 1000, s[:-1]
    return int(float(s) * mult)


def fmt_size(n):
    if n >= 1000000 and n % 1000000 == 0:
        return "%dM" % (n // 1000000)
    if n >= 1000 and n % 1000 == 0:
        return "%dK" % (n // 1000)
    return str(n)


def pyenv_pythons():
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    found = []
    for d in glob.glob(os.path.join(root, "versions", "3.*")):
        v = os.path.basename(d)
        parts = v.split(".")
        if len(parts) != 3 or not all(p.isdigit() for p in parts):
            continue
        if not 8 <= int(parts[1]) <= 13:
            continue
        exe = os.path.join(d, "bin", "python3")
        if os.access(exe, os.X_OK):
            found.append(((int(parts[0]), int(parts[1]), int(parts[2])), exe))
    return [exe for _, exe in sorted(found)]


def agent_for(build, exe):
    """The agent module this interpreter would import from build/agent, or None."""
    code = "import sysconfig; print(sysconfig.get_config_var('EXT_SUFFIX'))"
    r = subprocess.run([exe, "-c", code],
                       stdout=subprocess.PIPE, universal_newlines=True)
    suffix = r.stdout.strip()
    path = os.path.join(build, "agent", "leaktop" + suffix)
    return path if suffix and os.path.exists(path) else None


def med(xs):
    return statistics.median(xs) if xs else None


def fmt_ns(x):
    return "-" if x is None else "%.1f" % x


def fmt_ratio(a, b):
    return "-" if a is None or b is None or b == 0 else "%.1fx" % (a / b)


def print_table(rows, title):
    hdr = ["python", "size", "layout", "tracked", "leaktop ns/obj", "(best)",
           "objgraph ns/obj", "Counter ns/obj", "objgraph/leaktop", "Counter/leaktop",
           "get_objects() ns/obj", "target <= 15"]
    lines = []
    for r in rows:
        lt, og, ct = med(r.get("leaktop_ns")), med(r.get("objgraph_ns")), med(r.get("counter_ns"))
        lines.append([r["python"], fmt_size(r["size"]), r["layout"],
                      "{:,}".format(r["leaktop_objects"]), fmt_ns(lt),
                      fmt_ns(min(r["leaktop_ns"])),
                      fmt_ns(og) if og is not None else "skipped", fmt_ns(ct),
                      fmt_ratio(og, lt), fmt_ratio(ct, lt), fmt_ns(med(r.get("walk_ns"))),
                      "ok" if lt <= TARGET_NS else "TARGET MISSED"])
    widths = [max(len(h), *(len(l[i]) for l in lines)) for i, h in enumerate(hdr)]
    print()
    print(title)
    print("  ".join(h.rjust(w) for h, w in zip(hdr, widths)))
    print("  ".join("-" * w for w in widths))
    for l in lines:
        print("  ".join(c.rjust(w) for c, w in zip(l, widths)))
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("build", nargs="?", default=os.environ.get("LEAKTOP_BUILD",
                                                               os.path.join(REPO, "build-bench")))
    ap.add_argument("--pythons", default="current",
                    help="current (this interpreter), pyenv (every CPython 3.8-3.13 under "
                         "pyenv), or comma-separated interpreter paths")
    ap.add_argument("--sizes", default="1M,10M", help="tracked objects per workload (1M,10M)")
    ap.add_argument("--layouts", default="fresh",
                    help="heap layouts, comma-separated: fresh (allocation order), churned "
                         "(a random half reallocated); default fresh")
    ap.add_argument("--layout", default="fresh", help=argparse.SUPPRESS)
    ap.add_argument("--samples", type=int, default=7, help="agent reports per workload")
    ap.add_argument("--reps", type=int, default=0,
                    help="objgraph/Counter repetitions (default 5, 3 from 5M objects)")
    ap.add_argument("--interval", type=float, default=0.0,
                    help="agent interval in s (default: 5x the estimated census, >= 0.1)")
    ap.add_argument("--objgraph", default=os.environ.get("OBJGRAPH_PATH", OBJGRAPH_DEFAULT))
    ap.add_argument("--wait-quiet", type=float, default=0.0, metavar="S",
                    help="before each workload, wait up to S seconds for other work on the machine "
                         "to stop (default 0: do not wait)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--size", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.build = os.path.abspath(args.build)

    if args.child:
        return run_child(args)

    client = os.path.join(args.build, "leaktop")
    if not os.access(client, os.X_OK):
        print("census.py: no leaktop client at %s; build first:\n  meson setup build-bench "
              "-Dpythons=pyenv -Dbuildtype=release && ninja -C build-bench" % client,
              file=sys.stderr)
        return 1
    if args.pythons == "current":
        pythons = [sys.executable]
    elif args.pythons == "pyenv":
        pythons = pyenv_pythons()
    else:
        pythons = [p for p in args.pythons.split(",") if p]
    sizes = [parse_size(s) for s in args.sizes.split(",") if s.strip()]
    layouts = [l.strip() for l in args.layouts.split(",") if l.strip()]
    for l in layouts:
        if l not in ("fresh", "churned"):
            ap.error("unknown layout %r" % l)

    print("leaktop census benchmark: build %s, %d CPU(s), %s" % (args.build, os.cpu_count(),
                                                                platform.platform()))
    say_busy("before")
    errors = 0
    rows = []
    for exe in pythons:
        if agent_for(args.build, exe) is None:
            print("%s: no agent built for it in %s/agent, skipped" % (exe, args.build))
            continue
        for size, layout in [(s, l) for s in sizes for l in layouts]:
            wait_quiet(args.wait_quiet)
            reps = args.reps or (3 if size >= 5000000 else 5)
            cmd = [exe, os.path.abspath(__file__), "--child", "--size", str(size),
                   "--samples", str(args.samples), "--reps", str(reps),
                   "--interval", str(args.interval), "--layout", layout,
                   "--objgraph", args.objgraph, args.build]
            t0 = time.time()
            r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               universal_newlines=True)
            res = [l for l in r.stdout.splitlines() if l.startswith("RESULT ")]
            if r.returncode != 0 or not res:
                errors += 1
                print("ERROR: %s, %s objects, %s: exit %d\n%s%s" % (
                    exe, fmt_size(size), layout, r.returncode, r.stdout, r.stderr))
                continue
            row = json.loads(res[-1][len("RESULT "):])
            rows.append(row)
            lt = med(row["leaktop_ns"])
            print("  python %s, %s objects, %s: %.0f s (build %.1f s), leaktop %.1f ns/obj "
                  "(samples %s), objgraph %s, Counter %s ns/obj" % (
                      row["python"], fmt_size(size), layout, time.time() - t0, row["build_s"], lt,
                      " ".join("%.1f" % x for x in row["leaktop_ns"]),
                      fmt_ns(med(row.get("objgraph_ns"))) + " ns/obj"
                      if "objgraph_ns" in row else "SKIPPED (%s)" % row["objgraph_skip"],
                      fmt_ns(med(row["counter_ns"]))))
            sys.stdout.flush()

    say_busy("after")
    if rows:
        print_table(rows, "Census cost per GC-tracked object (medians; lower is better)")
        print("(best): the fastest agent sample; on a busy machine, closer to the census's own "
              "cost")
        print("get_objects() ns/obj: len(gc.get_objects()) alone: CPython's own C walk of the same "
              "lists, building a list and counting nothing (a reference point)")
        for r in rows:
            if "objgraph_skip" in r:
                print("note: objgraph skipped for python %s, %s objects, %s: %s" % (
                    r["python"], fmt_size(r["size"]), r["layout"], r["objgraph_skip"]))
        missed = [r for r in rows if med(r["leaktop_ns"]) > TARGET_NS]
        if missed:
            print()
            print("!" * 78)
            print("!!! TARGET MISSED: leaktop census above %.0f ns per tracked object for:"
                  % TARGET_NS)
            for r in missed:
                print("!!!   python %s, %s objects, %s heap: %.1f ns/obj" % (
                    r["python"], fmt_size(r["size"]), r["layout"], med(r["leaktop_ns"])))
            print("!" * 78)
        else:
            print("\ntarget met: leaktop census <= %.0f ns per tracked object everywhere"
                  % TARGET_NS)
    if errors:
        print("\n%d workload(s) failed" % errors, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
