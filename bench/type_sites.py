#!/usr/bin/env python3
"""What a TYPE_SITES answer costs the host, against the census of the same heap.

    python3 bench/type_sites.py [BUILD_DIR] [--pythons PATH,...] [--objects 1000000]

BUILD_DIR (or $LEAKTOP_BUILD) is a meson build directory holding agent/leaktop.cpython-*.so;
the default is build at the repository root. For every interpreter a child process builds
--objects GC-tracked objects (instances of four user classes, dicts and lists, interleaved),
starts the agent (1 s census, 4 KiB sampling interval) and idles. This script connects to its
socket, takes the census time of 10 SAMPLE frames (census_ns) and asks TYPE_SITES for one of the
classes 10 times (walk_us: how long the GIL was held for the walk and the lookups). Medians.

TYPE_SITES is asked on demand (the TUI's type detail, check's type suspects); the census itself is
unchanged by it. Standard library only.
"""
import argparse
import glob
import os
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEADER = struct.Struct("<IHH")
STRING, SAMPLE, COMMAND, TYPE_SITES = 3, 4, 6, 15
CMD_TYPE_SITES = 7

CHILD = r'''
import os, sys, time, leaktop
class A: pass
class B:
    def __init__(self): self.x = 1
class C: pass
class D: pass
n = int(sys.argv[1])
keep = []
for i in range(n // 6):
    keep.append(A()); keep.append(B()); keep.append({"k": i}); keep.append([i])
    keep.append(C()); keep.append(D())
leaktop.start(interval=1.0, sample_bytes=4096)
print("ready %d" % os.getpid(), flush=True)
time.sleep(3600)
'''


def frames(sock, data):
    while True:
        while len(data) >= HEADER.size:
            n, t, _ = HEADER.unpack_from(data, 0)
            if len(data) < HEADER.size + n:
                break
            yield t, data[HEADER.size:HEADER.size + n]
            data = data[HEADER.size + n:]
        chunk = sock.recv(1 << 20)
        if not chunk:
            return
        data += chunk


def measure(python, agent_dir, nobj):
    run = tempfile.mkdtemp(prefix="lt-bench-")
    os.chmod(run, 0o700)
    env = dict(os.environ, PYTHONPATH=agent_dir, XDG_RUNTIME_DIR=run)
    child = subprocess.Popen([python, "-c", CHILD, str(nobj)], env=env, stdout=subprocess.PIPE)
    try:
        pid = int(child.stdout.readline().split()[1])
        path = os.path.join(run, "leaktop", "%d.sock" % pid)
        while not os.path.exists(path):
            time.sleep(0.05)
        s = socket.socket(socket.AF_UNIX)
        s.connect(path)
        hello = b"LKTP" + struct.pack("<HHI", 1, 0, 5) + b"bench"
        s.sendall(HEADER.pack(len(hello), 2, 0) + hello)
        strings, census, walks, tracked = {}, [], [], 0
        asked = False
        for t, p in frames(s, b""):
            if t == STRING:
                sid, n = struct.unpack_from("<II", p)
                strings[p[8:8 + n].decode()] = sid
            elif t == SAMPLE and len(census) < 10:
                census.append(struct.unpack_from("<Q", p, 4 + 8 * 5)[0] / 1e6)
                tracked = struct.unpack_from("<Q", p, 4 + 8 * 6)[0]
            elif t == TYPE_SITES:
                walks.append(struct.unpack_from("<I", p, 4 + 24)[0] / 1e3)
                asked = False
            if len(census) >= 3 and not asked and len(walks) < 10 and "__main__.B" in strings:
                s.sendall(HEADER.pack(6, COMMAND, 0) +
                          struct.pack("<HI", CMD_TYPE_SITES, strings["__main__.B"]))
                asked = True
            if len(census) >= 10 and len(walks) >= 10:
                break
        s.close()
        return tracked, statistics.median(census), statistics.median(walks)
    finally:
        child.kill()
        child.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build", nargs="?", default=os.environ.get("LEAKTOP_BUILD",
                                                               os.path.join(REPO, "build")))
    ap.add_argument("--pythons", default=sys.executable)
    ap.add_argument("--objects", type=int, default=1000000)
    a = ap.parse_args()
    agent_dir = os.path.join(os.path.abspath(a.build), "agent")
    if not glob.glob(os.path.join(agent_dir, "leaktop.cpython-*.so")):
        sys.exit("no agent in %s" % agent_dir)
    print("%-40s %10s %12s %14s" % ("python", "tracked", "census ms", "type-sites ms"))
    for py in a.pythons.split(","):
        tracked, census, walk = measure(py, agent_dir, a.objects)
        print("%-40s %10d %12.1f %14.1f" % (py, tracked, census, walk))


if __name__ == "__main__":
    main()
