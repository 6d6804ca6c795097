#!/usr/bin/env python3
"""Attach time by route: PEP 768 vs gdb, on a busy and on a sleeping target, side by side.

    python3 bench/attach_times.py [BUILD_DIR] [--pythons PATH,...] [--runs N]

BUILD_DIR (or $LEAKTOP_BUILD) is a meson build directory holding the leaktop binary and
agent/leaktop.cpython-*.so; the default is build at the repository root. --pythons defaults
to every /usr/bin/python3.N there is an agent for.

For every interpreter, target and route, N fresh target processes (default 5) are attached to
with `leaktop check --pid PID --duration 0.1`, the route forced with LEAKTOP_ATTACH_VIA; the
figure is the attach time leaktop itself reports ("loaded one (Python X, ROUTE, S s)"),
median, min and max. Targets:
  busy      the main thread runs a Python loop (sum(range(100)) without end)
  sleeping  the only thread sleeps in time.sleep(600)
Routes: pep768 (3.14+ only; on a sleeping target it cannot work alone, so it is measured as
the default route, PEP 768 then gdb's helper thread) and gdb. The last column is gdb's median
over the other route's.

Exit status: 0 when the measurements ran, 1 on errors (no build, an attach failed), 2 on a bad
command line. Standard library only.
"""
import argparse
import glob
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

LOADED = re.compile(r"loaded one \(Python [0-9.]+, ([^,)]+(?:, another thread)?), ([0-9.]+) s\)")
TARGETS = {
    "busy": "import os, sys; print(os.getpid(), flush=True)\nwhile True: sum(range(100))\n",
    "sleeping": "import os, sys, time; print(os.getpid(), flush=True); time.sleep(600)\n",
}


def version_of(python):
    out = subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def attach_once(leaktop, env, python, target, via):
    """One fresh target, one attach; (route, seconds)."""
    p = subprocess.Popen([python, "-c", TARGETS[target]], stdout=subprocess.PIPE, env=env,
                         stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        pid = int(p.stdout.readline())
        if target == "sleeping":  # in its sleep, not still starting up
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                with open("/proc/%d/task/%d/syscall" % (pid, pid)) as f:
                    if f.read()[:1].isdigit():
                        break
                time.sleep(0.01)
        else:
            time.sleep(0.2)
        e = dict(env)
        if via:
            e["LEAKTOP_ATTACH_VIA"] = via
        r = subprocess.run([leaktop, "check", "--pid", str(pid), "--duration", "0.1"], env=e,
                           capture_output=True, text=True, timeout=120)
        m = LOADED.search(r.stderr)
        if m is None:
            raise RuntimeError("attach to %s (%s, %s) failed: %s" % (python, target, via,
                                                                    r.stderr.strip()))
        return m.group(1), float(m.group(2))
    finally:
        p.kill()
        p.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("build", nargs="?", default=os.environ.get("LEAKTOP_BUILD"))
    ap.add_argument("--pythons", default="")
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    build = a.build or os.path.join(root, "build")
    leaktop = os.path.join(build, "leaktop")
    agents = glob.glob(os.path.join(build, "agent", "leaktop.cpython-*.so"))
    if not os.access(leaktop, os.X_OK) or not agents:
        print("no leaktop build with agents in %s" % build, file=sys.stderr)
        return 1
    pythons = [p for p in a.pythons.split(",") if p]
    if not pythons:
        built = {re.search(r"cpython-3(\d+)", os.path.basename(x)).group(1) for x in agents}
        pythons = sorted(p for p in glob.glob("/usr/bin/python3.*")
                         if re.fullmatch(r"python3\.(\d+)", os.path.basename(p))
                         and os.path.basename(p)[8:] in built)
    if not pythons or a.runs < 1:
        print("no interpreter to measure (--pythons), or --runs < 1", file=sys.stderr)
        return 2
    runtime = tempfile.mkdtemp(prefix="leaktop-bench-")
    os.chmod(runtime, 0o700)
    env = dict(os.environ, XDG_RUNTIME_DIR=runtime, LEAKTOP_AGENT_DIR=os.path.join(build, "agent"))
    print("%-8s %-9s %-34s %-34s %s" % ("python", "target", "PEP 768 route: median (min-max)",
                                        "gdb: median (min-max)", "gdb/PEP 768"))
    try:
        for python in pythons:
            version = version_of(python)
            new = tuple(int(x) for x in version.split(".")) >= (3, 14)
            for target in ("busy", "sleeping"):
                row = {}
                for via in (("pep768" if target == "busy" else "", "gdb") if new else ("gdb",)):
                    got = [attach_once(leaktop, env, python, target, via) for _ in range(a.runs)]
                    secs = [s for _, s in got]
                    routes = sorted({r for r, _ in got})
                    row[via or "pep768"] = "%.2f s (%.2f-%.2f) %s" % (
                        statistics.median(secs), min(secs), max(secs), "/".join(routes))
                    row[(via or "pep768") + "_median"] = statistics.median(secs)
                ratio = ("%.1fx" % (row["gdb_median"] / row["pep768_median"])
                         if "pep768_median" in row and row["pep768_median"] > 0 else "-")
                print("%-8s %-9s %-34s %-34s %s" % (version, target, row.get("pep768", "-"),
                                                    row["gdb"], ratio), flush=True)
    except RuntimeError as e:
        print(e, file=sys.stderr)
        return 1
    finally:
        subprocess.run(["rm", "-rf", runtime])
    return 0


if __name__ == "__main__":
    sys.exit(main())
