#!/usr/bin/env python3
"""Viewers that never read must not slow the host.

    python3 bench/slow_reader.py [BUILD_DIR] [--rounds 7] [--iterations N] [--clients 4]

BUILD_DIR (or $LEAKTOP_BUILD) is a meson build directory holding agent/leaktop.cpython-*.so;
the default is build-bench at the repository root.

A CPU-bound pure-Python workload (building and dropping dicts, lists and tuples; a fixed
iteration count, calibrated once to about --seconds) is timed in three variants:
  a  no agent
  b  the agent at interval=0.1, no viewer
  c  the agent at interval=0.1 and --clients viewers that connect to leaktop.socket_path(),
     send a valid CLIENT_HELLO, and then never read a byte
Every run is a fresh process; the variants are interleaved (a, b, c, a, b, c, ...). The host
also defines --types classes (one live instance each) so that every sample frame is tens of
kilobytes: the stuck viewers' socket buffers are full before the timed part starts (each c run
waits for that), and the agent queues behind them all through it.

Prints the median time per variant and the ratios b/a and c/a (target: c/a < 1.02).
Exit status: 0 whenever the measurements ran (a missed target is printed, loudly); 1 on errors;
2 on a bad command line. Standard library only; runs on CPython 3.8-3.13.
"""
import argparse
import fcntl
import json
import os
import platform
import socket
import statistics
import struct
import subprocess
import sys
import termios
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from machine_load import say_busy, wait_quiet  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = 1.02
FRAME_CLIENT_HELLO = 2


def workload(iterations):
    """Pure Python, allocation-heavy, no I/O: everything it builds is dropped at once."""
    total = 0
    for i in range(iterations):
        d = {"id": i, "name": "item", "tags": [i, i + 1, i + 2], "pos": (i, -i)}
        items = [d, d["tags"], (d["pos"], i)]
        d["items"] = items
        total += len(items) + len(d) + d["tags"][1]
        if i % 7 == 0:
            s = {i, i + 1}
            total += len(s)
    return total


def client_hello(name=b"bench"):
    payload = b"LKTP" + struct.pack("<HHI", 1, 0, len(name)) + name
    return struct.pack("<IHH", len(payload), FRAME_CLIENT_HELLO, 0) + payload


def queued_bytes(sock):
    """Bytes waiting in this socket's receive queue (FIONREAD)."""
    buf = fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0")
    return struct.unpack("i", buf)[0]


def run_child(args):
    # The same heap in every variant: the classes (and their instances) exist in a and b too.
    classes = [type("T%d" % i, (), {}) for i in range(args.types)]
    instances = [cls() for cls in classes]
    out = {"variant": args.variant, "python": platform.python_version()}
    socks = []
    if args.variant in ("b", "c"):
        sys.path.insert(0, os.path.join(args.build, "agent"))
        import leaktop

        kw = {"interval": 0.1}
        if args.sample_bytes is not None:
            kw["sample_bytes"] = args.sample_bytes
        leaktop.start(**kw)
        sig = getattr(leaktop.start, "__text_signature__", None) or "(...)"
        out["start_doc"] = "start" + " ".join(sig.replace("$module, ", "").split())
        out["start_kw"] = kw
        time.sleep(0.25)  # a couple of censuses: every type name is interned already
    if args.variant == "c":
        path = leaktop.socket_path()
        for _ in range(args.clients):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(path)
            s.sendall(client_hello())
            socks.append(s)
        # Wait until the kernel buffers between the agent and every viewer are full: from then
        # on each frame for them can only be queued in the agent (or dropped).
        deadline = time.monotonic() + 15.0
        last, still = -1, 0
        while time.monotonic() < deadline:
            time.sleep(0.1)
            now = sum(queued_bytes(s) for s in socks)
            still = still + 1 if now == last else 0
            last = now
            if still >= 3:
                break
        out["stuck_bytes_before"] = [queued_bytes(s) for s in socks]
    t0 = time.perf_counter()
    workload(args.iterations)
    out["seconds"] = time.perf_counter() - t0
    if args.variant in ("b", "c"):
        out["agent_running"] = leaktop.is_running()
    if args.variant == "c":
        out["stuck_bytes_after"] = [queued_bytes(s) for s in socks]
    if args.variant in ("b", "c"):
        leaktop.stop()
    for s in socks:
        s.close()
    del instances, classes
    print("RESULT " + json.dumps(out), flush=True)
    return 0


