"""`leaktop metrics`: the figures of every agent of the user in the Prometheus text format.

Real Python processes with the agent, the real leaktop binary serving HTTP on loopback, scraped
with urllib; `promtool check metrics` judges every scrape, and a real Prometheus server (Debian's
`prometheus` package) scrapes the exporter and answers a query over its HTTP API. The tests that
need promtool or prometheus are skipped, with the reason, when they are not installed.
"""
import concurrent.futures
import json
import os
import random
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (CMD_STOP, LEAKTOP, PYTHONS, LeaktopTestCase, command,  # noqa: E402
                     python_version)

PROMTOOL = shutil.which("promtool")
PROMETHEUS = shutil.which("prometheus")
NEED_PROM = "needs Debian's prometheus package (promtool and prometheus on PATH)"

# Holds argv[1] Session and argv[2] instances of a class whose name needs escaping, starts the
# agent itself, says "ready <pid>", and waits. With argv[3] == "late" it starts the agent only
# after 1.5 s.
HOLDER = r'''
import os, sys, time
import leaktop
if sys.argv[3:4] != ["late"]:
    leaktop.start(interval=0.2)
class Session(object):
    pass
Weird = type('we"ird\\na\nme', (), {})
keep = [Session() for _ in range(int(sys.argv[1]))]
weird = [Weird() for _ in range(int(sys.argv[2]))]
print("ready %d" % os.getpid(), flush=True)
if sys.argv[3:4] == ["late"]:
    time.sleep(1.5)
    leaktop.start(interval=0.2)
time.sleep(300)
'''
WEIRD = '__main__.we"ird\\na\nme'


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def unescape(v):
    out, i = [], 0
    while i < len(v):
        if v[i] == "\\":
            out.append({"\\": "\\", '"': '"', "n": "\n"}[v[i + 1]])
            i += 2
        else:
            out.append(v[i])
            i += 1
    return "".join(out)


def parse_exposition(text):
    """[(name, {label: value}, float)] from the text format; fails loudly on anything else."""
    samples = []
    for line in text.split("\n"):
        if not line or line.startswith("#"):
            continue
        brace = line.find("{")
        labels = {}
        if brace >= 0:
            name, i = line[:brace], brace + 1
            while line[i] != "}":
                eq = line.index("=", i)
                key = line[i:eq]
                assert line[eq + 1] == '"', line
                j = eq + 2
                while line[j] != '"':
                    j += 2 if line[j] == "\\" else 1
                labels[key] = unescape(line[eq + 2:j])
                i = j + 1
                if line[i] == ",":
                    i += 1
            rest = line[i + 1:]
        else:
            name, rest = line.split(" ", 1)
        samples.append((name, labels, float(rest.strip())))
    return samples


def value(samples, name, **labels):
    found = [v for n, l, v in samples
             if n == name and all(l.get(k) == str(x) for k, x in labels.items())]
    return found[0] if len(found) == 1 else (None if not found else found)


