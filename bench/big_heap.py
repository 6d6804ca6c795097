#!/usr/bin/env python3
"""Big heaps: what the census costs the host at 1 M, 5 M and 20 M GC-tracked objects.

    python3 bench/big_heap.py [BUILD_DIR] [--pythons python3,...|pyenv] [--sizes 1M,5M,20M]
                              [--seconds 20] [--census-wait 300] [--rounds 5]

BUILD_DIR (or $LEAKTOP_BUILD) is a meson build directory holding agent/leaktop.cpython-*.so;
the default is `build` at the repository root. One command prints the whole comparison table.

For every interpreter and size a fresh child process builds a fragmented heap of that many
tracked objects (instances, lists, dicts; a random half dropped and allocated again, so the
collector's lists jump around memory as in a long-running service), collects it into the oldest
generation, and then, in that one process, runs the same host for --seconds in each mode:
  none         nothing watching (run before and after each other mode; its mean is the bar)
  leaktop      leaktop.start() with its defaults (census budget 1% of one core, pause 10 ms);
               measured after its first census, and for as long as it takes to finish one more
               census within the budget (at most --census-wait s), so the census period is real
  tracemalloc  tracemalloc.start(1)
  get_objects  a thread counting collections.Counter(type(o) for o in gc.get_objects()) every
               P seconds, P the census period leaktop reached
Throughput side by side: this machine's speed drifts by 5-50% from one window to the next, so
first come --rounds rounds of each leaktop configuration, each window between two none windows
and compared with their mean (the median of those ratios is the figure): leaktop's defaults, and
the census alone (sample_bytes=0, no allocator hooks: what the heap's size costs, apart from
what every allocation costs). Each leaktop window starts after its first census (the one not
spaced out). Stalls are compared over the same windows: longest, p99, p99.9, over 10 ms a minute.

The host is a main thread running a pure-Python loop (its iterations per second are the
throughput) and a thread timing time.sleep(0.001): its overshoot is the stall a thread inside
the host sees (longest and 99th percentile). CPython itself makes a waiting thread wait up to a
switch interval (5 ms) while the main thread runs, so `none` has stalls of its own: the figure to
read is leaktop's minus none's. The agent's own figures come from leaktop._census(): the longest
hold of the GIL by one slice in wall time and in the agent thread's CPU time (wall time includes
the machine's other load, CPU time does not), the census's CPU time and period.

Then, leaktop still running, a viewer (a separate process speaking the socket protocol, as the
TUI does on Enter) asks "why is __main__.Node alive" and then TYPE_SITES for it, while the host
keeps running; the host's stalls during those answers are reported, and leaktop._holds() gives,
per kind of work (census slice, why-alive, TYPE_SITES, memory reading, the rest of a tick), the
longest single hold of the GIL in CPU time and in wall time.

Counts: the host then goes quiet (no thread runs), leaktop is restarted (its first census walks
in slices like every other, just not spaced out), and its counts per type are compared with a
Counter over gc.get_objects(); the bench's own objects between the two (a few) are reported.

Exit status 0 when the runs completed (a missed target is printed, not an exit status), 1 on a
failed child, 2 on a bad command line. Standard library only; CPython 3.8-3.13.
"""
import argparse
import collections
import gc
import glob
import json
import os
import random
import socket
import struct
import subprocess
import sys
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse_size(text):
    t = text.strip().upper()
    mult = 1
    if t.endswith("M"):
        mult, t = 1000000, t[:-1]
    elif t.endswith("K"):
        mult, t = 1000, t[:-1]
    return int(float(t) * mult)


def load():
    """Load average and the CPUs' busy share over the last second (/proc/stat)."""
    def snap():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return sum(v[:8]), v[3] + v[4]
    t0, i0 = snap()
    time.sleep(1.0)
    t1, i1 = snap()
    return os.getloadavg()[0], (os.cpu_count() or 1) * (1.0 - (i1 - i0) / max(1, t1 - t0))


# ---- the child: one heap, every mode ----------------------------------------------------------

class Node(object):
    __slots__ = ("a", "b")


HEAP = None  # the heap, held by a module global as a leak would be: __main__.HEAP[i]