def spawn(args, variant, iterations):
    cmd = [sys.executable, os.path.abspath(__file__), "--child", variant,
           "--iterations", str(iterations), "--clients", str(args.clients),
           "--types", str(args.types), args.build]
    if args.sample_bytes is not None:
        cmd[-1:-1] = ["--sample-bytes", str(args.sample_bytes)]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=300)
    res = [l for l in r.stdout.splitlines() if l.startswith("RESULT ")]
    if r.returncode != 0 or not res:
        raise RuntimeError("variant %s failed (exit %d):\n%s%s" % (variant, r.returncode,
                                                                  r.stdout, r.stderr))
    return json.loads(res[-1][len("RESULT "):])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("build", nargs="?", default=os.environ.get("LEAKTOP_BUILD",
                                                               os.path.join(REPO, "build-bench")))
    ap.add_argument("--rounds", type=int, default=7, help="runs of each variant (default 7)")
    ap.add_argument("--iterations", type=int, default=0,
                    help="workload iterations (default: calibrated to --seconds)")
    ap.add_argument("--seconds", type=float, default=2.0, help="calibration target per run")
    ap.add_argument("--clients", type=int, default=4, help="never-reading viewers in c")
    ap.add_argument("--types", type=int, default=2000, help="extra classes in the host")
    ap.add_argument("--sample-bytes", type=int, default=None,
                    help="pass sample_bytes=N to leaktop.start (0: no allocation sampler); "
                         "default: the agent's own default")
    ap.add_argument("--wait-quiet", type=float, default=0.0, metavar="S",
                    help="before each round, wait up to S seconds for other work on the machine "
                         "to stop (default 0: do not wait)")
    ap.add_argument("--child", choices=("a", "b", "c"), help=argparse.SUPPRESS)
    ap.add_argument("--variant", help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.build = os.path.abspath(args.build)

    if args.child:
        args.variant = args.child
        return run_child(args)

    agent_dir = os.path.join(args.build, "agent")
    suffix = __import__("sysconfig").get_config_var("EXT_SUFFIX")
    if not os.path.exists(os.path.join(agent_dir, "leaktop" + suffix)):
        print("slow_reader.py: no agent for this Python (leaktop%s) in %s; build first:\n"
              "  meson setup build-bench -Dpythons=pyenv -Dbuildtype=release && "
              "ninja -C build-bench" % (suffix, agent_dir), file=sys.stderr)
        return 1

    iterations = args.iterations
    if iterations <= 0:
        n = 200000
        t0 = time.perf_counter()
        workload(n)
        dt = time.perf_counter() - t0
        iterations = max(1000, int(n * args.seconds / dt))
    print("slow-reader benchmark: python %s, build %s, %d CPU(s), %s" % (
        platform.python_version(), args.build, os.cpu_count(), platform.platform()))
    print("workload: %d iterations; agent interval 0.1 s; %d never-reading viewers in c; "
          "%d extra classes in the host" % (iterations, args.clients, args.types))
    sys.stdout.flush()

    say_busy("before")
    times = {"a": [], "b": [], "c": []}
    stuck = []
    t_start = time.time()
    try:
        for r in range(args.rounds):
            wait_quiet(args.wait_quiet)
            line = []
            for v in ("a", "b", "c"):
                res = spawn(args, v, iterations)
                if v in ("b", "c") and not res.get("agent_running"):
                    raise RuntimeError("variant %s: the agent was not running at the end" % v)
                times[v].append(res["seconds"])
                if v == "b" and r == 0:
                    print("  agent: leaktop.%s;\n  called with %s" % (
                        res.get("start_doc", "start(...)"),
                        ", ".join("%s=%s" % kv for kv in sorted(res["start_kw"].items()))))
                if v == "c":
                    stuck.append((res["stuck_bytes_before"], res["stuck_bytes_after"]))
                line.append("%s %.3f s" % (v, res["seconds"]))
            print("  round %d: %s" % (r + 1, ", ".join(line)))
            sys.stdout.flush()
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        print("ERROR: %s" % e, file=sys.stderr)
        return 1

    say_busy("after")
    med = {v: statistics.median(ts) for v, ts in times.items()}
    print()
    print("%-34s %10s %10s %10s %8s" % ("variant", "median s", "min s", "max s", "ratio"))
    print("%-34s %10s %10s %10s %8s" % ("-" * 34, "-" * 10, "-" * 10, "-" * 10, "-" * 8))
    names = {"a": "a  no agent",
             "b": "b  agent, interval 0.1, no viewer",
             "c": "c  agent + %d stuck viewers" % args.clients}
    for v in ("a", "b", "c"):
        print("%-34s %10.3f %10.3f %10.3f %7.3fx" % (names[v], med[v], min(times[v]),
                                                    max(times[v]), med[v] / med["a"]))
    print()
    print("b/a = %.3f   c/a = %.3f   c/b = %.3f   (ratios of the medians; target c/a < %.2f)" % (
        med["b"] / med["a"], med["c"] / med["a"], med["c"] / med["b"], TARGET))
    per_round = {k: statistics.median(times[k[0]][i] / times[k[2]][i]
                                      for i in range(args.rounds)) for k in ("b/a", "c/a", "c/b")}
    print("b/a = %.3f   c/a = %.3f   c/b = %.3f   (medians of the per-round ratios)" % (
        per_round["b/a"], per_round["c/a"], per_round["c/b"]))
    before = [sum(b) for b, _ in stuck]
    after = [sum(a) for _, a in stuck]
    print("bytes stuck in the viewers' receive queues (all %d): %d-%d before the timed part, "
          "%d-%d after" % (args.clients, min(before), max(before), min(after), max(after)))
    print("total time %.0f s" % (time.time() - t_start))
    if med["c"] / med["a"] >= TARGET:
        print()
        print("!" * 78)
        print("!!! TARGET MISSED: c/a = %.3f (target < %.2f)" % (med["c"] / med["a"], TARGET))
        if med["b"] / med["a"] >= TARGET:
            print("!!! (b/a = %.3f already: the census itself, not the stuck viewers)"
                  % (med["b"] / med["a"]))
        print("!" * 78)
    else:
        print("target met: c/a = %.3f < %.2f" % (med["c"] / med["a"], TARGET))
    return 0


if __name__ == "__main__":
    sys.exit(main())