class MetricsTestCase(LeaktopTestCase):
    def holder(self, sessions, weird=0, python=None, late=False):
        prog = os.path.join(self.tmp, "holder.py")
        if not os.path.exists(prog):
            self.write("holder.py", HOLDER)
        argv = [python or PYTHONS[0], prog, str(sessions), str(weird)]
        if late:
            argv.append("late")
        p = self.spawn(argv, env=self.agent_env())
        pid = int(self.wait_line(p, "ready").split()[1])
        if not late:
            self.wait_for(lambda: os.path.exists(self.socket_path(pid)), what="agent socket")
        return p, pid

    def exporter(self, *args, port=None):
        """Start `leaktop metrics` on a free loopback port; (process, base URL)."""
        port = port or free_port()
        err = open(os.path.join(self.tmp, "metrics-%d.err" % port), "w")
        self.addCleanup(err.close)
        p = self.spawn([LEAKTOP, "metrics", "--listen", "127.0.0.1:%d" % port,
                        "--interval", "0.5"] + list(args), stderr=err)
        line = self.wait_line(p, "leaktop metrics: serving")
        self.assertIn("http://127.0.0.1:%d/metrics" % port, line)
        p.err_path = err.name
        return p, "http://127.0.0.1:%d" % port

    def get(self, url, method="GET", headers=None, timeout=10):
        req = urllib.request.Request(url, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, dict(r.headers), r.read().decode("utf-8")
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read().decode("utf-8")

    def scrape(self, base, **kw):
        status, headers, body = self.get(base + "/metrics", **kw)
        self.assertEqual(status, 200, body)
        if PROMTOOL and "openmetrics" not in headers.get("Content-Type", ""):
            self.promtool_ok(body)
        return body, parse_exposition(body)

    def promtool_ok(self, body):
        r = subprocess.run([PROMTOOL, "check", "metrics"], input=body, capture_output=True,
                           text=True, timeout=60)
        self.assertEqual((r.returncode, r.stdout + r.stderr), (0, ""),
                         "promtool refused the scrape:\n" + body[:3000])

    def wait_scrape(self, base, predicate, what, timeout=60):
        """Scrape until predicate(samples) holds; the last samples."""
        last = [None]

        def ok():
            last[0] = self.scrape(base)[1]
            return predicate(last[0])
        self.wait_for(ok, timeout=timeout, what=what)
        return last[0]

    def stop(self, proc):
        """End a server by its pid: SIGTERM, and it must exit 0 promptly."""
        os.kill(proc.pid, signal.SIGTERM)
        self.assertEqual(proc.wait(timeout=30), 0)


class MetricsTest(MetricsTestCase):
    def test_fleet(self):
        """Every agent of the user: figures per pid, new agents found, vanished ones dropped."""
        py1, py2 = PYTHONS[0], PYTHONS[-1]
        h1, pid1 = self.holder(1234, 777, python=py1)
        h2, pid2 = self.holder(2345, 0, python=py2)
        exp, base = self.exporter("--top", "50")

        def both_counted(s):
            return (value(s, "leaktop_type_objects", pid=pid1, type="__main__.Session") == 1234
                    and value(s, "leaktop_type_objects", pid=pid2, type="__main__.Session") == 2345)
        s = self.wait_scrape(base, both_counted, "both processes' Session counts")
        for pid, py in ((pid1, py1), (pid2, py2)):
            self.assertEqual(value(s, "leaktop_up", pid=pid), 1)
            rss = [(l, v) for n, l, v in s
                   if n == "leaktop_process_rss_bytes" and l["pid"] == str(pid)]
            self.assertEqual(len(rss), 1, rss)
            labels, v = rss[0]
            self.assertGreater(v, 1e6)
            self.assertLess(v, 4e9)
            self.assertIn("holder.py", labels["cmd"])
            self.assertEqual(labels["ppid"], str(os.getpid()))   # the test started it
            self.assertEqual(labels["python"].rsplit(".", 1)[0], python_version(py))
            self.assertGreaterEqual(value(s, "leaktop_process_rss_peak_bytes", pid=pid), v)
            # The sampler only sees what was allocated since the agent started: maybe 0 here.
            self.assertGreaterEqual(value(s, "leaktop_python_heap_bytes", pid=pid), 0)
            self.assertGreaterEqual(value(s, "leaktop_gc_tracked_objects", pid=pid), 1234)
            self.assertGreaterEqual(value(s, "leaktop_gc_tracked_bytes", pid=pid), 1234 * 16)
            for g in range(3):
                self.assertGreaterEqual(
                    value(s, "leaktop_gc_collections_total", pid=pid, generation=g), 0)
            self.assertEqual(value(s, "leaktop_gc_uncollectable_total", pid=pid), 0)
            self.assertEqual(value(s, "leaktop_leak_suspects", pid=pid), 0)
            self.assertGreater(value(s, "leaktop_agent_bytes", pid=pid), 0)
            census = value(s, "leaktop_agent_census_seconds", pid=pid)
            self.assertTrue(0 < census < 5, census)
            types = [l["type"] for n, l, _ in s
                     if n == "leaktop_type_objects" and l["pid"] == str(pid)]
            self.assertLessEqual(len(types), 50)
            self.assertEqual(len(types), len(set(types)))
        # A class name with a quote, a backslash and a newline comes back exactly.
        self.assertEqual(value(s, "leaktop_type_objects", pid=pid1, type=WEIRD), 777)
        self.assertGreaterEqual(value(s, "leaktop_type_bytes", pid=pid1, type=WEIRD), 777 * 16)

        # A process that dies (SIGKILL: its socket stays behind) leaves the scrape.
        os.kill(pid2, signal.SIGKILL)
        h2.wait(timeout=30)
        self.wait_scrape(base, lambda s: value(s, "leaktop_up", pid=pid2) is None
                         and value(s, "leaktop_up", pid=pid1) == 1, "pid %d to go" % pid2)
        # One started later is found by the rescan.
        h3, pid3 = self.holder(3456)
        self.wait_scrape(base, lambda s: value(s, "leaktop_type_objects", pid=pid3,
                                               type="__main__.Session") == 3456,
                         "the new pid %d" % pid3)
        # An agent that stops while its process goes on leaves the scrape too.
        c = self.connect(pid1)
        c.sendall(command(CMD_STOP))
        self.wait_scrape(base, lambda s: value(s, "leaktop_up", pid=pid1) is None,
                         "pid %d to go" % pid1)
        self.assertIsNone(h1.poll())
        self.stop(exp)
        with open(exp.err_path) as f:
            log = f.read()
        self.assertIn("watching pid %d" % pid1, log)
        self.assertIn("watching pid %d" % pid3, log)

    def test_top_and_openmetrics(self):
        _, pid = self.holder(4321, 300)
        _, base = self.exporter("--top", "3")
        s = self.wait_scrape(base, lambda s: value(s, "leaktop_up", pid=pid) == 1
                             and value(s, "leaktop_process_rss_bytes", pid=pid) is not None,
                             "the first sample")
        types = [l["type"] for n, l, _ in s if n == "leaktop_type_bytes"]
        self.assertEqual(len(types), 3, types)
        sizes = [v for n, _, v in s if n == "leaktop_type_bytes"]
        self.assertEqual(sizes, sorted(sizes, reverse=True))
        # What Prometheus asks for: OpenMetrics, counters named without _total, # EOF last.
        accept = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
                  "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1")
        status, headers, body = self.get(base + "/metrics", headers={"Accept": accept})
        self.assertEqual(status, 200)
        self.assertTrue(headers["Content-Type"].startswith("application/openmetrics-text; "
                                                           "version=1.0.0"), headers)
        self.assertTrue(body.endswith("\n# EOF\n"), body[-200:])
        self.assertIn("# TYPE leaktop_gc_collections counter\n", body)
        self.assertIn('leaktop_gc_collections_total{pid="%d",generation="0"}' % pid, body)
        status, headers, body = self.get(base + "/metrics")
        self.assertTrue(headers["Content-Type"].startswith("text/plain; version=0.0.4"), headers)
        self.assertNotIn("# EOF", body)

    def test_http(self):
        """Routes, methods, and requests that are bad, huge, slow or too many."""
        exp, base = self.exporter()
        port = int(base.rsplit(":", 1)[1])
        status, headers, body = self.get(base + "/")
        self.assertEqual(status, 200)
        self.assertIn("/metrics", body)
        self.assertEqual(headers.get("Connection"), "close")
        self.assertEqual(self.get(base + "/nope")[0], 404)
        self.assertEqual(self.get(base + "/metrics?x=1")[0], 200)
        status, headers, body = self.get(base + "/metrics", method="HEAD")
        self.assertEqual((status, body), (200, ""))
        status, headers, _ = self.get(base + "/metrics", method="POST")
        self.assertEqual(status, 405)
        self.assertEqual(headers.get("Allow"), "GET, HEAD")
        # No agents: an empty exposition is still a valid one.
        self.assertEqual(self.scrape(base)[0], "")

        def raw(data, timeout=10):
            c = socket.create_connection(("127.0.0.1", port), timeout=timeout)
            try:
                c.sendall(data)
                out = b""
                while True:
                    chunk = c.recv(65536)
                    if not chunk:
                        return out
                    out += chunk
            finally:
                c.close()
        for bad in (b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + b"\0" * 40,
                    b"GET /metrics HTTP/9.9\r\n\r\n", b"GET\r\n\r\n",
                    b"GET /metrics HTTP/1.1\r\nbroken header\r\n\r\n",
                    b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\n\r\n",
                    b"GET / HTTP/1.1\r\nX: " + b"a" * 100000 + b"\r\n\r\n"):
            out = raw(bad)
            self.assertTrue(out.startswith(b"HTTP/1.1 400 Bad Request\r\n"), (bad[:40], out))
        # Silent and half-sent requests, more of them than the server keeps: a scrape is still
        # answered at once.
        idle = []
        for i in range(80):
            c = socket.create_connection(("127.0.0.1", port), timeout=10)
            if i % 2:
                c.sendall(b"GET /metr")
            idle.append(c)
        t0 = time.monotonic()
        self.assertEqual(self.get(base + "/metrics", timeout=10)[0], 200)
        self.assertLess(time.monotonic() - t0, 5)
        for c in idle:
            c.close()
        self.assertIsNone(exp.poll(), "the exporter died")
        self.stop(exp)

    def test_flood_of_bad_requests_leaves_it_serving(self):
        """1,000 bad requests (garbage, oversize heads, half-sent requests holding every
        connection the server keeps) from 8 clients at once: every complete one gets its 400,
        scrapes in between are answered within 5 s, and it is all over in under 30 s."""
        exp, base = self.exporter()
        port = int(base.rsplit(":", 1)[1])
        rnd = random.Random(17)
        limit = 64  # LT_HTTP_MAX_CLIENTS (tui/http_serve.h)

        def bad_request(i):
            kind = i % 5
            if kind == 0:
                return bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 300))) + b"\r\n\r\n"
            if kind == 1:
                return b"GET / HTTP/1.1\r\nX: " + b"a" * rnd.randint(9000, 70000) + b"\r\n\r\n"
            if kind == 2:
                return b"GET /" + b"b" * rnd.randint(1100, 6000) + b" HTTP/1.1\r\n\r\n"
            if kind == 3:
                return b"GET /metrics HTTP/1.1\r\nno colon here\r\n\r\n"
            return b"GET /metrics HTTP/7.0\r\n\r\n"

        def send_bad(data):
            c = socket.create_connection(("127.0.0.1", port), timeout=10)
            try:
                c.sendall(data)
                out = b""
                while len(out) < 12:
                    chunk = c.recv(4096)
                    if not chunk:
                        break
                    out += chunk
                return out[:12]
            except (ConnectionResetError, BrokenPipeError):
                return b"reset"  # answered and closed while the rest was still being sent
            finally:
                c.close()

        def scrape_fast():
            t0 = time.monotonic()
            status = self.get(base + "/metrics", timeout=10)[0]
            self.assertEqual(status, 200)
            self.assertLess(time.monotonic() - t0, 5)

        t0 = time.monotonic()
        answers = []
        sent = 0
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            for round_ in range(5):
                # Half-sent requests, as many as the server keeps: a newcomer makes room.
                held = []
                for j in range(limit):
                    c = socket.create_connection(("127.0.0.1", port), timeout=10)
                    c.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: " * (j % 2 + 1))
                    held.append(c)
                sent += limit
                scrape_fast()
                for c in held:
                    c.close()
                batch = [bad_request(i) for i in range(sent, sent + 136)]
                answers += pool.map(send_bad, batch)
                sent += len(batch)
                scrape_fast()
        elapsed = time.monotonic() - t0
        self.assertEqual(sent, 1000)
        self.assertEqual(len(answers), 680)
        odd = [a for a in answers if a not in (b"HTTP/1.1 400", b"reset")]
        self.assertEqual(odd, [], "answers other than 400")
        self.assertGreater(answers.count(b"HTTP/1.1 400"), 600)
        self.assertLess(elapsed, 30)
        scrape_fast()
        self.assertIsNone(exp.poll(), "the exporter died")
        self.stop(exp)
        if os.environ.get("LEAKTOP_TEST_VERBOSE"):
            print("\nflood: 1000 bad requests in %.1f s" % elapsed, file=sys.stderr)

    def test_basic_auth(self):
        """--auth FILE: 401 without the right user:password, the figures with it; the file must
        be 0600, and the password is nowhere in the command line."""
        _, pid = self.holder(1357)
        secret = "s3cret-%d" % os.getpid()
        auth = self.write("auth", "prom:%s\n" % secret)
        os.chmod(auth, 0o644)
        r = self.leaktop("metrics", "--listen", "127.0.0.1:0", "--auth", auth, timeout=30)
        self.assertEqual(r.returncode, 2)
        self.assertIn("chmod 600", r.stderr)
        self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)
        os.chmod(auth, 0o600)
        exp, base = self.exporter("--auth", auth)
        with open("/proc/%d/cmdline" % exp.pid, "rb") as f:
            self.assertNotIn(secret.encode(), f.read())
        status, headers, body = self.get(base + "/metrics")
        self.assertEqual(status, 401, body)
        self.assertIn('Basic realm="leaktop metrics"', headers.get("WWW-Authenticate", ""))
        self.assertNotIn("leaktop_", body)

        def basic(user, pw):
            import base64
            tok = base64.b64encode(("%s:%s" % (user, pw)).encode()).decode()
            return {"Authorization": "Basic " + tok}
        for user, pw in (("prom", secret + "x"), ("prom", secret[:-1]), ("other", secret),
                         ("prom", "")):
            self.assertEqual(self.get(base + "/metrics", headers=basic(user, pw))[0], 401)
        ok = basic("prom", secret)
        self.wait_for(lambda: value(parse_exposition(self.get(base + "/metrics", headers=ok)[2]),
                                    "leaktop_type_objects", pid=pid,
                                    type="__main__.Session") == 1357, what="the figures")
        self.assertEqual(self.get(base + "/", headers=ok)[0], 200)
        self.stop(exp)

    def test_unix_socket_listener(self):
        """--listen unix:PATH: a 0600 socket serving the same exposition; an earlier
        exporter's dead socket is replaced, anything else at the path refused."""
        _, pid = self.holder(2468)
        path = os.path.join(self.tmp, "metrics.sock")
        with open(path, "w"):
            pass
        r = self.leaktop("metrics", "--listen", "unix:" + path, timeout=30)
        self.assertEqual(r.returncode, 2)
        self.assertIn("in use", r.stderr)
        os.unlink(path)
        dead = socket.socket(socket.AF_UNIX)
        dead.bind(path)
        dead.close()
        err = open(os.path.join(self.tmp, "metrics-unix.err"), "w")
        self.addCleanup(err.close)
        exp = self.spawn([LEAKTOP, "metrics", "--listen", "unix:" + path, "--interval", "0.5"],
                         stderr=err)
        line = self.wait_line(exp, "leaktop metrics: serving")
        self.assertIn("/metrics on unix:" + path, line)
        self.assertEqual(stat.S_IMODE(os.lstat(path).st_mode), 0o600)

        def get_unix(target):
            c = socket.socket(socket.AF_UNIX)
            c.settimeout(10)
            try:
                c.connect(path)
                c.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
                out = b""
                while True:
                    chunk = c.recv(65536)
                    if not chunk:
                        return out
                    out += chunk
            finally:
                c.close()

        def counted():
            out = get_unix(b"/metrics")
            head, _, body = out.partition(b"\r\n\r\n")
            self.assertTrue(head.startswith(b"HTTP/1.1 200 OK\r\n"), head)
            return value(parse_exposition(body.decode()), "leaktop_type_objects", pid=pid,
                         type="__main__.Session") == 2468
        self.wait_for(counted, what="the figures over the Unix socket")
        self.assertTrue(get_unix(b"/nope").startswith(b"HTTP/1.1 404 "))
        self.stop(exp)

    def test_pid_mode(self):
        _, pid1 = self.holder(1111)
        _, pid2 = self.holder(2222)
        exp, base = self.exporter("--pid", str(pid1))
        s = self.wait_scrape(base, lambda s: value(s, "leaktop_type_objects", pid=pid1,
                                                   type="__main__.Session") == 1111, "pid1")
        self.assertIsNone(value(s, "leaktop_up", pid=pid2))
        self.assertEqual({l["pid"] for _, l, _ in s}, {str(pid1)})
        self.stop(exp)

    def test_pid_waits_for_its_agent(self):
        """--pid of a Python process whose agent starts later: up 0, then its figures."""
        p, pid = self.holder(999, late=True)
        exp, base = self.exporter("--pid", str(pid))
        s = self.scrape(base)[1]
        if value(s, "leaktop_up", pid=pid) == 0:
            self.assertIsNone(value(s, "leaktop_process_rss_bytes", pid=pid))
        self.wait_scrape(base, lambda s: value(s, "leaktop_type_objects", pid=pid,
                                               type="__main__.Session") == 999, "the late agent")
        self.stop(exp)
        with open(exp.err_path) as f:
            log = f.read()
        if "no leaktop agent" in log:
            self.assertIn("never attaches", log)

    def test_refusals(self):
        port = free_port()
        cases = [
            (["metrics", "--pid", "4194303"], "no process with pid 4194303"),
            (["metrics", "--listen", "127.0.0.1:99999"], "port"),
            (["metrics", "--listen", "nonsense"], "HOST:PORT"),
            (["metrics", "--json"], "metrics takes"),
            (["metrics", "--", "python3"], "unexpected argument"),
        ]
        if os.getuid() != 0:
            cases.append((["metrics", "--pid", "1"], "not to you"))
        for argv, why in cases:
            with self.subTest(argv=argv):
                r = self.leaktop(*argv, timeout=30)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertIn(why, r.stderr)
        # A port already in use.
        busy = socket.socket()
        busy.bind(("127.0.0.1", port))
        busy.listen(1)
        self.addCleanup(busy.close)
        r = self.leaktop("metrics", "--listen", "127.0.0.1:%d" % port, timeout=30)
        self.assertEqual(r.returncode, 2)
        self.assertIn("in use", r.stderr)

    @unittest.skipUnless(PROMTOOL, NEED_PROM)
    def test_promtool_accepts_every_scrape(self):
        """Names, escaping, invalid UTF-8 in a command line: promtool takes every scrape."""
        prog = self.write("holder.py", HOLDER)
        p = self.spawn([PYTHONS[0], prog, "500", "300", "x",
                        'say "hi"', "back\\slash", "new\nline", b"bad\xff\xfe".decode(
                            "utf-8", "surrogateescape")], env=self.agent_env())
        pid = int(self.wait_line(p, "ready").split()[1])
        exp, base = self.exporter("--top", "100")
        s = self.wait_scrape(base, lambda s: value(s, "leaktop_type_objects", pid=pid,
                                                   type=WEIRD) == 300, "the weird type")
        cmd = [l["cmd"] for n, l, _ in s if n == "leaktop_process_rss_bytes"][0]
        self.assertIn('say "hi" back\\slash new\nline bad\ufffd\ufffd', cmd)
        for _ in range(5):
            body, _ = self.scrape(base)  # promtool runs on each
            time.sleep(0.2)
        self.assertIn('\\"hi\\"', body)
        self.stop(exp)


