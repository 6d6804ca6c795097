#!/usr/bin/env python3
"""Write the seed corpora of the fuzz targets: tests/fuzz/corpus/<target>/seed-*.

Frames are built by hand from include/leaktop/proto.h (8-byte header: u32 payload length, u16
type, u16 flags; everything little-endian; strings are u32 length + bytes), so the seeds do not
depend on the code they test. Only files named seed-* are written; anything else in a corpus
directory (a crash input kept as a regression) is left alone.

    python3 tests/fuzz/make-corpus.py [--out DIR]
"""

import argparse
import os
import struct

# ---- proto.h ----------------------------------------------------------------------------------

(HELLO, CLIENT_HELLO, STRING, SAMPLE, DROPS, COMMAND, REPLY, BYE, HISTORY_END, TRACE,
 SITES, WHY, MARKER) = range(1, 14)
TYPE_SITES = 15
REC_PROCESS = 16
FLAG_HISTORY = 1
CMD_PING, CMD_GC_COLLECT, CMD_STOP, CMD_GET_TRACE, CMD_WHY_ALIVE, CMD_MARKER = range(1, 7)
CMD_TYPE_SITES = 7
BYE_STOPPED, BYE_EXITING = 1, 2
MAGIC = b"LKTP"
MAJOR, MINOR = 1, 0  # the seeds speak 1.0 unless they say otherwise (1.0 must stay readable)
REC_MAGIC = b"LEAKTOP-REC\n"
REC_VERSION = 2


def frame(ftype, payload, flags=0):
    return struct.pack("<IHH", len(payload), ftype, flags) + payload


def s(text):
    if isinstance(text, str):
        text = text.encode()
    return struct.pack("<I", len(text)) + text


def hello(pid=4242, interval_ms=1000, argv=("app.py", "--serve"), major=MAJOR, minor=MINOR,
          lib=None):
    """lib: the library's path prefixes (1.1); None: a 1.0 hello, which ends after argv."""
    p = MAGIC + struct.pack("<HHIIQI", major, minor, pid, interval_ms, 1700000000000000000, 600)
    p += s("3.11.7") + s("0.1.0") + s("/usr/bin/python3")
    p += struct.pack("<I", len(argv)) + b"".join(s(a) for a in argv)
    if lib is not None:
        p += struct.pack("<I", len(lib)) + b"".join(s(x) for x in lib)
    return frame(HELLO, p)


def client_hello(client="leaktop check 0.1.0", major=MAJOR, minor=MINOR):
    return frame(CLIENT_HELLO, MAGIC + struct.pack("<HH", major, minor) + s(client))


def string(sid, text):
    return frame(STRING, struct.pack("<I", sid) + s(text))