def build_heap(n):
    """About n GC-tracked objects, fragmented, all in the oldest generation."""
    gc.disable()
    rnd = random.Random(7)
    objs = []
    for i in range(n):
        k = i % 3
        objs.append(Node() if k == 0 else [i] if k == 1 else {"n": None, "l": []})
    rnd.shuffle(objs)
    del objs[: n // 2]          # a random half goes: holes everywhere
    for i in range(n // 2):     # and their places are taken again, in another order
        objs.append(Node() if i % 2 else [i])
    rnd.shuffle(objs)
    gc.enable()
    gc.collect()
    return objs


def type_name(t):
    m = getattr(t, "__module__", "builtins")
    q = getattr(t, "__qualname__", t.__name__)
    return q if m == "builtins" else "%s.%s" % (m, q)


class Host(object):
    """The host's work: a pure-Python loop (throughput) and a thread timing short sleeps."""

    def __init__(self):
        self.stop = threading.Event()
        self.stalls = []
        self.iterations = 0

    def sleeper(self):
        stalls = self.stalls
        while not self.stop.is_set():
            t0 = time.perf_counter()
            time.sleep(0.001)
            stalls.append(time.perf_counter() - t0 - 0.001)

    def run(self, seconds, until=None):
        """Run for `seconds`, or until until() is true (checked every 0.5 s) but at most
        `seconds`. Returns iterations/s, longest stall (ms), p99 stall (ms), seconds run."""
        self.stop.clear()
        self.stalls = []
        th = threading.Thread(target=self.sleeper)
        th.start()
        t0 = time.perf_counter()
        it = 0
        next_check = t0 + 0.5
        while True:
            x = 0
            for j in range(200):
                x += j * j
            junk = [x, x + 1]  # a short-lived container: young collections go on
            del junk
            it += 1
            if it & 63 == 0:
                now = time.perf_counter()
                if now - t0 >= seconds:
                    break
                if until is not None and now >= next_check:
                    next_check = now + 0.5
                    if until():
                        break
        took = time.perf_counter() - t0
        self.stop.set()
        th.join()
        s = sorted(self.stalls) or [0.0]
        over = sum(1 for x in s if x > 0.010)
        return (it / took, s[-1] * 1e3, s[int(len(s) * 0.99)] * 1e3, took,
                s[int(len(s) * 0.999)] * 1e3, over)


# ---- the viewer: why-alive and TYPE_SITES through the socket -----------------------------------

FRAME = struct.Struct("<IHH")
F_CLIENT_HELLO, F_STRING, F_COMMAND, F_WHY, F_TYPE_SITES = 2, 3, 6, 12, 15
CMD_WHY_ALIVE, CMD_TYPE_SITES = 5, 7


def ask(path, type_name, timeout):
    """Connect to the agent at path as a viewer, ask WHY_ALIVE then TYPE_SITES for type_name;
    print a RESULT line with the seconds each answer took (None: no answer in time)."""
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    hello = b"LKTP" + struct.pack("<HHI", 1, 0, 5) + b"bench"
    s.sendall(FRAME.pack(len(hello), F_CLIENT_HELLO, 0) + hello)
    data, sid, t_asked, res = b"", None, None, {"why_s": None, "type_sites_s": None}
    todo = [(CMD_WHY_ALIVE, F_WHY, "why_s"), (CMD_TYPE_SITES, F_TYPE_SITES, "type_sites_s")]
    deadline = time.monotonic() + timeout
    while todo and time.monotonic() < deadline:
        off = 0
        while len(data) - off >= FRAME.size:
            n, t, _ = FRAME.unpack_from(data, off)
            if len(data) - off - FRAME.size < n:
                break
            p = data[off + FRAME.size:off + FRAME.size + n]
            off += FRAME.size + n
            if t == F_STRING and sid is None:
                i, k = struct.unpack_from("<II", p)
                if p[8:8 + k].decode("utf-8", "replace") == type_name:
                    sid = i
            elif todo and t_asked is not None and t == todo[0][1]:
                res[todo[0][2]] = time.monotonic() - t_asked
                todo.pop(0)
                t_asked = None
        data = data[off:]
        if todo and sid is not None and t_asked is None:
            payload = struct.pack("<HI", todo[0][0], sid)
            s.sendall(FRAME.pack(len(payload), F_COMMAND, 0) + payload)
            t_asked = time.monotonic()
        s.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            chunk = s.recv(1 << 16)
        except socket.timeout:
            break
        if not chunk:
            break
        data += chunk
    s.close()
    print("RESULT " + json.dumps(res), flush=True)


def get_objects_census(stop, period, out):
    """Count every object with gc.get_objects() every period s, the first at half a period."""
    wait = period / 2
    while not stop.wait(wait):
        wait = period
        t0 = time.perf_counter()
        collections.Counter(type(o) for o in gc.get_objects())
        out.append(time.perf_counter() - t0)


def run_child(args):
    sys.path.insert(0, os.path.join(args.build, "agent"))
    import leaktop
    import tracemalloc
    global HEAP
    size = args.child_size
    t0 = time.perf_counter()
    HEAP = keep = build_heap(size)
    tracked = len(gc.get_objects())
    res = {"python": "%d.%d.%d" % sys.version_info[:3], "size": size, "tracked": tracked,
           "build_s": time.perf_counter() - t0, "load_before": load()}
    host = Host()
    host.run(2.0)  # warm-up
    nones = []

    def none():
        nones.append(host.run(args.seconds))

    # Throughput and stalls, side by side: each leaktop window between two none windows, so what
    # drifts on the machine (another tenant, the kernel's memory scans) drifts for both. Two
    # configurations take turns: the defaults, and the census alone (no sampler, so no allocator
    # hooks). A window starts after its first census (the one not spaced out).
    none()
    rounds = []
    for i in range(2 * args.rounds):
        mode = "leaktop" if i % 2 == 0 else "census"
        leaktop.start(**({} if mode == "leaktop" else {"sample_bytes": 0}))
        while leaktop._census() is None:
            time.sleep(0.05)
        r = host.run(args.seconds)
        leaktop.stop()
        rounds.append([mode, r])
        none()
    res["rounds"] = rounds
    # leaktop: wait for the first census (at full speed), then measure until one more census
    # has finished within the budget.
    leaktop.start()
    while leaktop._census() is None:
        time.sleep(0.05)
    first = leaktop._census()["censuses"]
    done = {}

    def paced():
        # The census period: between the ends of the first two censuses held to the budget.
        c = leaktop._census()
        done.setdefault(c["censuses"], c["done_mono_ns"])
        return c["censuses"] >= first + 2

    lt = host.run(max(args.seconds, args.census_wait), until=paced)
    c = leaktop._census()
    c.pop("counts")
    res["leaktop"] = lt
    res["census"] = c
    res["census_paced"] = first + 1 in done and first + 2 in done
    period = (done[first + 2] - done[first + 1]) / 1e9 if res["census_paced"] else None
    res["census_period"] = period
    # A viewer asks why Node is alive, then TYPE_SITES, while the host runs.
    asker = subprocess.Popen([sys.executable, os.path.abspath(__file__), args.build, "--ask",
                              leaktop.socket_path(), "__main__.Node"],
                             stdout=subprocess.PIPE, text=True)
    res["asked"] = host.run(300.0, until=lambda: asker.poll() is not None)
    out = asker.communicate(timeout=60)[0]
    line = [x for x in out.splitlines() if x.startswith("RESULT ")]
    res["answers"] = json.loads(line[0][len("RESULT "):]) if line else {}
    res["holds"] = leaktop._holds()
    leaktop.stop()
    none()
    tracemalloc.start(1)
    res["tracemalloc"] = host.run(args.seconds)
    tracemalloc.stop()
    none()
    # gc.get_objects() at leaktop's cadence (or every 10 s when leaktop finished none).
    stop, times = threading.Event(), []
    th = threading.Thread(target=get_objects_census, args=(stop, period or 10.0, times))
    th.start()
    res["get_objects"] = host.run(max(args.seconds, period or 10.0))
    stop.set()
    th.join()
    res["get_objects_times"] = times
    res["get_objects_period"] = period or 10.0
    none()
    res["none"] = nones

    # Counts in a quiet heap: restart leaktop; its first census (sliced) against gc.get_objects.
    gc.collect()
    quiet = time.monotonic_ns()
    leaktop.start()
    while True:
        c = leaktop._census()
        if c is not None and c["started_mono_ns"] >= quiet:
            break
        time.sleep(0.05)
    ref = collections.Counter(type_name(type(o)) for o in gc.get_objects())
    counts = c.pop("counts")
    leaktop.stop()
    diff = {k: counts.get(k, 0) - ref.get(k, 0) for k in set(counts) | set(ref)
            if counts.get(k, 0) != ref.get(k, 0)}
    res["counts"] = {"types": len(counts), "nodes_leaktop": counts.get("__main__.Node", 0),
                     "nodes_ref": ref.get("__main__.Node", 0), "diff": diff,
                     "quiet_census": c}
    res["load_after"] = load()
    del keep
    print("RESULT " + json.dumps(res), flush=True)


# ---- the parent: one child per python and size, the table -------------------------------------

def pythons_of(spec):
    if spec == "pyenv":
        root = subprocess.run(["pyenv", "root"], capture_output=True, text=True).stdout.strip()
        found = sorted(glob.glob(os.path.join(root, "versions", "3.*", "bin", "python3.*")))
        return [p for p in found if p[-1].isdigit() and "3.8" <= p.rsplit("python", 1)[1]]
    return [p for p in spec.split(",") if p]


def fmt_row(name, r, bar):
    ips, worst, p99, took, p999, over = r
    return "  %-12s %9.0f  %6.3fx  %8.1f  %7.1f  %7.1f  %8.1f" % (
        name, ips, bar / ips if ips else 0, worst, p99, p999, 60.0 * over / max(took, 1e-9))


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return (xs[n // 2] + xs[(n - 1) // 2]) / 2.0 if n else 0.0


def paired(res, mode):
    """Each round of mode against the mean of the none windows before and after it: the ratios,
    their median, and the stalls of those windows (mode's, none's) taken together."""
    k = len(res["rounds"])
    nones = res["none"][:k + 1]
    idx = [i for i in range(k) if res["rounds"][i][0] == mode]
    lts = [res["rounds"][i][1] for i in idx]
    ratios = [(nones[i][0] + nones[i + 1][0]) / 2.0 / res["rounds"][i][1][0] for i in idx]
    nones = [nones[j] for i in idx for j in (i, i + 1)]

    def stalls(ws):
        took = sum(w[3] for w in ws)
        return {"worst": max(w[1] for w in ws), "p99": median([w[2] for w in ws]),
                "p999": median([w[4] for w in ws]),
                "over10_per_min": 60.0 * sum(w[5] for w in ws) / max(took, 1e-9)}
    return ratios, median(ratios), stalls(lts), stalls(nones)


def report(res):
    nones = res["none"]
    bar = sum(n[0] for n in nones) / len(nones)
    c = res["census"]
    print("\n== Python %s, %s tracked objects (heap built in %.0f s); load before %.1f (%.1f CPUs "
          "busy), after %.1f (%.1f)" % (res["python"], "{:,}".format(res["tracked"]),
                                       res["build_s"], res["load_before"][0],
                                       res["load_before"][1], res["load_after"][0],
                                       res["load_after"][1]))
    print("  %-12s %9s  %7s  %8s  %7s  %7s  %8s" % ("mode", "iter/s", "slower", "stall ms",
                                                 "p99 ms", "p99.9", ">10ms/min"))
    k = len(res["rounds"])
    for i, n in enumerate(nones):
        print(fmt_row("none #%d" % (i + 1), n, bar))
        if i < k:
            print(fmt_row("%s #%d" % (res["rounds"][i][0], i // 2 + 1), res["rounds"][i][1], bar))
    print(fmt_row("leaktop long", res["leaktop"], bar))
    print(fmt_row("tracemalloc", res["tracemalloc"], bar))
    print(fmt_row("get_objects", res["get_objects"], bar))
    stall_none = max(n[1] for n in nones)
    print("  leaktop: census %s (%s), %d slices, longest GIL hold %.2f ms wall / %.2f ms CPU "
          "per slice, census CPU %.0f ms over %.1f s (%.2f%% of a core), %d restarts; "
          "longest stall %.1f ms vs none's %.1f ms" % (
              "period %.1f s" % res["census_period"] if res["census_paced"] else
              "period longer than the run (fewer than two censuses within the budget)",
              "exact" if c["exact"] else "NOT exact", c["slices"], c["longest_hold_ns"] / 1e6,
              c["max_slice_cpu_ns"] / 1e6, c["cpu_ns"] / 1e6, c["span_ns"] / 1e9,
              100.0 * c["cpu_ns"] / max(1, c["span_ns"]), c["restarts"], res["leaktop"][1],
              stall_none))
    t = res["get_objects_times"]
    if t:
        print("  get_objects census every %.1f s: each took %.0f ms (the GIL held for the "
              "list)" % (res["get_objects_period"], 1e3 * sum(t) / len(t)))
    a, h = res.get("answers", {}), res.get("holds", {})
    if h:
        w = h["why_last"]
        print("  a viewer asked why Node is alive: %s in %s (%s; %d levels, %d slices, %d "
              "restarts), then TYPE_SITES: %s; the host meanwhile: longest stall %.1f ms, p99 "
              "%.1f ms" % (
                  "chain %s" % w["chain"] if w["found"] else "no chain (%s)" % w["note"],
                  "%.1f s" % a["why_s"] if a.get("why_s") is not None else "no answer",
                  "%.0f ms searching" % w["total_ms"], w["levels"], w["slices"], w["restarts"],
                  "%.1f s" % a["type_sites_s"] if a.get("type_sites_s") is not None
                  else "no answer", res["asked"][1], res["asked"][2]))
        print("  longest hold of the GIL by the agent, per kind (CPU / wall, holds):")
        for kind in ("census", "why_alive", "type_sites", "memory", "tick"):
            x = h[kind]
            print("    %-11s %7.2f ms / %7.2f ms  %8d holds%s" % (
                kind, x["longest_cpu_ns"] / 1e6, x["longest_wall_ns"] / 1e6, x["holds"],
                "" if x["longest_cpu_ns"] <= 10e6 else "  (over 10 ms)"))
    k = res["counts"]
    q = k["quiet_census"]
    print("  counts in a quiet heap: %d types; Node %d (gc.get_objects: %d); other differences "
          "%s; that census: %d slices, longest hold %.2f ms wall / %.2f ms CPU" % (
              k["types"], k["nodes_leaktop"], k["nodes_ref"],
              json.dumps(k["diff"], sort_keys=True) if k["diff"] else "none", q["slices"],
              q["max_hold_ns"] / 1e6, q["max_slice_cpu_ns"] / 1e6))
    medians = {}
    for mode, what in (("leaktop", "leaktop's defaults"),
                       ("census", "the census alone (sample_bytes=0: no allocator hooks)")):
        ratios, r, st_lt, st_none = paired(res, mode)
        medians[mode] = r
        print("  side by side, %s: %d rounds, each against the none windows around it: slower "
              "by %s, median %.3fx; stalls, %s vs none: longest %.1f vs %.1f ms, p99 %.1f vs "
              "%.1f ms, p99.9 %.1f vs %.1f ms, over 10 ms %.1f vs %.1f a minute"
              % (what, len(ratios), " ".join("%.3f" % x for x in ratios), r, mode,
                 st_lt["worst"], st_none["worst"], st_lt["p99"], st_none["p99"], st_lt["p999"],
                 st_none["p999"], st_lt["over10_per_min"], st_none["over10_per_min"]))
    ratio = medians["leaktop"]
    ok = ratio <= 1.02 and c["exact"] and c["longest_hold_ns"] <= 10e6 and k["nodes_leaktop"] == k["nodes_ref"]
    print("  target (within 2%%, holds <= 10 ms, Node exact): %s (%.3fx, %.2f ms); the census "
          "alone %.3fx" % ("met" if ok else "MISSED", ratio, c["longest_hold_ns"] / 1e6,
                            medians["census"]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("build", nargs="?",
                    default=os.environ.get("LEAKTOP_BUILD", os.path.join(REPO, "build")))
    ap.add_argument("--pythons", default="python3")
    ap.add_argument("--sizes", default="1M,5M,20M")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--census-wait", type=float, default=300.0)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--child-size", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--ask", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.build = os.path.abspath(args.build)
    if args.ask:
        ask(args.ask[0], args.ask[1], 240.0)
        return 0
    if args.rounds < 1:
        print("big_heap.py: --rounds takes a number of rounds, 1 or more", file=sys.stderr)
        return 2
    if args.child_size:
        run_child(args)
        return 0
    try:
        sizes = [parse_size(s) for s in args.sizes.split(",") if s]
    except ValueError:
        print("big_heap.py: --sizes takes sizes such as 1M,5M,20M", file=sys.stderr)
        return 2
    if not glob.glob(os.path.join(args.build, "agent", "leaktop.cpython-*.so")):
        print("big_heap.py: no agent built in %s" % args.build, file=sys.stderr)
        return 1
    print("bench/big_heap.py: %s; %s s per mode; CPUs %d" % (
        " ".join(sys.argv[1:]) or "(defaults)", args.seconds, os.cpu_count() or 1))
    failed = 0
    for py in pythons_of(args.pythons):
        for size in sizes:
            cmd = [py, os.path.abspath(__file__), args.build, "--child-size", str(size),
                   "--seconds", str(args.seconds), "--census-wait", str(args.census_wait),
                   "--rounds", str(args.rounds)]
            r = subprocess.run(cmd, capture_output=True, text=True)
            line = [x for x in r.stdout.splitlines() if x.startswith("RESULT ")]
            if r.returncode != 0 or not line:
                print("\n== %s, %d objects: the child failed (%d): %s" % (
                    py, size, r.returncode, r.stderr[-1500:]))
                failed = 1
                continue
            report(json.loads(line[0][len("RESULT "):]))
            sys.stdout.flush()
    return failed


if __name__ == "__main__":
    sys.exit(main())