@unittest.skipUnless(PROMTOOL and PROMETHEUS, NEED_PROM)
class PrometheusTest(MetricsTestCase):
    def test_real_prometheus_scrapes_the_fleet(self):
        _, pid1 = self.holder(1234)
        _, pid2 = self.holder(2345)
        exp, base = self.exporter()
        self.wait_scrape(base, lambda s: value(s, "leaktop_up", pid=pid1) == 1
                         and value(s, "leaktop_up", pid=pid2) == 1
                         and value(s, "leaktop_type_objects", pid=pid2,
                                   type="__main__.Session") == 2345, "both agents")
        target = base.split("//", 1)[1]
        prom_port = free_port()
        config = self.write("prometheus.yml", """\
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: leaktop
    scrape_interval: 1s
    static_configs:
      - targets: ['%s']
""" % target)
        r = subprocess.run([PROMTOOL, "check", "config", config], capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        log = open(os.path.join(self.tmp, "prometheus.log"), "w")
        self.addCleanup(log.close)
        prom = self.spawn([PROMETHEUS, "--config.file=" + config,
                           "--storage.tsdb.path=" + os.path.join(self.tmp, "tsdb"),
                           "--web.listen-address=127.0.0.1:%d" % prom_port,
                           "--log.level=warn"],
                          stdout=log, stderr=subprocess.STDOUT, cwd=self.tmp)
        api = "http://127.0.0.1:%d/api/v1/" % prom_port

        def query(q):
            if prom.poll() is not None:
                with open(log.name) as f:
                    self.fail("prometheus exited (%s): %s" % (prom.returncode, f.read()[-3000:]))
            try:
                with urllib.request.urlopen(api + "query?" + urllib.parse.urlencode({"query": q}),
                                            timeout=10) as r:
                    doc = json.load(r)
            except (OSError, ValueError):
                return None  # not up yet
            self.assertEqual(doc["status"], "success", doc)
            return doc["data"]["result"]

        def rss_of_both():
            res = query("leaktop_process_rss_bytes")
            pids = {x["metric"].get("pid") for x in res or []}
            return res if {str(pid1), str(pid2)} <= pids else None
        res = self.wait_for(rss_of_both, timeout=120,
                            what="Prometheus to return leaktop_process_rss_bytes of both pids")
        for x in res:
            self.assertEqual(x["metric"]["job"], "leaktop")
            self.assertGreater(float(x["value"][1]), 1e6)
            self.assertIn("holder.py", x["metric"]["cmd"])
        self.result_text = json.dumps(res)
        sessions = query('leaktop_type_objects{type="__main__.Session"}')
        got = {x["metric"]["pid"]: float(x["value"][1]) for x in sessions}
        self.assertEqual(got.get(str(pid1)), 1234.0, sessions)
        self.assertEqual(got.get(str(pid2)), 2345.0, sessions)
        self.assertEqual(len(query("leaktop_gc_collections_total")), 6)
        with urllib.request.urlopen(api + "targets", timeout=10) as r:
            targets = json.load(r)["data"]["activeTargets"]
        self.assertEqual([(t["health"], t["lastError"]) for t in targets], [("up", "")], targets)
        if os.environ.get("LEAKTOP_TEST_VERBOSE"):
            print("\nprometheus: leaktop_process_rss_bytes ->", self.result_text, file=sys.stderr)
        self.stop(prom)
        self.stop(exp)


if __name__ == "__main__":
    unittest.main()