def sample(seq, rows, complete=1, history=False, rss=50 << 20, census=None, cut=0):
    """census: the fields of 1.1 (counts_wall, counts_mono, exact, cpu, span, max_hold, slices,
    restarts, budget_ppm), or None for a 1.0 sample; cut: bytes taken off the payload's end."""
    p = struct.pack("<I", seq)
    # wall, mono, rss, rss_peak, heap, census_ns, tracked, agent_bytes
    p += struct.pack("<8Q", 1700000000000000000 + seq * 10**9, seq * 10**9, rss, rss + 4096,
                     rss // 2, 250000, 12000 + seq, 65536)
    p += struct.pack("<B", 1)  # gc_enabled
    for g in range(3):  # collections, collected, uncollectable per generation
        p += struct.pack("<3Q", 10 * (3 - g) + seq, 5 * g, 0)
    p += struct.pack("<Q", 0)  # gc_garbage
    p += struct.pack("<IBI", len(rows) + (0 if complete else 7), complete, len(rows))
    for name_id, count, nbytes in rows:
        p += struct.pack("<IQQ", name_id, count, nbytes)
    if census is not None:
        p += struct.pack("<QQBQQQIII", *census)
    return frame(SAMPLE, p[:len(p) - cut], FLAG_HISTORY if history else 0)


def drops(n):
    return frame(DROPS, struct.pack("<Q", n))


def command(code, arg=0):
    return frame(COMMAND, struct.pack("<HI", code, arg))


def reply(code, status, value, message):
    return frame(REPLY, struct.pack("<HiQ", code, status, value & (2**64 - 1)) + s(message))


def bye(reason, message):
    return frame(BYE, struct.pack("<B", reason) + s(message))


def history_end():
    return frame(HISTORY_END, b"")


def trace(tid, frames, truncated=0):
    """frames: (file_id, func_id, line), newest first."""
    p = struct.pack("<II", tid, len(frames))
    p += b"".join(struct.pack("<III", *f) for f in frames)
    return frame(TRACE, p + struct.pack("<B", truncated))


def sites(seq, site_rows, line_rows, history=False):
    """site_rows: (trace_id, live_bytes, live_count); line_rows: (file_id, func_id, line,
    trace_id, live_bytes, live_count)."""
    p = struct.pack("<I6QI", seq, 512 << 10, 3 << 20, 2000, 40, 0, 0, len(site_rows))
    p += struct.pack("<I", len(site_rows))
    p += b"".join(struct.pack("<IQQ", *r) for r in site_rows)
    p += struct.pack("<I", len(line_rows))
    p += b"".join(struct.pack("<IIIIQQ", *r) for r in line_rows)
    return frame(SITES, p, FLAG_HISTORY if history else 0)


def why(name_id, hops, found=1, note=""):
    """hops: (text, type) from a root to the instance."""
    p = struct.pack("<IBIIIQ", name_id, found, 3, 1200, 4500, 17) + s(note)
    p += struct.pack("<I", len(hops)) + b"".join(s(t) + s(k) for t, k in hops)
    return frame(WHY, p)


def type_sites(name_id, rows, note="", owned=None):
    """rows: (trace_id, live_bytes, live_count, samples), most bytes first; owned (1.1):
    (instances measured, bytes beyond their shallow size, microseconds), None: a 1.0 answer."""
    p = struct.pack("<IQQQI", name_id, 9000, sum(r[3] for r in rows), 4096, 2500) + s(note)
    p += struct.pack("<I", len(rows)) + b"".join(struct.pack("<IQQI", *r) for r in rows)
    if owned is not None:
        p += struct.pack("<IQI", *owned)
    return frame(TYPE_SITES, p)


def marker(mid, seq, label):
    return frame(MARKER, struct.pack("<IIQ", mid, seq, 1700000000000000000) + s(label))


def rec_process(pid, ppid, role):
    """Recordings only (version 2): the frames after it are pid's stream."""
    return frame(REC_PROCESS, struct.pack("<II", pid, ppid) + s(role))


def session(nsamples=3, history=1, with_sites=False, pid=4242):
    """What an agent sends a viewer: hello, strings, history, live samples (and the
    allocation sites of each, with the tracebacks they name)."""
    out = hello(pid=pid)
    out += string(0, "builtins.dict") + string(1, "builtins.list") + string(2, "app.Node")
    if with_sites:
        out += string(3, "app.py") + string(4, "handle") + string(5, "<module>")
        out += trace(1, [(3, 4, 42), (3, 5, 7)]) + trace(2, [(3, 4, 43)], truncated=1)
    for seq in range(nsamples):
        rows = [(0, 100 + seq, 6400 + 64 * seq), (1, 50, 2800), (2, 10 * seq, 560 * seq)]
        out += sample(seq, rows, complete=1 if seq % 2 == 0 else 0, history=seq < history)
        if with_sites:
            out += sites(seq, [(1, 4096 * (seq + 1), 8 * (seq + 1)), (2, 1024, 2)],
                         [(3, 4, 42, 1, 4096 * (seq + 1), 8), (3, 4, 43, 2, 1024, 2)],
                         history=seq < history)
        if seq + 1 == history:
            out += history_end()
    return out


# ---- fuzz-json-writer's little language (see the comment atop fuzz-json-writer.c) -------------


def j_text(b):
    if isinstance(b, str):
        b = b.encode()
    assert len(b) < 0x1000
    n = bytes([len(b)]) if len(b) < 0xf0 else bytes([0xf0 + (len(b) >> 8), len(b) & 0xff])
    return n + b


def j_obj(*items):
    return b"\x00" + b"".join(b"\x01" + j_text(k) + v for k, v in items) + b"\x00"


def j_arr(*values):
    return b"\x01" + b"".join(b"\x01" + v for v in values) + b"\x00"


def j_str(b):
    return b"\x02" + j_text(b)


J_NULL_STR = b"\x03"
J_NULL = b"\x09"


def j_u64(v):
    return b"\x04" + struct.pack("<Q", v)


def j_i64(v):
    return b"\x05" + struct.pack("<q", v)


def j_dbl(v):
    return b"\x06" + struct.pack("<d", v)


def j_special(i):
    return bytes([7, i])


def j_bool(v):
    return bytes([8, 1 if v else 0])


def j_small(v):
    return bytes([10, v & 0xff])


def json_seeds():
    report = j_obj(
        ("pid", j_u64(4242)),
        ("python", j_str("3.11.7")),
        ("leaking", j_bool(True)),
        ("exit", J_NULL),
        ("message", J_NULL_STR),
        ("types", j_arr(
            j_obj(("name", j_str("builtins.dict")), ("count", j_u64(1234)),
                  ("growth_per_s", j_dbl(12.5)), ("delta", j_i64(-17))),
            j_obj(("name", j_str("app.Node")), ("count", j_u64(0)),
                  ("growth_per_s", j_small(3)), ("delta", j_i64(0))),
        )),
    )
    strings = j_arr(
        j_str('quote " backslash \\ slash /'),
        j_str("\n\t\r\x01\x1f\x7f"),
        j_str("caf\u00e9 \u20ac \U0001F600"),
        j_str(b"\xff\xfe bad \xc0\xaf overlong \xe0\x80\x80 \xed\xa0\x80 surrogate"),
        j_str(b"\xf4\x90\x80\x80 \xf8\x88\x80\x80\x80 cut \xe2\x82"),
        j_str(b"nul\x00hidden"),
        j_str("x" * 300),
    )
    doubles = j_arr(*[j_special(i) for i in range(20)],
                    j_dbl(-0.0), j_dbl(1e300), j_dbl(5e-324), j_dbl(2.5), j_small(-128))
    integers = j_arr(j_u64(0), j_u64(2**64 - 1), j_i64(-2**63), j_i64(2**63 - 1), j_i64(-1))
    deep = b"\x01" * 31 + j_bool(False)  # 31 nested arrays: as deep as the writer tracks
    deeper = (b"\x00\x01\x01k" * 36 + j_u64(7)  # 36 nested objects, past the tracked depth
              + b"\x01\x01k" + J_NULL + b"\x00" * 40)
    keys = j_obj((b"", J_NULL), (b"\xff", j_u64(1)), ('k"\\\n', j_obj()), ("e", j_arr()))
    return {
        "seed-report-compact": b"\x00" + report,
        "seed-report-pretty": b"\x01" + report,
        "seed-strings": b"\x00" + strings,
        "seed-doubles-pretty": b"\x01" + doubles,
        "seed-integers": b"\x00" + integers,
        "seed-deep": b"\x01" + deep,
        "seed-deeper": b"\x00" + deeper,
        "seed-keys": b"\x00" + keys,
        "seed-scalar": b"\x00" + j_str("top-level string"),
    }


# ---- the corpora ------------------------------------------------------------------------------


def frame_decoder_seeds():
    # byte 0: model capacity - 1 (bits 0-3), lenient (bit 4); bytes 1, 2: piece sizes;
    # byte 3: fail the n-th counted allocation (0: none)
    whole = b"\x07\x00\x00\x00"
    full = (session(4, 2) + drops(3) + reply(CMD_PING, 0, 0, "pong")
            + bye(BYE_STOPPED, "leaktop.stop() was called"))
    wrap = session(6, 0)
    # Past the model's first table sizes: 520 tracebacks (rehash at 512), 130 sites and lines
    # (index growth at 128).
    big = hello() + b"".join(trace(i, []) for i in range(520)) + sample(0, [])
    big += sites(0, [(i, 64 * i, i) for i in range(130)],
                 [(1, 2, i, i, 32 * i, i) for i in range(130)])
    return {
        "seed-hello": whole + hello() + history_end(),
        "seed-session": whole + full,
        "seed-bytewise": b"\x07\x01\x01\x00" + full,
        "seed-pieces-7-13": b"\x03\x07\x0d\x00" + full,
        "seed-ring-wrap-cap2": b"\x01\x00\x00\x00" + wrap,
        "seed-unknown-type": whole + hello() + frame(0x77, b"from a newer agent") + session(1),
        "seed-truncated": whole + full[:-5],
        "seed-lenient": b"\x13\x00\x00\x00" + sample(0, []) + hello(major=2) + hello()
                        + string(1 << 20, "too far") + frame(STRING, b"\x01") + session(2),
        "seed-incomplete-trim": whole + hello() + string(7, "builtins.tuple")
                                + sample(9, [(7, 1, 2), (7, 3, 4), (4000, 1, 1)], complete=0),
        "seed-bye-exiting": whole + hello(argv=()) + bye(BYE_EXITING, ""),
        "seed-sites": b"\x02\x00\x00\x00" + session(4, 1, with_sites=True)
                      + sites(99, [(7, 1, 1)], []),  # no SAMPLE 99: ignored
        "seed-big-tables": whole + big,
        "seed-why-marker": whole + session(2) + marker(1, 1, "marker 1 from leaktop tui 0.1.0")
                           + why(2, [("module app", "module"), ("app.cache", "dict"),
                                     ("[0]", "app.Node")])
                           + why(1, [], found=0, note="no instance left")
                           + marker(2, 99, ""),
        "seed-type-sites": whole + session(2, 1, with_sites=True)
                           + type_sites(2, [(1, 4096, 64, 3), (2, 512, 8, 1)])
                           + type_sites(0, [], note="no live instance")
                           + type_sites(2, [(99, 1, 1, 1)])  # a traceback never announced
                           + type_sites(4000, [(1, 8, 1, 1)]),
        # 1.1 samples: counts from a census 30 s and 90 s old, the second not exact; then a
        # 1.1 sample cut inside its new fields (malformed).
        "seed-stale-counts": whole + hello() + string(7, "app.Node")
                             + sample(40, [(7, 5, 320)], census=(
                                 1700000000000000000 + 10 * 10**9, 10 * 10**9, 1, 40000000,
                                 30 * 10**9, 4000000, 90, 1, 10000))
                             + sample(100, [(7, 6, 384)], census=(
                                 1700000000000000000 + 10 * 10**9, 10 * 10**9, 0, 1, 2, 3,
                                 1, 5, 1000000))
                             + sample(101, [(7, 6, 384)], census=(1, 1, 1, 1, 1, 1, 1, 1, 1),
                                      cut=3),
        # 1.1: a hello with the library's paths (one of them the session's own file, so every
        # frame is library's) and TYPE_SITES answers with what the instances own.
        "seed-findings-1-1": whole + hello(minor=1, lib=["/usr/lib/python3.11", "app.py", ""])
                             + session(3, 1, with_sites=True)[len(hello()):]
                             + type_sites(2, [(1, 4096, 64, 3)], owned=(64, 80000 * 64, 900))
                             + type_sites(1, [(2, 512, 8, 1)], owned=(0, 0, 0))
                             + why(2, [("module app", "module"), ("app.cache", "dict"),
                                       ("[0]", "app.Node")]),
        "seed-oom-early": b"\x07\x00\x00\x03" + full,
        "seed-oom-late": b"\x07\x00\x00\x28" + session(4, 1, with_sites=True),
    }


def command_parser_seeds():
    # bytes 0, 1: recv sizes (0: 4096); byte 2: fail the n-th counted allocation (0: none)
    hi = client_hello()
    return {
        "seed-ping": b"\x00\x00\x00" + hi + command(CMD_PING),
        "seed-all-commands": b"\x00\x00\x00" + hi + command(CMD_PING)
                             + command(CMD_GC_COLLECT, 2) + command(CMD_GET_TRACE, 1)
                             + command(CMD_WHY_ALIVE, 3) + command(CMD_MARKER)
                             + command(CMD_STOP) + command(99, 7),
        "seed-type-sites": b"\x00\x00\x00" + hi + command(CMD_TYPE_SITES, 2)
                           + command(CMD_TYPE_SITES, 0xffffffff) + command(CMD_PING),
        "seed-bytewise": b"\x01\x01\x00" + hi + command(CMD_GC_COLLECT) + command(CMD_PING),
        "seed-pieces-3-5": b"\x03\x05\x00" + hi + command(CMD_PING) + command(CMD_STOP),
        "seed-unknown-frame": b"\x00\x00\x00" + hi + frame(0x55, b"newer") + command(CMD_PING),
        "seed-command-before-hello": b"\x00\x00\x00" + command(CMD_PING) + hi,
        "seed-wrong-major": b"\x00\x00\x00" + client_hello(major=2) + command(CMD_PING),
        "seed-not-a-command": b"\x00\x00\x00" + hi + sample(0, []),
        "seed-too-big": b"\x00\x00\x00" + hi + frame(COMMAND, b"\x01\x00" + b"\x00" * 4096),
        "seed-garbage": b"\x00\x00\x00" + b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        "seed-oom": b"\x00\x00\x04" + hi + command(CMD_PING) + command(CMD_PING),
    }


def recording_seeds():
    head = REC_MAGIC + struct.pack("<I", REC_VERSION)
    full = session(5, 2) + drops(1) + bye(BYE_EXITING, "the interpreter is exiting")
    return {
        "seed-session": head + full,
        "seed-header-only": head,
        "seed-cut-short": head + full[:-3],
        "seed-many-samples": head + session(12, 4),
        "seed-sites": head + session(10, 3, with_sites=True),
        "seed-why-marker": head + session(3) + marker(1, 2, "marker 1 from a viewer")
                           + why(0, [("sys.modules", "dict"), ("x", "builtins.dict")]),
        "seed-newer-version": REC_MAGIC + struct.pack("<I", REC_VERSION + 1) + full,
        # Version 1, one process: old recordings replay as ever.
        "seed-v1-session": REC_MAGIC + struct.pack("<I", 1) + full,
        # Version 2: a master and two workers, their streams interleaved as they arrived, one
        # worker ending with BYE and one cut off; a process named twice; an empty role.
        "seed-tree": head + rec_process(4242, 1, "main") + session(2, 1, pid=4242)
                     + rec_process(4301, 4242, "worker") + session(3, 1, pid=4301)
                     + rec_process(4242, 1, "main") + sample(2, [(0, 120, 7000)])
                     + rec_process(4302, 4242, "") + session(2, 0, pid=4302, with_sites=True)
                     + rec_process(4301, 4242, "worker") + bye(BYE_EXITING, "recycled")
                     + rec_process(4242, 1, "main") + sample(3, [(0, 121, 7064)]),
        "seed-tree-unnamed-root": head + session(2, 1) + rec_process(7, 4242, "worker")
                                  + session(2, 1, pid=7) + rec_process(4242, 1, "main")
                                  + sample(2, [(0, 120, 7000)]) + rec_process(0, 0, "bad"),
        "seed-tree-worker-first": head + rec_process(9, 8, "worker") + session(2, 1, pid=9)
                                  + rec_process(8, 1, "main"),
        "seed-not-a-recording": b"LEAKTOP-REX\n" + struct.pack("<I", 1) + full,
    }


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(here, "corpus"),
                    help="directory of the corpora (default: %(default)s)")
    args = ap.parse_args()
    corpora = {
        "fuzz-frame-decoder": frame_decoder_seeds(),
        "fuzz-command-parser": command_parser_seeds(),
        "fuzz-recording-reader": recording_seeds(),
        "fuzz-json-writer": json_seeds(),
    }
    for target, seeds in corpora.items():
        d = os.path.join(args.out, target)
        os.makedirs(d, exist_ok=True)
        for name, data in seeds.items():
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
        print("%s: %d seeds" % (d, len(seeds)))


if __name__ == "__main__":
    main()
