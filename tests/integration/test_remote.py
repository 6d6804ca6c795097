"""Watching a process on another host: its agent socket forwarded (ssh -L) and read by path.

`ssh -N -L /tmp/app.sock:/run/user/1000/leaktop/4242.sock host` makes a local socket whose
every connection sshd re-makes on the host, as the user, to the agent's socket. RELAY below does
the same job on one machine (a process that accepts on one path and connects to the other for
each client), so these tests run without an ssh server; the agent sees a peer of the same uid,
as it would see sshd. The pid-namespace test puts the program where its pid means something else
than on this host (a container, or another host): nothing may be read from this host's /proc.
"""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import LEAKTOP, PYTHONS, LeaktopTestCase  # noqa: E402

RELAY = r'''
import os, socket, sys, threading
listen_path, target = sys.argv[1], sys.argv[2]
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(listen_path)
os.chmod(listen_path, 0o600)
srv.listen(16)
print("relaying", flush=True)

def pipe(a, b):
    try:
        while True:
            data = a.recv(65536)
            if not data:
                break
            b.sendall(data)
    except OSError:
        pass
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

while True:
    c, _ = srv.accept()
    up = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        up.connect(target)
    except OSError:
        c.close()
        continue
    threading.Thread(target=pipe, args=(c, up), daemon=True).start()
    threading.Thread(target=pipe, args=(up, c), daemon=True).start()
'''

# Starts its own agent, leaks Session objects, and says its pid as it sees it.
LEAKER = r'''
import os, sys, time
import leaktop
leaktop.start(interval=0.2)
class Session:
    def __init__(self):
        self.payload = [0] * 16
held = []
print("ready %d" % os.getpid(), flush=True)
while True:
    held.extend(Session() for _ in range(100))
    time.sleep(0.05)
'''


