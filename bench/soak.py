#!/usr/bin/env python3
"""Soak: a day of the agent's life, accelerated, and its own memory through it.

    python3 bench/soak.py [BUILD_DIR] [--full | --censuses N] [--interval 0.01] [--sites 10000]
                          [--sample-bytes 2048] [--python PY] [--json]

BUILD_DIR (or $LEAKTOP_BUILD) is a meson build directory holding agent/leaktop.cpython-*.so;
the default is build at the repository root.

A Python host runs the agent at --interval (0.01 s: a hundred censuses a second) with the
allocation sampler at --sample-bytes, and history kept for 600 censuses, as many as the default
(600 s at 1 s). It churns allocations through --sites distinct allocation sites: that many
generated functions (exec), each allocating on its own line, called at random, their results
held in a ring so that allocations of every site keep dying and being born. The agent interns
every site's name, traceback and line, and its bounded tables must evict and stay bounded.

A viewer reads every live SAMPLE (and its SITES) on the agent's socket until N censuses have
been taken: --censuses (default 8,640: 2.4 hours of default operation), --full for 86,400 (a
day at 1 s a census: 14.4 minutes at 0.01 s). Each SAMPLE carries agent_bytes, the memory the
agent holds by its own count (lt_mem: every allocation the agent makes).

Verdict, after a warm-up (the first 20% of censuses, at least 1,000, while every site gets
sampled once and the history fills), with the rest cut in tenths:
  * agent_bytes never over 16 MiB (at any census, warm-up included);
  * no trend: between consecutive tenths, rises of the median of at most 64 KiB (the creep of a
    leak), summed and projected over 86,400 censuses, stay under 1 MiB;
  * bounded steps: rises of more than 64 KiB (a bounded table doubling its capacity, which it
    never gives back) happen at most twice, and the median grows by less than 1 MiB in all.
Medians, because agent_bytes includes the frames queued for the viewer, which jump for a moment
when the reader falls behind. --save FILE keeps the series (census, agent_bytes, census_ns per
line); --analyse FILE judges a saved series again.
Prints the curve (agent_bytes by tenths of the run), host RSS, the sampler's tables, and the
verdict; --json prints the same as one JSON object. Exit status: 0 flat and bounded, 1 not
(or an error), 2 on a bad command line. Standard library only; runs on CPython 3.8-3.13.
"""
import argparse
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIMIT = 16 << 20
STEP = 64 << 10  # a rise between two tenths' medians larger than this is a step
DAY = 86400
CI_CENSUSES = 8640

HOST = r'''
import os, random, sys, time
import leaktop
sites, interval, sample_bytes = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
# One function per site, each allocating on its own line of one generated file.
src = "\n".join("def s%d(n):\n    return [bytearray(40 + (n + %d) %% 96), (n, %d)]"
                % (i, i, i) for i in range(sites))
ns = {}
exec(compile(src, "/soak/generated_sites.py", "exec"), ns)
fns = [ns["s%d" % i] for i in range(sites)]
# History for 600 censuses, like the default (600 s at 1 s).
leaktop.start(interval=interval, sample_bytes=sample_bytes, history=600 * interval)
print("ready %d %s" % (os.getpid(), leaktop.socket_path()), flush=True)
rnd = random.Random(1)
ring = [None] * 8192
i = 0
while True:
    for _ in range(400):
        ring[i % 8192] = fns[rnd.randrange(sites)](i)
        i += 1
    time.sleep(0.002)
'''

HEADER = struct.Struct("<IHH")
FRAME_HELLO, FRAME_CLIENT_HELLO, FRAME_STRING, FRAME_SAMPLE = 1, 2, 3, 4
FRAME_DROPS, FRAME_BYE, FRAME_HISTORY_END, FRAME_SITES = 5, 8, 9, 11


def client_hello(name=b"bench/soak.py"):
    payload = b"LKTP" + struct.pack("<HHI", 1, 0, len(name)) + name
    return HEADER.pack(len(payload), FRAME_CLIENT_HELLO, 0) + payload


def find_agent_dir(build):
    d = os.path.join(build, "agent")
    if not os.path.isdir(d) or not any(f.startswith("leaktop.cpython-") for f in os.listdir(d)):
        return None
    return d


