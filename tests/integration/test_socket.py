"""The socket of the contracts: where it lives, who may use it, and what it survives."""
import os
import random
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (CMD_PING, CMD_STOP, FRAME_BYE, FRAME_HELLO, FRAME_HISTORY_END,  # noqa: E402
                     FRAME_REPLY, FRAME_SAMPLE, HEADER, LEAKTOP, PYTHONS, LeaktopTestCase,
                     client_hello, command, split_frames)

# A program with the agent started from its own code; it prints a numbered line every 20 ms so a
# test can prove its output is intact, and exits by itself after a number of lines.
TICKER = r'''
import os, socket, sys, time
import leaktop
leaktop.start(interval=0.1)
# Ready once the agent serves: it has then swept the stale sockets it found at start (its thread
# does that before it accepts anyone), so a socket left after this is not swept by this one.
c = socket.socket(socket.AF_UNIX)
c.connect(leaktop.socket_path())
c.recv(8)
c.close()
print("ready %d %s" % (os.getpid(), leaktop.socket_path()), flush=True)
for i in range(int(sys.argv[1])):
    junk = [dict(i=i) for _ in range(200)]
    print("line %d" % i, flush=True)
    time.sleep(0.02)
print("done running=%s" % leaktop.is_running(), flush=True)
'''