class RemoteTest(LeaktopTestCase):
    def start_leaker(self, argv_prefix=()):
        prog = self.write("leaker.py", LEAKER)
        p = self.spawn(list(argv_prefix) + [PYTHONS[0], prog], env=self.agent_env())
        line = self.wait_line(p, "ready")
        return p, int(line.split()[1])

    def forward(self, target):
        """A forwarded socket in a directory of its own, as ssh -L makes one."""
        fwd_dir = os.path.join(self.tmp, "fwd")
        os.makedirs(fwd_dir, 0o700, exist_ok=True)
        path = os.path.join(fwd_dir, "app.sock")
        relay = self.spawn([sys.executable, self.write("relay.py", RELAY), path, target])
        self.wait_line(relay, "relaying")
        return path

    def wait_socket(self, pid):
        return self.wait_for(lambda: os.path.exists(self.socket_path(pid)) and
                             self.socket_path(pid), what="the agent's socket")

    def test_check_and_record_through_a_forwarded_socket(self):
        p, pid = self.start_leaker()
        fwd = self.forward(self.wait_socket(pid))
        r = self.leaktop("check", "--json", "--duration", "8", "--socket", fwd, timeout=60)
        self.assertEqual(r.returncode, 1, r.stderr)  # the leak is found...
        report = json.loads(r.stdout)
        self.assertEqual(report["pid"], pid)  # ...in that process, named by its agent
        names = [s["name"] for s in report["suspects"]]
        self.assertIn("__main__.Session", names[:3])
        self.assertGreater(report["process"]["rss_bytes"], 0)
        self.assertIsNone(p.poll(), "check --socket must never end the process")

        rec = os.path.join(self.tmp, "remote.lktp")
        r = self.leaktop("record", "-o", rec, "--duration", "2", "--socket", fwd, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertGreater(os.path.getsize(rec), 1000)
        self.assertIsNone(p.poll(), "record --socket must never end the process")

    @unittest.skipUnless(shutil.which("tmux"), "needs tmux")
    def test_tui_connect_shows_the_remote_process_and_quits_leaving_it_running(self):
        p, pid = self.start_leaker()
        fwd = self.forward(self.wait_socket(pid))
        tsock = "leaktop-remote-%d" % os.getpid()
        tmux = lambda *a: subprocess.run(["tmux", "-L", tsock] + list(a), capture_output=True,
                                         text=True)
        self.addCleanup(tmux, "kill-server")
        env = dict(self.env, LANG="C.UTF-8", TERM="xterm-256color")
        subprocess.run(["tmux", "-L", tsock, "-f", "/dev/null", "new-session", "-d", "-x", "80",
                        "-y", "24", "%s connect %s; echo EXIT=$?; sleep 600" % (LEAKTOP, fwd)],
                       env=env, check=True)
        screen = ""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            screen = tmux("capture-pane", "-p").stdout
            if "Session" in screen and "app.sock" in screen:
                break
            time.sleep(0.1)
        self.assertIn("Session", screen)
        self.assertIn("app.sock", screen)  # the header names where it is watching
        tmux("send-keys", "2")  # the Types view
        time.sleep(0.5)
        tmux("send-keys", "q")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "EXIT=" not in screen:
            screen = tmux("capture-pane", "-p").stdout
            time.sleep(0.1)
        self.assertIn("EXIT=0", screen)
        self.assertIsNone(p.poll(), "quitting connect must leave the process running")

    def test_errors_are_one_clear_line(self):
        missing = os.path.join(self.tmp, "nothing.sock")
        r = self.leaktop("connect", missing)
        self.assertEqual(r.returncode, 2)
        self.assertEqual(r.stderr.count("\n"), 1, r.stderr)
        self.assertIn("No such file", r.stderr)

        plain = self.write("plain.txt", "not a socket\n")
        r = self.leaktop("check", "--duration", "1", "--socket", plain)
        self.assertEqual(r.returncode, 2)
        self.assertIn("is not a socket", r.stderr)

        stale = os.path.join(self.tmp, "stale.sock")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(stale)
        s.close()  # bound, never listened: what a dead forwarding leaves
        r = self.leaktop("check", "--duration", "1", "--socket", stale)
        self.assertEqual(r.returncode, 2)
        self.assertIn("nobody listens", r.stderr)

        # Something else listens there and speaks garbage.
        junk = os.path.join(self.tmp, "junk.sock")
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(junk)
        srv.listen(1)
        self.addCleanup(srv.close)
        import threading

        def serve():
            c, _ = srv.accept()
            c.sendall(b"HTTP/1.0 200 OK\r\n\r\n" + b"\xff" * 64)
            time.sleep(2)
            c.close()
        threading.Thread(target=serve, daemon=True).start()
        r = self.leaktop("check", "--duration", "1", "--socket", junk, timeout=30)
        self.assertEqual(r.returncode, 2)
        self.assertEqual(r.stderr.count("\n"), 1, r.stderr)
        self.assertRegex(r.stderr, "not a leaktop agent|no leaktop stream|larger than")

        for argv in (["check", "--socket", junk, "--pid", "1"],
                     ["check", "--socket", junk, "--", "true"],
                     ["record", "--socket", junk],
                     ["check", "--keep", "--socket", junk],
                     ["run", "--socket", junk, "--", "true"],
                     ["connect"], ["connect", "a", "b"]):
            r = self.leaktop(*argv)
            self.assertEqual(r.returncode, 2, argv)
            self.assertIn("usage:", r.stderr, argv)

    def test_a_process_in_another_pid_namespace_is_read_from_its_agent_only(self):
        # Like a container: inside, the program is pid 1 or 2; on this host that pid is
        # another process entirely (init), whose /proc must not be shown as the program's.
        probe = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "true"],
                               capture_output=True)
        if probe.returncode != 0:
            self.skipTest("cannot make a pid namespace here: %s" % probe.stderr.decode().strip())
        p, inner = self.start_leaker(["unshare", "--pid", "--fork", "--mount-proc"])
        self.assertLess(inner, 10)
        fwd = self.forward(self.wait_socket(inner))
        r = self.leaktop("check", "--json", "--duration", "3", "--socket", fwd, timeout=60)
        self.assertIn(r.returncode, (0, 1), r.stderr)
        report = json.loads(r.stdout)
        self.assertEqual(report["pid"], inner)
        rss = report["process"]["rss_bytes"]
        with open("/proc/%d/status" % inner) as f:  # this host's process of that pid
            host_rss = int(re.search(r"VmRSS:\s+(\d+)", f.read() + "VmRSS: 0").group(1)) * 1024
        self.assertGreater(rss, 4 << 20)  # a Python interpreter's, from its own agent
        self.assertNotEqual(rss, host_rss)


if __name__ == "__main__":
    unittest.main()
