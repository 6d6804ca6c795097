"""Faults, and what each must leave unharmed: the host's work and output, other viewers, and
every frame already recorded.

Each test drives real processes (a Python host with the agent, the leaktop binary, raw socket
clients) into one fault: viewers that never read or dribble, a flood of connections, a viewer
or the host killed with SIGKILL, a disk that fills up, damaged recordings, a socket path that
cannot exist, a forked worker pool, threads allocating through a hundred start/stop cycles.
"""
import hashlib
import json
import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (FRAME_DROPS, FRAME_HELLO, FRAME_HISTORY_END,  # noqa: E402
                     FRAME_SAMPLE, LEAKTOP, PYTHONS, LeaktopTestCase, client_hello,
                     split_frames)

# The host: starts the agent with the options in argv[4] (JSON), defines argv[3] classes with
# one live instance each (so that every SAMPLE is large: 20 bytes a type), holds exactly 777
# Fixed objects, and prints argv[1] numbered lines with a digest of the line number, one every
# argv[2] seconds, then "done running=...". Its output proves its work went on intact.
HOST = r'''
import hashlib, json, os, sys, time
import leaktop
lines, step, ntypes = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
leaktop.start(**json.loads(sys.argv[4]))
kinds = [type("Kind%05d" % i, (), {}) for i in range(ntypes)]
one_each = [k() for k in kinds]
class Fixed(object):
    pass
fixed = [Fixed() for _ in range(777)]
print("ready %d" % os.getpid(), flush=True)
for i in range(lines):
    print("line %d %s" % (i, hashlib.sha256(b"%d" % i).hexdigest()[:12]), flush=True)
    time.sleep(step)
print("done running=%s" % leaktop.is_running(), flush=True)
'''


def expected_lines(n):
    return ["line %d %s" % (i, hashlib.sha256(b"%d" % i).hexdigest()[:12]) for i in range(n)]


def sample_seq(payload):
    return struct.unpack_from("<I", payload, 0)[0]


def sample_wall(payload):
    return struct.unpack_from("<Q", payload, 4)[0] / 1e9


def live_samples(frames):
    """The live SAMPLE payloads (after HISTORY_END, without the HISTORY flag)."""
    out, live = [], False
    for t, f, p in frames:
        if t == FRAME_HISTORY_END:
            live = True
        elif t == FRAME_SAMPLE and live and not f & 1:
            out.append(p)
    return out


def missing(seqs):
    """How many sequence numbers are absent between the first and the last."""
    return (seqs[-1] - seqs[0] + 1) - len(seqs) if seqs else 0


def read_recording(path):
    """(frames, trailing bytes that form no whole frame) of a recording; asserts its header."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:12] == b"LEAKTOP-REC\n", "no recording header in %s" % path
    frames, rest = split_frames(data[16:])
    return frames, rest, data


def socket_fds(pid):
    n = 0
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            if os.readlink("/proc/%d/fd/%s" % (pid, fd)).startswith("socket:"):
                n += 1
        except OSError:
            pass
    return n


def ignore_sigxfsz():
    """A preexec_fn: the recorder then sees EFBIG from write() where a full disk says ENOSPC."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