class SocketTest(LeaktopTestCase):
    def start_ticker(self, lines=100000, env=None):
        prog = self.write("ticker.py", TICKER)
        p = self.spawn([PYTHONS[0], prog, str(lines)], env=env or self.agent_env())
        ready = self.wait_line(p, "ready")
        _, pid, path = ready.split()
        return p, int(pid), path

    def test_modes_and_location(self):
        p, pid, path = self.start_ticker()
        self.assertEqual(path, self.socket_path(pid))
        d = os.lstat(os.path.dirname(path))
        self.assertTrue(stat.S_ISDIR(d.st_mode))
        self.assertEqual(stat.S_IMODE(d.st_mode), 0o700)
        self.assertEqual(d.st_uid, os.geteuid())
        s = os.lstat(path)
        self.assertTrue(stat.S_ISSOCK(s.st_mode))
        self.assertEqual(stat.S_IMODE(s.st_mode), 0o600)

    def test_fallback_without_xdg(self):
        env = self.agent_env()
        env.pop("XDG_RUNTIME_DIR")
        prog = self.write("where.py", "import leaktop; leaktop.start(); print(leaktop.socket_path())")
        r = subprocess.run([PYTHONS[0], prog], env=env, capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout.strip(), r"^/tmp/leaktop-%d/\d+\.sock$" % os.geteuid())

    def test_other_user_refused_even_when_modes_are_loosened(self):
        if os.geteuid() != 0 or not shutil.which("runuser"):
            self.skipTest("needs root and runuser to act as another user")
        p, pid, path = self.start_ticker()
        # Loosen every mode on the way, as a careless admin might: only SO_PEERCRED is left.
        for d in (self.tmp, self.runtime, os.path.dirname(path)):
            os.chmod(d, 0o755)
        os.chmod(path, 0o666)
        probe = self.write("probe.py", r'''
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(sys.argv[1])
data = b""
try:
    s.sendall(bytes.fromhex(sys.argv[2]))
except (BrokenPipeError, ConnectionResetError):
    pass  # already shut out
try:
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
except (socket.timeout, ConnectionResetError):
    pass
print(len(data))
''')
        os.chmod(probe, 0o644)
        r = subprocess.run(["runuser", "-u", "nobody", "--", "/usr/bin/python3", probe, path,
                            client_hello().hex()], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), "0", "another user received bytes from the agent")
        # leaktop itself, run as that user, refuses with one clear line.
        r = subprocess.run(["runuser", "-u", "nobody", "--", "env",
                            "XDG_RUNTIME_DIR=" + self.runtime, LEAKTOP, "check", "--pid",
                            str(pid), "--duration", "1"], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(r.returncode, 2)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        self.assertIn("not to you", r.stderr)
        # The owner is still served.
        s = self.connect(pid)
        frames = self.read_frames_until(s, FRAME_HISTORY_END)
        self.assertEqual(frames[0][0], FRAME_HELLO)

    def test_unsafe_runtime_dirs_refused(self):
        prog = self.write("start.py", r'''
import leaktop
try:
    leaktop.start()
except RuntimeError as e:
    print("refused:", e)
else:
    print("started", leaktop.socket_path())
''')
        cases = {}
        world = os.path.join(self.tmp, "world")
        os.mkdir(world)
        os.chmod(world, 0o777)
        cases["world-writable parent"] = (world, "writable by others")
        loose = os.path.join(self.tmp, "loose")
        os.makedirs(os.path.join(loose, "leaktop"))
        os.chmod(loose, 0o700)
        os.chmod(os.path.join(loose, "leaktop"), 0o755)
        cases["group-readable leaktop dir"] = (loose, "must be 0700")
        linked = os.path.join(self.tmp, "linked")
        os.mkdir(linked, 0o700)
        target = os.path.join(self.tmp, "elsewhere")
        os.mkdir(target, 0o700)
        os.symlink(target, os.path.join(linked, "leaktop"))
        cases["symlinked leaktop dir"] = (linked, "symlink")
        os.symlink(target, os.path.join(self.tmp, "xdg-link"))
        cases["symlinked XDG_RUNTIME_DIR"] = (os.path.join(self.tmp, "xdg-link"), "symlink")
        for name, (xdg, why) in cases.items():
            with self.subTest(case=name):
                env = self.agent_env(XDG_RUNTIME_DIR=xdg)
                r = subprocess.run([PYTHONS[0], prog], env=env, capture_output=True, text=True,
                                   timeout=30)
                self.assertIn("refused:", r.stdout, r.stdout + r.stderr)
                self.assertIn(why, r.stdout)
        # Through the launcher the refusal is one line and exit 2.
        r = self.leaktop("check", "--duration", "1", "--", PYTHONS[0], "-c", "pass",
                         env=dict(self.env, XDG_RUNTIME_DIR=world))
        self.assertEqual(r.returncode, 2)
        self.assertIn("writable by others", r.stderr)

    def test_stale_socket_replaced(self):
        # kill -9 leaves a socket file behind: a client must say the process is gone, and an
        # agent whose path holds such a file must replace it.
        p, pid, path = self.start_ticker()
        self.kill_pid(p, 9)
        self.assertTrue(os.path.exists(path), "the socket of a SIGKILLed process stays")
        r = self.leaktop("check", "--pid", str(pid), "--duration", "1")
        self.assertEqual(r.returncode, 2)
        self.assertIn("no process with pid", r.stderr)
        # Plant a stale socket file where the next agent will listen: a fresh process binds
        # over it (its pid's path is its own).
        stale_dir = os.path.join(self.runtime, "leaktop")
        prog = self.write("restale.py", r'''
import os, socket, leaktop
path = os.path.join(os.environ["XDG_RUNTIME_DIR"], "leaktop", "%d.sock" % os.getpid())
s = socket.socket(socket.AF_UNIX); s.bind(path); s.close()   # a dead socket at our path
leaktop.start()
c = socket.socket(socket.AF_UNIX); c.connect(path)           # the agent serves on it now
print("served", len(c.recv(8)))
''')
        r = subprocess.run([PYTHONS[0], prog], env=self.agent_env(), capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), "served 8")
        self.assertTrue(os.path.isdir(stale_dir))

    def plant_stale(self, pid, owner=None):
        """A socket file at pid's path that nobody listens on (bound, then closed)."""
        path = self.socket_path(pid)
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        s = socket.socket(socket.AF_UNIX)
        s.bind(path)
        s.close()
        if owner is not None:
            os.lchown(path, owner, owner)
        return path

    def dead_pid(self):
        """A pid that was just used and is gone (a child that exited and was reaped)."""
        p = subprocess.Popen(["true"])
        p.wait()
        return p.pid

    def test_stale_sockets_swept_by_the_next_agent(self):
        """SIGTERM (no atexit runs) and SIGKILL leave sockets; the next agent that starts
        removes them, and only them: not a live agent's, not one whose pid is gone but that
        still accepts (another pid namespace), not another user's."""
        term, term_pid, term_path = self.start_ticker()
        kill, kill_pid, kill_path = self.start_ticker()
        live, live_pid, live_path = self.start_ticker()
        self.assertEqual(self.kill_pid(term, signal.SIGTERM), -signal.SIGTERM)
        self.assertEqual(self.kill_pid(kill, signal.SIGKILL), -signal.SIGKILL)
        for path in (term_path, kill_path):
            self.assertTrue(os.path.exists(path), "a killed Python leaves %s" % path)
        # The viewer says "stale" in one line, by pid and by path.
        r = self.leaktop(str(term_pid))
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)
        self.assertIn("no process with pid %d; its agent socket is stale" % term_pid, r.stderr)
        r = self.leaktop("connect", kill_path)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertEqual(r.stderr, "leaktop: stale socket %s: nobody listens on it (the agent "
                                   "has stopped, or the forwarding, ssh -L, has ended)\n"
                         % kill_path)
        # A dead pid's name, but something accepts on it: not stale.
        accepting_pid = self.dead_pid()
        accepting = socket.socket(socket.AF_UNIX)
        self.addCleanup(accepting.close)
        accepting.bind(self.socket_path(accepting_pid))
        accepting.listen(1)
        planted = [self.plant_stale(self.dead_pid()) for _ in range(3)]
        foreign = None
        if os.geteuid() == 0:
            foreign = self.plant_stale(self.dead_pid(), owner=65534)
        not_ours = os.path.join(os.path.dirname(live_path), "notes.sock")
        with open(not_ours, "w"):
            pass
        before = sorted(os.listdir(os.path.dirname(live_path)))

        fresh, fresh_pid, fresh_path = self.start_ticker()
        gone = [term_path, kill_path] + planted
        self.wait_for(lambda: not any(os.path.exists(p) for p in gone),
                      what="the new agent to remove the stale sockets")
        left = set(os.listdir(os.path.dirname(live_path)))
        want = {os.path.basename(p) for p in (live_path, fresh_path, not_ours,
                                             self.socket_path(accepting_pid))}
        if foreign:
            want.add(os.path.basename(foreign))
        self.assertEqual(left, want, "before: %s" % before)
        # The live agents still serve.
        for pid in (live_pid, fresh_pid):
            c = self.connect(pid)
            self.assertIn(FRAME_HELLO, [t for t, _, _ in self.read_frames_until(c, FRAME_HELLO)])

    def test_fallback_dir_left_with_live_agents_only(self):
        """The shared /tmp/leaktop-<uid>: a SIGTERMed program's socket there is removed by the
        next agent that starts there (and tearDown checks nothing of ours is left stale)."""
        env = self.agent_env()
        env.pop("XDG_RUNTIME_DIR")
        p, pid, path = self.start_ticker(env=env)
        self.assertEqual(path, "/tmp/leaktop-%d/%d.sock" % (os.geteuid(), pid))
        self.assertEqual(self.kill_pid(p, signal.SIGTERM), -signal.SIGTERM)
        self.assertTrue(os.path.exists(path))
        prog = self.write("where.py", "import leaktop, time\nleaktop.start()\n"
                                      "time.sleep(0.05)\n")
        q = self.spawn([PYTHONS[0], prog], env=env)
        self.wait_for(lambda: not os.path.exists(path), what="the stale socket to go")
        self.assertEqual(q.wait(timeout=30), 0)

    def test_stale_socket_of_a_live_pid_is_left(self):
        """A live process (a recycled pid) with a dead socket at its path: the sweep leaves it,
        the viewer explains, and that process's own agent replaces it."""
        prog = self.write("plain.py", "import os, time\nprint('ready %d' % os.getpid(), "
                                      "flush=True)\ntime.sleep(120)\n")
        p = self.spawn([PYTHONS[0], prog])
        pid = int(self.wait_line(p, "ready").split()[1])
        path = self.plant_stale(pid)
        fresh, fresh_pid, _ = self.start_ticker()
        c = self.connect(fresh_pid)  # its sweep ran before it served (agent thread, first)
        self.read_frames_until(c, FRAME_HELLO)
        self.assertTrue(os.path.exists(path))
        r = self.leaktop("connect", path)
        self.assertEqual(r.returncode, 2)
        self.assertIn("stale socket", r.stderr)

    def test_hostile_connections(self):
        p, pid, path = self.start_ticker(lines=250)
        rnd = random.Random(1234)
        socks = []
        for i in range(64):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.addCleanup(s.close)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.connect(path)
            kind = i % 6
            try:
                if kind == 0:
                    s.sendall(bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 4000))))
                elif kind == 1:   # half a header
                    s.sendall(b"\x10\x00")
                elif kind == 2:   # a header promising more than will ever come
                    s.sendall(HEADER.pack(1000, 6, 0) + b"\x01\x02")
                elif kind == 3:   # a frame far larger than the protocol allows
                    s.sendall(HEADER.pack(0xFFFFFFF0, 2, 0))
                elif kind == 4:   # a proper hello, then garbage
                    s.sendall(client_hello() + b"\xff" * 64)
                else:             # a proper hello and never a read
                    s.sendall(client_hello())
            except OSError:
                pass  # the agent may already have closed it: that is the point
            socks.append(s)
        # The agent still answers a real viewer while all that is open.
        r = self.leaktop("check", "--json", "--pid", str(pid), "--duration", "1")
        self.assertEqual(r.returncode, 0, r.stderr)
        good = self.connect(pid)
        good.sendall(command(CMD_PING))
        frames = self.read_frames_until(good, FRAME_REPLY)
        self.assertIn(FRAME_REPLY, [t for t, _, _ in frames])
        for s in socks:
            s.close()
        good.close()
        out, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 0, err)
        lines = out.decode().splitlines()
        self.assertEqual(lines[-1], "done running=True")
        numbered = [l for l in lines if l.startswith("line ")]
        self.assertEqual(numbered, ["line %d" % i for i in range(250)])
        self.assertFalse(os.path.exists(path))

    def test_sixteen_viewers_and_a_late_joiner_sees_history(self):
        p, pid, path = self.start_ticker()
        viewers = [self.connect(pid) for _ in range(16)]
        for v in viewers:
            frames = self.read_frames_until(v, FRAME_HISTORY_END)
            self.assertEqual(frames[0][0], FRAME_HELLO)
        # A late joiner gets the samples from before it came, marked as history, before
        # HISTORY_END (live ones may come meanwhile: they flow from accept on). Joiners come
        # until one finds 8 in the history: as many as the program has lived samples, however
        # slowly a busy machine lets them come.
        deadline = time.monotonic() + 60
        while True:
            late = self.connect(pid)
            frames = self.read_frames_until(late, FRAME_HISTORY_END, timeout=30)
            self.assertIn(FRAME_HISTORY_END, [t for t, _, _ in frames])
            end = [t for t, _, _ in frames].index(FRAME_HISTORY_END)
            history = [f for t, f, _ in frames[:end] if t == FRAME_SAMPLE and f & 1]
            if len(history) >= 8 or time.monotonic() > deadline:
                break
            late.close()
            time.sleep(0.2)
        self.assertGreaterEqual(len(history), 8, "a late viewer sees the curve from before")
        self.assertEqual([f for t, f, _ in frames[end:] if t == FRAME_SAMPLE and f & 1], [],
                         "no history after HISTORY_END")
        # Every viewer keeps receiving live samples on its own.
        for v in viewers + [late]:
            frames = self.read_frames_until(v, FRAME_SAMPLE)
            self.assertTrue(any(t == FRAME_SAMPLE and not f & 1 for t, f, _ in frames))

    def test_stop_command_leaves_program_running(self):
        p, pid, path = self.start_ticker(lines=150)
        s = self.connect(pid)
        self.read_frames_until(s, FRAME_HISTORY_END)
        s.sendall(command(CMD_STOP))
        frames = self.read_frames_until(s, FRAME_BYE)
        self.assertIn(FRAME_BYE, [t for t, _, _ in frames])
        self.wait_for(lambda: not os.path.exists(path), what="socket removed after STOP")
        out, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 0, err)
        lines = out.decode().splitlines()
        self.assertEqual(lines[-1], "done running=False")
        self.assertEqual(len([l for l in lines if l.startswith("line ")]), 150)

    def test_exit_removes_socket_and_says_bye(self):
        p, pid, path = self.start_ticker(lines=30)
        s = self.connect(pid)
        frames = self.read_frames_until(s, FRAME_BYE, timeout=30)
        self.assertEqual(frames[-1][0], FRAME_BYE)
        self.assertEqual(frames[-1][2][0], 2)  # LT_BYE_EXITING
        p.wait(timeout=30)
        self.assertEqual(p.returncode, 0)
        self.assertFalse(os.path.exists(path))


if __name__ == "__main__":
    unittest.main()