def rss_of(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def run_soak(agent_dir, censuses=CI_CENSUSES, interval=0.01, sites=10000, sample_bytes=2048,
             python=None, progress=None, timeout=None, save=None):
    """Run the host and read its stream until `censuses` live samples; return the figures."""
    python = python or sys.executable
    tmp = tempfile.mkdtemp(prefix="leaktop-soak-")
    runtime = os.path.join(tmp, "run")
    os.mkdir(runtime, 0o700)
    prog = os.path.join(tmp, "soak_host.py")
    with open(prog, "w") as f:
        f.write(HOST)
    env = dict(os.environ, XDG_RUNTIME_DIR=runtime, PYTHONPATH=agent_dir)
    env.pop("LEAKTOP_OPTIONS", None)
    host = subprocess.Popen([python, prog, str(sites), repr(interval), str(sample_bytes)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    sock = None
    try:
        line = host.stdout.readline().decode()
        if not line.startswith("ready"):
            raise RuntimeError("the soak host did not start: %s %s"
                               % (line, host.stderr.read().decode()[-2000:]))
        pid, path = int(line.split()[1]), line.split()[2]
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(30)
        sock.connect(path)
        sock.sendall(client_hello())
        t0 = time.monotonic()
        limit = timeout or max(120.0, censuses * interval * 4 + 60)
        data = bytearray()
        live = False
        samples = []       # (seq, mono_ns, agent_bytes, census_ns)
        sites_rows = []    # (seq, live_samples, dropped_samples, evicted_traces, traces_total)
        strings = 0
        drops = 0
        rss = []           # (census index, host RSS)
        next_rss = 0
        while len(samples) < censuses:
            if time.monotonic() - t0 > limit:
                raise RuntimeError("only %d of %d censuses after %.0f s"
                                   % (len(samples), censuses, limit))
            chunk = sock.recv(1 << 20)
            if not chunk:
                raise RuntimeError("the agent closed the connection after %d censuses; host: %s"
                                   % (len(samples), host.stderr.read().decode()[-2000:]))
            data += chunk
            off = 0
            while len(data) - off >= 8:
                n, t, flags = HEADER.unpack_from(data, off)
                if len(data) - off - 8 < n:
                    break
                p = off + 8
                if t == FRAME_HISTORY_END:
                    live = True
                elif t == FRAME_STRING:
                    strings += 1
                elif t == FRAME_DROPS:
                    drops = struct.unpack_from("<Q", data, p)[0]
                elif live and not flags & 1 and t == FRAME_SAMPLE:
                    seq, _, mono = struct.unpack_from("<IQQ", data, p)
                    agent_bytes = struct.unpack_from("<Q", data, p + 60)[0]
                    census_ns = struct.unpack_from("<Q", data, p + 44)[0]
                    samples.append((seq, mono, agent_bytes, census_ns))
                elif live and not flags & 1 and t == FRAME_SITES:
                    f = struct.unpack_from("<IQQQQQQI", data, p)
                    sites_rows.append((f[0], f[4], f[5], f[6], f[7]))
                off = p + n
            del data[:off]
            if len(samples) >= next_rss:
                rss.append((len(samples), rss_of(pid)))
                next_rss += max(1, censuses // 20)
                if progress:
                    progress(len(samples), censuses, samples[-1][2] if samples else 0)
        # The last read may have brought a few samples past the count asked for.
        del samples[censuses:]
        rss.append((len(samples), rss_of(pid)))
        wall = time.monotonic() - t0
    finally:
        if sock is not None:
            sock.close()
        if host.poll() is None:
            host.kill()
        host.wait()
        for s in (host.stdout, host.stderr):
            s.close()
        shutil.rmtree(tmp, ignore_errors=True)
    if save:
        write_series(save, samples, {"interval_s": interval, "sites": sites,
                                     "sample_bytes": sample_bytes, "python": python,
                                     "wall_s": wall, "strings": strings, "drops": drops})
    return analyse(samples, sites_rows, strings, drops, rss, wall, interval, sites, sample_bytes,
                   python)


def write_series(path, samples, meta):
    with open(path, "w") as f:
        f.write("# " + json.dumps(meta) + "\n")
        for seq, _, agent_bytes, census_ns in samples:
            f.write("%d %d %d\n" % (seq, agent_bytes, census_ns))


def read_series(path):
    meta, samples = {}, []
    with open(path) as f:
        for line in f:
            if line.startswith("#"):
                meta = json.loads(line[1:])
            elif line.strip():
                seq, agent_bytes, census_ns = (int(x) for x in line.split())
                samples.append((seq, 0, agent_bytes, census_ns))
    return meta, samples


def mean(xs):
    return sum(xs) / len(xs) if xs else 0.0


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2] if xs else 0


def tenths(points):
    """Split [(census, bytes)] into ten consecutive parts."""
    n = len(points)
    return [points[k * n // 10:(k + 1) * n // 10] for k in range(10) if n >= 10]


def analyse(samples, sites_rows, strings, drops, rss, wall, interval, sites, sample_bytes,
            python):
    n = len(samples)
    ab = [s[2] for s in samples]
    seqs = [s[0] for s in samples]
    warm = min(max(1000, n // 5), n // 2)
    parts = tenths(list(enumerate(ab))[warm:])
    meds = [median([v for _, v in p]) for p in parts]
    # A leak creeps up from every tenth to the next; a bounded table that doubles its capacity
    # (they never shrink) steps up once and stays. Rises of more than STEP are steps, counted
    # and bounded on their own; the rest is the creep, the trend.
    rises = [b - a for a, b in zip(meds, meds[1:])]
    steps = sum(1 for d in rises if d > STEP)
    creep = sum(d for d in rises if d <= STEP)
    span = (len(ab) - warm) * 9.0 / 10.0  # censuses between the first and last tenth
    per_census = creep / span if span > 0 else 0.0
    growth = meds[-1] - meds[0] if meds else 0
    curve = []
    for k in range(10):
        part = ab[k * n // 10:(k + 1) * n // 10]
        if part:
            curve.append({"censuses": (k + 1) * n // 10, "median": median(part),
                          "max": max(part), "min": min(part)})
    projected = per_census * DAY
    verdict = {
        "max_under_16MiB": max(ab) < LIMIT if ab else False,
        "trend_under_1MiB_per_day": projected < (1 << 20),
        "growth_after_warmup_under_1MiB": growth < (1 << 20),
        "at_most_2_steps": steps <= 2,
    }
    last_sites = sites_rows[-1] if sites_rows else (0, 0, 0, 0, 0)
    census_ms = sorted(s[3] / 1e6 for s in samples)
    return {
        "python": python, "interval_s": interval, "sites": sites, "sample_bytes": sample_bytes,
        "censuses": n, "seq_first": seqs[0] if seqs else 0, "seq_last": seqs[-1] if seqs else 0,
        "missing_censuses": (seqs[-1] - seqs[0] + 1 - n) if seqs else 0, "drops": drops,
        "default_operation_hours": n / 3600.0, "wall_s": wall,
        "warmup_censuses": warm,
        "agent_bytes": {"max": max(ab) if ab else 0, "tenth_medians_after_warmup": meds,
                        "rises_between_tenths": rises, "steps": steps,
                        "growth_after_warmup": growth, "trend_bytes_per_census": per_census,
                        "projected_growth_per_day": int(projected), "curve": curve},
        "census_ms": {"median": census_ms[len(census_ms) // 2] if census_ms else 0,
                      "p99": census_ms[int(len(census_ms) * 0.99)] if census_ms else 0,
                      "max": census_ms[-1] if census_ms else 0},
        "host_rss": [{"censuses": c, "bytes": b} for c, b in rss],
        "strings_announced": strings,
        "sampler_last": {"live_samples": last_sites[1], "dropped_samples": last_sites[2],
                         "evicted_traces": last_sites[3], "traces_total": last_sites[4]},
        "verdict": verdict,
        "ok": all(verdict.values()),
    }


def mib(b):
    return "%.2f MiB" % (b / 1048576.0)


def print_report(r):
    a = r["agent_bytes"]
    print("soak: %d censuses at %g s (%.1f hours of default operation at 1 s) in %.0f s, "
          "%d allocation sites, sample_bytes %d, %s"
          % (r["censuses"], r["interval_s"], r["default_operation_hours"], r["wall_s"],
             r["sites"], r["sample_bytes"], r["python"]))
    print("  censuses missing from the stream: %d, drops reported: %d"
          % (r["missing_censuses"], r["drops"]))
    print("  census time: median %.2f ms, p99 %.2f ms, max %.2f ms"
          % (r["census_ms"]["median"], r["census_ms"]["p99"], r["census_ms"]["max"]))
    print("  agent_bytes by tenths of the run (median / min / max):")
    for c in a["curve"]:
        print("    to census %6d: %s / %s / %s" % (c["censuses"], mib(c["median"]), mib(c["min"]),
                                                   mib(c["max"])))
    print("  after the warm-up (%d censuses), by tenths: medians %s"
          % (r["warmup_censuses"], " ".join("%.2f" % (m / 1048576.0)
                                            for m in a["tenth_medians_after_warmup"])))
    print("  growth after warm-up %s: %d step(s) of more than %s between tenths, and a creep of "
          "%.2f bytes per census (%s a day)"
          % (mib(a["growth_after_warmup"]), a["steps"], mib(STEP), a["trend_bytes_per_census"],
             mib(a["projected_growth_per_day"])))
    print("  max %s (limit 16 MiB)" % mib(a["max"]))
    if r["host_rss"]:
        print("  host RSS: " + ", ".join("%s at %d" % (mib(x["bytes"]), x["censuses"])
                                         for x in r["host_rss"][::4] + r["host_rss"][-1:]))
    s = r["sampler_last"]
    print("  sampler at the end: %d live samples, %d dropped, %d tracebacks held, %d evicted; "
          "%d strings announced" % (s["live_samples"], s["dropped_samples"], s["traces_total"],
                                    s["evicted_traces"], r["strings_announced"]))
    for k, v in r["verdict"].items():
        print("  %-36s %s" % (k, "yes" if v else "NO"))
    print("soak: %s" % ("flat and bounded" if r["ok"] else "FAILED"))


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("build", nargs="?", default=os.environ.get("LEAKTOP_BUILD",
                                                               os.path.join(REPO, "build")))
    ap.add_argument("--full", action="store_true", help="86,400 censuses: a day at 1 s")
    ap.add_argument("--censuses", type=int, default=None)
    ap.add_argument("--interval", type=float, default=0.01)
    ap.add_argument("--sites", type=int, default=10000)
    ap.add_argument("--sample-bytes", type=int, default=2048)
    ap.add_argument("--python", default=None)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--save", metavar="FILE", help="keep the series: census, agent_bytes, ns")
    ap.add_argument("--analyse", metavar="FILE", help="judge a series kept with --save")
    args = ap.parse_args(argv[1:])
    if args.analyse:
        meta, samples = read_series(args.analyse)
        r = analyse(samples, [], meta.get("strings", 0), meta.get("drops", 0), [],
                    meta.get("wall_s", 0.0), meta.get("interval_s", 0.01), meta.get("sites", 0),
                    meta.get("sample_bytes", 0), meta.get("python", "?"))
        print(json.dumps(r, indent=1) if args.json else "", end="")
        if not args.json:
            print_report(r)
        return 0 if r["ok"] else 1
    censuses = args.censuses or (DAY if args.full else CI_CENSUSES)
    agent_dir = find_agent_dir(args.build)
    if agent_dir is None:
        print("no agent built in %s/agent (meson setup %s && ninja -C %s)"
              % (args.build, args.build, args.build), file=sys.stderr)
        return 1

    def progress(done, total, ab):
        if not args.json:
            print("  ... %d/%d censuses, agent %s" % (done, total, mib(ab)), flush=True)
    try:
        r = run_soak(agent_dir, censuses, args.interval, args.sites, args.sample_bytes,
                     args.python, progress, save=args.save)
    except RuntimeError as e:
        print("soak: %s" % e, file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(r, indent=1))
    else:
        print_report(r)
    return 0 if r["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