class FaultTest(LeaktopTestCase):
    def in_tmux(self, command, width=120, height=30):
        """Run a shell command in a new tmux server of its own; returns screen() -> its text.
        The shell stays after the command, and its exit status shows as EXIT=N."""
        name = "leaktop-faults-%d-%d" % (os.getpid(), len(os.listdir(self.tmp)))
        tmux = lambda *a: subprocess.run(["tmux", "-L", name] + list(a),  # noqa: E731
                                         capture_output=True, text=True)
        self.addCleanup(tmux, "kill-server")
        tmux("-f", "/dev/null", "new-session", "-d", "-s", "main", "-x", str(width), "-y",
             str(height), "env TERM=xterm-256color LANG=C.UTF-8 XDG_RUNTIME_DIR='%s' %s; "
             "echo EXIT=$?; sleep 600" % (self.runtime, command))

        def screen():
            return tmux("capture-pane", "-p", "-t", "main").stdout

        def keys(*names):
            for k in names:
                tmux("send-keys", "-t", "main", k)
                time.sleep(0.1)
        screen.keys = keys
        return screen

    def wait_screen(self, screen, pattern, timeout=20.0):
        deadline = time.monotonic() + timeout
        while True:
            text = screen()
            m = re.search(pattern, text)
            if m:
                return m
            if time.monotonic() > deadline:
                self.fail("the screen never showed %r; last screen:\n%s" % (pattern, text))
            time.sleep(0.1)

    def host(self, lines=100000, step=0.01, ntypes=0, python=None, **opts):
        opts.setdefault("interval", 0.05)
        prog = self.write("host.py", HOST)
        p = self.spawn([python or PYTHONS[0], prog, str(lines), str(step), str(ntypes),
                        json.dumps(opts)], env=self.agent_env())
        pid = int(self.wait_line(p, "ready").split()[1])
        return p, pid

    def finish_host(self, p, lines):
        """Wait for the host to end by itself; assert its output is whole and the agent ran."""
        out, err = p.communicate(timeout=120)
        self.assertEqual(p.returncode, 0, err.decode()[-3000:])
        got = out.decode().splitlines()
        self.assertEqual(got[-1], "done running=True")
        self.assertEqual([l for l in got if l.startswith("line ")], expected_lines(lines))

    def record(self, pid, name, *extra):
        path = os.path.join(self.tmp, name)
        p = self.spawn([LEAKTOP, "record", "-o", path, "--pid", str(pid)] + list(extra))
        return p, path

    def assert_recording_whole(self, path):
        """Every live sample is there (no sequence number missing), no DROPS, no torn frame."""
        frames, rest, _ = read_recording(path)
        self.assertEqual(rest, 0, "%s ends in a partial frame" % path)
        types = [t for t, _, _ in frames]
        self.assertEqual(types[0], FRAME_HELLO)
        self.assertNotIn(FRAME_DROPS, types, "a viewer that kept up lost frames")
        seqs = [sample_seq(p) for p in live_samples(frames)]
        self.assertGreater(len(seqs), 3)
        self.assertEqual(missing(seqs), 0, "live samples missing from %s" % path)
        return frames, seqs

    # -- viewers that do not read, or barely write ----------------------------------------

    def test_viewer_that_never_reads(self):
        # Large samples (2,000 types, ~40 kB each, 20 a second: under 1 MB/s, so the recorder
        # that keeps up still does when a busy machine deschedules it for seconds; its queue
        # holds 4 MiB). The stuck viewer reads nothing until the recorder has been sent more
        # than one client's queue can hold (LT_CLIENT_SOFT_MAX, 4 MiB, plus the sockets'
        # buffers), so that the stuck viewer's queue must have overflowed by then; then it
        # catches up while the host still runs. A budget of a whole core: no census is put off.
        lines = 1500
        p, pid = self.host(lines=lines, step=0.01, ntypes=2000, interval=0.05, sample_bytes=0,
                           budget=1.0)
        rec, rec_path = self.record(pid, "good.lktp")
        stuck = self.connect(pid)
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)

        def recorded():
            try:
                return os.path.getsize(rec_path)
            except FileNotFoundError:
                return 0
        start, deadline = recorded(), time.monotonic() + 60
        while recorded() - start < (5 << 20):
            self.assertIsNone(p.poll(), "the host ended before the stuck viewer's queue was full")
            self.assertLess(time.monotonic(), deadline, "the recorder was sent under 5 MiB in 60 s")
            time.sleep(0.1)
        # Catch up while the host still runs, to its goodbye at exit.
        data = bytearray()
        stuck.settimeout(60)
        while True:
            chunk = stuck.recv(1 << 20)
            if not chunk:
                break
            data += chunk
        frames, rest = split_frames(bytes(data))
        self.finish_host(p, lines)
        drops = [struct.unpack_from("<Q", pl, 0)[0] for t, _, pl in frames if t == FRAME_DROPS]
        self.assertTrue(drops, "the stuck viewer was never told it missed frames")
        self.assertGreater(drops[-1], 0)
        self.assertEqual(drops, sorted(drops))
        seqs = [sample_seq(pl) for pl in live_samples(frames)]
        self.assertEqual(seqs, sorted(set(seqs)))
        # Every missing sample is counted, and nothing else is missing.
        self.assertEqual(missing(seqs), drops[-1], (seqs[:5], drops))
        # The viewer that kept up got every sample.
        self.assertEqual(rec.wait(timeout=60), 0, rec.stderr.read())
        _, good = self.assert_recording_whole(rec_path)
        self.assertGreaterEqual(good[-1], seqs[-1])

    def test_viewer_sending_one_byte_a_second(self):
        lines = 400
        p, pid = self.host(lines=lines, step=0.015, interval=0.05)
        rec, rec_path = self.record(pid, "good.lktp")
        hello = client_hello()
        slow = []
        for _ in range(8):
            s = self.connect(pid, hello=False)
            slow.append([s, 0, None, b""])  # socket, bytes sent, when closed, bytes received
        t0 = time.monotonic()
        while any(c[2] is None for c in slow) and time.monotonic() - t0 < 15:
            for c in slow:
                if c[2] is not None:
                    continue
                try:
                    c[0].send(hello[c[1]:c[1] + 1])
                    c[1] += 1
                    c[0].settimeout(0.05)
                    while True:
                        chunk = c[0].recv(65536)
                        if not chunk:
                            c[2] = time.monotonic() - t0
                            break
                        c[3] += chunk
                except socket.timeout:
                    pass
                except OSError:
                    c[2] = time.monotonic() - t0
            time.sleep(1.0)
        for s, sent, closed, got in slow:
            self.assertIsNotNone(closed, "a viewer dribbling its hello was never dropped")
            self.assertLess(sent, len(hello))
            self.assertLess(closed, 6.0, "dropped only after %.1f s (the limit is 2 s)" % closed)
        # A real viewer is served meanwhile and afterwards, and the host's work is intact.
        report, _ = self.check_json("--pid", str(pid), "--duration", "1")
        self.assertEqual({t["name"]: t["count"] for t in report["types"]}["__main__.Fixed"], 777)
        self.finish_host(p, lines)
        self.assertEqual(rec.wait(timeout=60), 0, rec.stderr.read())
        self.assert_recording_whole(rec_path)

    def test_256_connections_at_once(self):
        lines = 500
        p, pid = self.host(lines=lines, step=0.01, interval=0.05)
        base = socket_fds(pid)
        socks = []
        for i in range(256):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.addCleanup(s.close)
            s.setblocking(False)
            try:
                s.connect(self.socket_path(pid))
            except BlockingIOError:
                pass
            socks.append(s)
        for i, s in enumerate(socks):
            if i % 4:
                try:
                    s.send(client_hello())
                except OSError:
                    pass  # already evicted to make room: that is the point
        # Until the agent has taken every one from its listen queue (on a busy machine that
        # takes a while; a viewer connecting meanwhile could be the one evicted to make room):
        # each is then readable, its greeting queued at accept or its end after eviction (or
        # hung up, never queued).
        poller = select.poll()
        for s in socks:
            poller.register(s, select.POLLIN | select.POLLHUP | select.POLLERR)
        self.wait_for(lambda: len(poller.poll(0)) == len(socks), timeout=60,
                      what="the agent to answer all 256")
        # The agent holds at most max_clients (64) of them; the rest were closed.
        self.assertLessEqual(socket_fds(pid) - base, 64)
        report, r = self.check_json("--pid", str(pid), "--duration", "1")
        self.assertEqual({t["name"]: t["count"] for t in report["types"]}["__main__.Fixed"], 777)
        for s in socks:
            s.close()
        self.wait_for(lambda: socket_fds(pid) == base, what="the agent to close all 256")
        report, r = self.check_json("--pid", str(pid), "--duration", "1")
        self.assertEqual(report["pid"], pid)
        self.finish_host(p, lines)

    # -- SIGKILL on either side -------------------------------------------------------------

    @unittest.skipUnless(shutil.which("tmux"), "needs tmux")
    def test_tui_killed_mid_frame(self):
        p, pid = self.host(ntypes=3000, interval=0.05)
        base = socket_fds(pid)
        pidfile = os.path.join(self.tmp, "tui.pid")
        screen = self.in_tmux("sh -c 'echo $$ > %s; exec %s %d'" % (pidfile, LEAKTOP, pid))
        self.wait_screen(screen, r"leaktop pid %d" % pid)
        screen.keys("2")
        self.wait_screen(screen, r"Kind\d+")
        with open(pidfile) as f:
            tui = int(f.read())
        self.assertEqual(socket_fds(pid), base + 1)
        time.sleep(0.3)   # frames are streaming: 3,000 types every 50 ms
        os.kill(tui, signal.SIGKILL)
        self.wait_screen(screen, r"EXIT=137")
        # The agent notices: the dead viewer's connection is closed.
        self.wait_for(lambda: socket_fds(pid) == base, timeout=10,
                      what="the agent to close the dead viewer's socket")
        self.assertIsNone(p.poll(), "the host died with its viewer")
        report, _ = self.check_json("--pid", str(pid), "--duration", "1")
        self.assertEqual({t["name"]: t["count"] for t in report["types"]}["__main__.Fixed"], 777)
        before = self.wait_line(p, "line ")
        time.sleep(0.3)
        self.assertNotEqual(self.wait_line(p, "line "), before)

    def test_host_killed_while_two_viewers_record(self):
        p, pid = self.host(interval=0.05)
        recs = [self.record(pid, "rec%d.lktp" % i) for i in range(2)]
        # Both have their history and some live samples.
        for _, path in recs:
            self.wait_for(lambda path=path: os.path.exists(path) and
                          len(live_samples(read_recording(path)[0])) >= 10,
                          what="live samples in %s" % path)
        killed_at = time.time()
        os.kill(pid, signal.SIGKILL)
        p.wait()
        t0 = time.monotonic()
        lasts = []
        for rec, path in recs:
            rc = rec.wait(timeout=15)
            err = rec.stderr.read().decode()
            self.assertLess(time.monotonic() - t0, 10, "a recorder hung after the host died")
            if rc == 0:
                self.assertRegex(err, r"recorded \d+ frames .*connection was lost|exited")
            else:
                self.assertEqual(rc, 2, err)
                self.assertEqual(len(err.strip().splitlines()), 1, err)
            frames, seqs = self.assert_recording_whole(path)
            last = live_samples(frames)[-1]
            # Complete up to the kill: the last sample is from its last interval or two.
            self.assertGreater(sample_wall(last), killed_at - 1.0)
            lasts.append(seqs[-1])
        self.assertLessEqual(abs(lasts[0] - lasts[1]), 1)
        # And it replays, to its last sample.
        frames, _, _ = read_recording(recs[0][1])
        self.replay_shows(recs[0][1], r"sample \d+/\d+",
                          sum(1 for t, _, _ in frames if t == FRAME_SAMPLE))

    # -- the disk fills up while recording ----------------------------------------------------

    def test_recording_to_a_full_disk(self):
        p, pid = self.host(interval=0.05)
        r = self.leaktop("record", "-o", "/dev/full", "--duration", "2", "--pid", str(pid))
        self.assertEqual(r.returncode, 2)
        lines = r.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertIn("No space left on device", lines[0])
        self.assertIsNone(p.poll(), "the host must outlive a failed recorder")

    def test_disk_fills_up_mid_recording(self):
        # A 60 kB file-size limit, with SIGXFSZ ignored: write() fails with EFBIG part way, as
        # it fails with ENOSPC on a full disk.
        p, pid = self.host(ntypes=200, interval=0.05)
        out = os.path.join(self.tmp, "full.lktp")
        r = subprocess.run(["prlimit", "--fsize=60000", LEAKTOP, "record", "-o", out,
                            "--duration", "3", "--pid", str(pid)], env=self.env,
                           capture_output=True, text=True, timeout=60,
                           preexec_fn=ignore_sigxfsz)
        self.assertEqual(r.returncode, 2, r.stderr)
        lines = r.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertIn("File too large", lines[0])
        self.assertIn("replayable", lines[0])
        self.assertEqual(os.path.getsize(out), 60000)
        frames, rest, _ = read_recording(out)
        self.assertEqual(frames[0][0], FRAME_HELLO)
        samples = [pl for t, _, pl in frames if t == FRAME_SAMPLE]
        self.assertGreater(len(samples), 0)
        self.assertIsNone(p.poll())
        # Replay shows every whole frame, and where the partial one begins (unless the limit
        # fell exactly between two frames, one chance in thousands).
        whole = 16 + sum(8 + len(pl) for _, _, pl in frames)
        self.replay_shows(out, r"truncated at byte %d" % whole if rest else r"sample \d+/\d+",
                          len(samples))

    def test_recorder_stops_when_the_disk_is_full(self):
        # tui/record.c tap() only notes the error; the watch runs on until --duration or the
        # host's exit, writing nothing. It should stop at once and say so.
        p, pid = self.host(interval=0.05)
        out = os.path.join(self.tmp, "full.lktp")
        t0 = time.monotonic()
        r = subprocess.run(["prlimit", "--fsize=30000", LEAKTOP, "record", "-o", out,
                            "--duration", "12", "--pid", str(pid)], env=self.env,
                           capture_output=True, text=True, timeout=60,
                           preexec_fn=ignore_sigxfsz)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertLess(time.monotonic() - t0, 6, "the recorder stayed for its whole duration")

    def test_file_size_limit_while_recording(self):
        # With `ulimit -f` (RLIMIT_FSIZE) and SIGXFSZ at its default, the recorder is killed by
        # the signal at the limit: no message, and a program it launched is left running.
        prog = self.write("host.py", HOST)
        out = os.path.join(self.tmp, "limited.lktp")
        # Files, not pipes: a program left running would hold a pipe open.
        with open(os.path.join(self.tmp, "err"), "w+") as err:
            rec = self.spawn(["prlimit", "--fsize=30000", LEAKTOP, "record", "-o", out,
                              "--duration", "5", "--interval", "0.05", "--", PYTHONS[0], prog,
                              "100000", "0.01", "100", "{}"], stdout=subprocess.DEVNULL,
                             stderr=err)
            rc = rec.wait(timeout=60)
            left = subprocess.run(["pgrep", "-f", prog], capture_output=True, text=True).stdout
            subprocess.run(["pkill", "-KILL", "-f", prog])
            err.seek(0)
            text = err.read()
        self.assertEqual(left.strip(), "", "the launched program was left running")
        self.assertEqual(rc, 2, "exit %d: %s" % (rc, text))
        self.assertIn("File too large", text)

    # -- damaged recordings ------------------------------------------------------------------

    def make_recording(self):
        p, pid = self.host(ntypes=50, interval=0.05)
        path = os.path.join(self.tmp, "rec.lktp")
        r = self.leaktop("record", "-o", path, "--duration", "2", "--pid", str(pid))
        self.assertEqual(r.returncode, 0, r.stderr)
        frames, rest, data = read_recording(path)
        self.assertEqual(rest, 0)
        offsets, off = [], 16
        for t, f, pl in frames:
            offsets.append(off)
            off += 8 + len(pl)
        return frames, offsets, bytearray(data)

    def replay_shows(self, path, stop_pattern, samples):
        """`leaktop replay` in tmux: it opens, shows `samples` samples, and says where the
        recording stops; q quits with 0."""
        if not shutil.which("tmux"):
            return
        screen = self.in_tmux("%s replay %s" % (LEAKTOP, path))
        self.wait_screen(screen, stop_pattern)
        self.assertIn("sample %d/%d" % (samples, samples), screen())
        screen.keys("q")
        self.wait_screen(screen, r"EXIT=0")

    def test_corrupted_frame_in_the_middle(self):
        frames, offsets, data = self.make_recording()
        idx = [i for i, (t, f, _) in enumerate(frames) if t == FRAME_SAMPLE]
        mid = idx[len(idx) // 2]
        before = sum(1 for i in idx if i < mid)
        # The SAMPLE's row count (payload byte 154) now promises far more rows than follow.
        bad = bytearray(data)
        struct.pack_into("<I", bad, offsets[mid] + 8 + 154, 0x7FFFFFFF)
        path = os.path.join(self.tmp, "corrupt.lktp")
        with open(path, "wb") as f:
            f.write(bad)
        self.replay_shows(path, r"corrupted at byte %d \(a malformed sample frame\)"
                          % offsets[mid], before)
        # Bytes flipped all over another frame's payload: whatever it decodes to, replay shows
        # it or stops there, and never crashes.
        noisy = bytearray(data)
        victim = idx[len(idx) // 3]
        for k in range(8, 8 + len(frames[victim][2]), 7):
            noisy[offsets[victim] + k] ^= 0xA5
        path = os.path.join(self.tmp, "noisy.lktp")
        with open(path, "wb") as f:
            f.write(noisy)
        self.replay_survives(path)

    def replay_survives(self, path):
        """`leaktop replay` of a damaged recording opens (or refuses in one line), takes keys,
        and ends cleanly."""
        if not shutil.which("tmux"):
            return
        screen = self.in_tmux("%s replay %s" % (LEAKTOP, path))
        self.wait_screen(screen, r"sample \d+/\d+|EXIT=")
        screen.keys("[", ".", ".", "2", "Tab", "Tab", "]", "q")
        m = self.wait_screen(screen, r"EXIT=(\d+)")
        self.assertIn(m.group(1), ("0", "2"), screen())

    def test_oversized_length_in_the_middle(self):
        frames, offsets, data = self.make_recording()
        idx = [i for i, (t, f, _) in enumerate(frames) if t == FRAME_SAMPLE]
        mid = idx[len(idx) // 2]
        bad = bytearray(data)
        struct.pack_into("<I", bad, offsets[mid], 0xFFFFFF00)
        path = os.path.join(self.tmp, "oversized.lktp")
        with open(path, "wb") as f:
            f.write(bad)
        self.replay_shows(path, r"corrupted at byte %d \(a frame of %d bytes\)"
                          % (offsets[mid], 0xFFFFFF00), sum(1 for i in idx if i < mid))

    # -- a socket path that cannot exist ------------------------------------------------------

    def test_socket_path_too_long(self):
        xdg = self.tmp + "/" + "x" * (120 - len(self.tmp) - 1)
        self.assertEqual(len(xdg), 120)
        os.mkdir(xdg, 0o700)
        prog = self.write("start.py", r'''
import leaktop
try:
    leaktop.start()
except RuntimeError as e:
    print("RuntimeError:", e)
else:
    print("started", leaktop.socket_path())
''')
        r = subprocess.run([PYTHONS[0], prog], env=self.agent_env(XDG_RUNTIME_DIR=xdg),
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"^RuntimeError: leaktop: socket path .* is longer than the "
                                   r"\d+ bytes a Unix socket allows; set XDG_RUNTIME_DIR")
        quiet = self.write("quiet.py", "import time\ntime.sleep(3)\n")
        env = dict(self.env, XDG_RUNTIME_DIR=xdg)
        for argv in (["check", "--duration", "2", "--", PYTHONS[0], quiet],
                     ["record", "-o", os.path.join(self.tmp, "x.lktp"), "--duration", "2", "--",
                      PYTHONS[0], quiet]):
            with self.subTest(argv=argv[0]):
                r = self.leaktop(*argv, env=env)
                self.assertEqual(r.returncode, 2, r.stderr)
                lines = r.stderr.strip().splitlines()
                self.assertEqual(len(lines), 1, r.stderr)
                self.assertIn("longer than", lines[0])
                self.assertIn("XDG_RUNTIME_DIR", lines[0])

    # -- what the agent exposes, and hostile names ------------------------------------------

    def test_agent_has_no_network_socket(self):
        # Contracts: never a TCP port. Every socket the host holds is a Unix socket.
        p, pid = self.host(interval=0.05)
        s = self.connect(pid)
        self.read_frames_until(s, FRAME_HISTORY_END)
        inodes = set()
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            except OSError:
                continue
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
        self.assertGreaterEqual(len(inodes), 2)  # the listener and our connection
        for table in ("tcp", "tcp6", "udp", "udp6", "raw", "raw6"):
            try:
                with open("/proc/%d/net/%s" % (pid, table)) as f:
                    rows = [l.split() for l in f.readlines()[1:]]
            except OSError:
                continue
            self.assertFalse(inodes & {r[9] for r in rows if len(r) > 9},
                             "the host holds a %s socket" % table)
        with open("/proc/%d/net/unix" % pid) as f:
            unix = f.read()
        self.assertIn(self.socket_path(pid), unix)

    # A type whose name carries terminal control sequences (a window-title change and a colour),
    # as a program that names classes after its input could make.
    HOSTILE = r'''
import os, time, leaktop
leaktop.start(interval=0.1)
Evil = type("Evil\x1b]2;pwned\x07\x1b[31mRED", (), {})
held = [Evil() for _ in range(500)]
print("ready %d" % os.getpid(), flush=True)
time.sleep(60)
'''

    def test_json_report_escapes_control_characters(self):
        prog = self.write("hostile.py", self.HOSTILE)
        p = self.spawn([PYTHONS[0], prog], env=self.agent_env())
        pid = int(self.wait_line(p, "ready").split()[1])
        r = self.leaktop("check", "--json", "--duration", "1", "--pid", str(pid))
        self.assertIn(r.returncode, (0, 1), r.stderr)
        self.assertNotIn("\x1b", r.stdout)
        self.assertNotIn("\x07", r.stdout)
        names = {t["name"] for t in json.loads(r.stdout)["types"]}
        self.assertIn("__main__.Evil\x1b]2;pwned\x07\x1b[31mRED", names)

    def test_text_report_neutralises_control_characters(self):
        # `leaktop check` without --json prints type names, file and function names and the
        # referrer chains (with dict keys when the program opted in with show_keys): text the
        # watched program chose, which must not reach the operator's terminal as escapes.
        prog = self.write("hostile.py", self.HOSTILE)
        p = self.spawn([PYTHONS[0], prog], env=self.agent_env())
        pid = int(self.wait_line(p, "ready").split()[1])
        r = self.leaktop("check", "--duration", "1", "--pid", str(pid))
        self.assertIn(r.returncode, (0, 1), r.stderr)
        self.assertIn("Evil", r.stdout)
        self.assertNotIn("\x1b", r.stdout, "raw ESC from the watched program in the report")
        self.assertNotIn("\x07", r.stdout)

    # -- fork and threads ----------------------------------------------------------------

    def test_forked_pool_every_worker_watchable(self):
        prog = self.write("pool.py", r'''
import multiprocessing as mp, os, sys, time, warnings
warnings.simplefilter("ignore", DeprecationWarning)   # 3.12+: fork with threads running
import leaktop
leaktop.start(interval=0.1)
class Work(object):
    pass
barrier = None
def init(b):
    global barrier, held
    barrier = b
    held = [Work() for _ in range(300)]
def whoami(_):
    barrier.wait(30)   # eight tasks at once: eight distinct workers
    return os.getpid()
if __name__ == "__main__":
    ctx = mp.get_context("fork")
    b = ctx.Barrier(8)
    with ctx.Pool(8, initializer=init, initargs=(b,)) as pool:
        pids = pool.map(whoami, range(8), chunksize=1)
        print("workers " + " ".join(map(str, sorted(set(pids)))), flush=True)
        time.sleep(float(sys.argv[1]))
''')
        p = self.spawn([PYTHONS[0], prog, "60"], env=self.agent_env())
        workers = [int(w) for w in self.wait_line(p, "workers", timeout=60).split()[1:]]
        self.assertEqual(len(workers), 8)
        # Every type in the report (--top): 300 small Work objects can rank below the default
        # 50 rows by bytes in a worker of a newer Python.
        checks = [(w, subprocess.Popen([LEAKTOP, "check", "--json", "--duration", "1",
                                        "--top", "100000", "--pid", str(w)], env=self.env,
                                       stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, text=True)) for w in workers]
        for w, c in checks:
            out, err = c.communicate(timeout=60)
            with self.subTest(worker=w):
                self.assertIn(c.returncode, (0, 1), err)
                report = json.loads(out)
                self.assertEqual(report["pid"], w)
                counts = {t["name"]: t["count"] for t in report["types"]}
                # The worker's agent starts at the fork, before the initializer makes the Work
                # objects, and its next census keeps to the budget: on a loaded machine it may
                # complete after a 1 s watch. Watched again until it has (bounded).
                deadline = time.monotonic() + 45
                while counts.get("__main__.Work") is None and time.monotonic() < deadline:
                    again, _ = self.check_json("--pid", str(w), "--duration", "1")
                    counts = {t["name"]: t["count"] for t in again["types"]}
                self.assertEqual(counts.get("__main__.Work"), 300)
                self.assertTrue(os.path.exists(self.socket_path(w)))
        report, _ = self.check_json("--pid", str(p.pid), "--duration", "1")
        self.assertNotIn("__main__.Work", {t["name"] for t in report["types"]})
        self.assertIsNone(p.poll())

    def test_threads_allocating_through_start_stop_cycles(self):
        # 32 threads build and check small containers while the main thread starts and stops
        # the agent (the allocator hooks go in and out) 100 times, with a different sampling
        # interval and frame limit each time; then a viewer is served. What this adds to
        # test_sampler_stress.test_threads_while_start_stop_cycles (24 threads, every Python):
        # 32 threads, every container checked byte for byte, and a viewer afterwards.
        prog = self.write("threads.py", r'''
import os, sys, threading, time
import leaktop
N_THREADS, CYCLES = 32, 100
stop = threading.Event()
results = [None] * N_THREADS
def work(k):
    n, keep, bad = 0, [], 0
    while not stop.is_set() or n < 2000:
        for _ in range(50):
            keep.append([{"k": k, "n": n, "s": "x" * (n % 64)}, bytearray(n % 512), (k, n),
                         [n] * 8])
            n += 1
        if len(keep) > 400:
            for d, b, t, l in keep[:200]:   # nothing the hooks did changed a byte
                m = d["n"]
                bad += d["k"] != k or len(b) != m % 512 or any(b) or t != (k, m) or l != [m] * 8
            del keep[:200]
        time.sleep(0.001)
    results[k] = (n, bad)
threads = [threading.Thread(target=work, args=(k,)) for k in range(N_THREADS)]
for t in threads:
    t.start()
for i in range(CYCLES):
    leaktop.start(interval=0.01, sample_bytes=1024 + 97 * i, frames=8 + i % 16)
    time.sleep(0.002 * (i % 5))
    leaktop.stop()
stop.set()
for t in threads:
    t.join()
print("results %d %d" % (sum(n for n, _ in results), sum(b for _, b in results)), flush=True)
leaktop.start(interval=0.1, sample_bytes=4096)
print("ready %d" % os.getpid(), flush=True)
time.sleep(120)
''')
        procs = [(py, self.spawn([py, prog], env=self.agent_env())) for py in PYTHONS[:1]]
        checks = []
        for py, p in procs:
            with self.subTest(python=py):
                total, bad = map(int, self.wait_line(p, "results", timeout=240).split()[1:])
                self.assertEqual(bad, 0, "containers changed under the allocator hooks")
                self.assertGreaterEqual(total, 32 * 2000)
                pid = int(self.wait_line(p, "ready").split()[1])
                checks.append((py, pid, subprocess.Popen(
                    [LEAKTOP, "check", "--json", "--duration", "1", "--pid", str(pid)],
                    env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)))
        for py, pid, c in checks:
            out, err = c.communicate(timeout=60)
            with self.subTest(python=py):
                self.assertIn(c.returncode, (0, 1), err)
                report = json.loads(out)
                self.assertEqual(report["pid"], pid)
                self.assertEqual(report["agent"]["sample_interval_bytes"], 4096)
        for _, p in procs:
            self.kill_pid(p)


if __name__ == "__main__":
    unittest.main()
