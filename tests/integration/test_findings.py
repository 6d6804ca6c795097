"""Findings on programs that use libraries, as a user runs them: a Flask app (Debian's
python3-flask) leaking responses through a module dict is named by the app's own line, not
flask's; a numpy program appending arrays is reported at the bytes per second it really
keeps; LEAKTOP_OWN_PATHS moves the line into the library when the user says it is theirs.
Runs `leaktop check --json` on Debian's /usr/bin/python3, where those packages are installed
(about 35 s in all)."""
import glob
import json
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import AGENT_DIR, SANITIZE, LeaktopTestCase  # noqa: E402

# (LEAKTOP_DEBIAN_PYTHON: another of the distribution's, e.g. sid's /usr/bin/python3.15.)
DEBIAN_PYTHON = os.environ.get("LEAKTOP_DEBIAN_PYTHON", "/usr/bin/python3")

FLASK_APP = '''
import leaktop
leaktop.start()
import json
import logging
import socket
import threading
import urllib.request

from flask import Flask, jsonify

app = Flask(__name__)
logging.getLogger("werkzeug").setLevel(logging.ERROR)
RESPONSES = {}


@app.route("/items/<int:n>")
def item(n):
    body = {"id": n, "tags": ["a", "b"], "price": n * 1.5}
    RESPONSES[n] = jsonify(body)                   # the leaking line
    return json.dumps(body)


s = socket.socket()
s.bind(("127.0.0.1", 0))
port = s.getsockname()[1]
s.close()
threading.Thread(target=app.run, kwargs={"port": port, "threaded": False}, daemon=True).start()
served = 0
for n in range(10**9):
    try:
        urllib.request.urlopen("http://127.0.0.1:%d/items/%d" % (port, n)).read()
    except Exception:                               # not listening yet, or a reply cut short
        continue
    served += 1
    if served == 200:
        print("ready", flush=True)
'''

NUMPY_PROG = '''
import sys
import time

import numpy as np

kept = []
while True:
    kept.append(np.ones(10000))                     # the leaking line: 80,000 bytes each
    if len(kept) % 10 == 0:
        print("kept %.3f %d" % (time.monotonic(), len(kept) * 80000), file=sys.stderr,
              flush=True)
    if len(kept) == 20:
        print("ready", flush=True)
    time.sleep(0.01)
'''


def leaking_line(path):
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if "# the leaking line" in line:
                return n
    return None


def debian_python_with(module):
    """Why Debian's python3 cannot run the test, or None."""
    if SANITIZE:
        return "the sanitized suite wraps only the interpreters the agent was built for"
    if not os.access(DEBIAN_PYTHON, os.X_OK):
        return "no %s" % DEBIAN_PYTHON
    r = subprocess.run([DEBIAN_PYTHON, "-c", "import sysconfig, %s; "
                        "print(sysconfig.get_config_var('EXT_SUFFIX'))" % module],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return "%s has no %s (apt-get install python3-%s)" % (DEBIAN_PYTHON, module, module)
    if not glob.glob(os.path.join(AGENT_DIR, "leaktop" + r.stdout.strip())):
        return "no agent built for %s (-Dpythons=python3,%s)" % (DEBIAN_PYTHON, DEBIAN_PYTHON)
    return None


class FindingsTest(LeaktopTestCase):
    def check(self, prog, env=None, duration="10"):
        r = self.leaktop("check", "--json", "--duration", duration, "--", DEBIAN_PYTHON, prog,
                         timeout=120, env=env)
        self.assertEqual(r.returncode, 1, r.stderr[-2000:])
        report = json.loads(r.stdout)
        self.assertTrue(report["findings"], report["suspects"])
        return report, r.stderr

    def check_pid(self, pid, env=None, duration="10"):
        r = self.leaktop("check", "--json", "--duration", duration, "--pid", str(pid),
                         timeout=120, env=env)
        self.assertEqual(r.returncode, 1, r.stderr[-2000:])
        report = json.loads(r.stdout)
        self.assertTrue(report["findings"], report["suspects"])
        return report, r.stderr

    def test_flask_app_is_named_by_its_own_line(self):
        why = debian_python_with("flask")
        if why:
            self.skipTest(why)
        app = self.write("app.py", FLASK_APP)
        # Watched once it serves, as one watches a service in production (its imports, slow on
        # a loaded machine, are not the leak).
        p = self.spawn([DEBIAN_PYTHON, app], env=self.agent_env())
        self.wait_line(p, "ready", timeout=60)
        report, _ = self.check_pid(p.pid)
        first = report["findings"][0]
        summary = " | ".join(f["summary"] for f in report["findings"][:4])
        self.assertEqual(first["type"], "flask.wrappers.Response", summary)
        # Its line is the app's own, and the leaking line is among the sites it groups (the
        # largest site of flask's Response objects can be an import-time one on a busy run).
        self.assertEqual(first["file"], app, summary)
        self.assertIn("allocated at app.py:", summary)
        sites = [(s["file"], s["line"]) for s in first["sites"]]
        self.assertIn((app, leaking_line(app)), sites, summary)
        self.assertEqual(first["holder"], "__main__.RESPONSES", summary)
        self.assertEqual(first["holder_type"], "dict", summary)
        # The leaking line's traceback keeps flask's frames: one key away, not gone.
        leak = [s for s in first["sites"] if (s["file"], s["line"]) == (app, leaking_line(app))]
        files = [f["file"] for f in leak[0]["traceback"]]
        self.assertTrue(any("/flask/" in f for f in files), files)

        # Flask counted as the user's own code: the line is flask's.
        flask_dir = subprocess.run([DEBIAN_PYTHON, "-c", "import flask, os; "
                                    "print(os.path.dirname(flask.__file__))"],
                                   capture_output=True, text=True, check=True).stdout.strip()
        env = dict(self.env, LEAKTOP_OWN_PATHS=flask_dir)
        report, _ = self.check_pid(p.pid, env=env, duration="8")
        first = report["findings"][0]
        self.assertTrue(first["file"].startswith(flask_dir + "/"), first["summary"])

    def test_numpy_arrays_are_reported_at_their_real_rate(self):
        why = debian_python_with("numpy")
        if why:
            self.skipTest(why)
        prog = self.write("np_leak.py", NUMPY_PROG)
        # Watched once it leaks (numpy's import, seconds on a busy machine, would take most of
        # a watch that started with the program), as one watches a service.
        kept_path = os.path.join(self.tmp, "kept.txt")
        with open(kept_path, "w") as kept_file:
            p = self.spawn([DEBIAN_PYTHON, prog], stderr=kept_file,
                           env=self.agent_env(LEAKTOP_AUTOSTART="1"))
        self.wait_line(p, "ready", timeout=60)
        started = time.monotonic()
        report, _ = self.check_pid(p.pid)
        ended = time.monotonic()
        with open(kept_path) as f:
            stderr = f.read()
        # What the program really kept, by its own account, over the judged part of the watch
        # (after the first fifth, as suspects are judged).
        points = [tuple(map(float, l.split()[1:3])) for l in stderr.splitlines()
                  if l.startswith("kept ")]
        points = [pt for pt in points if started <= pt[0] <= ended]
        self.assertGreater(len(points), 20, stderr[-2000:])
        points = points[len(points) // 5:]
        n = len(points)
        mx = sum(p[0] for p in points) / n
        my = sum(p[1] for p in points) / n
        real = (sum((p[0] - mx) * (p[1] - my) for p in points) /
                sum((p[0] - mx) ** 2 for p in points))
        first = report["findings"][0]
        self.assertLess(abs(first["bytes_per_s"] - real) / real, 0.20,
                        "reported %.0f B/s, the program kept %.0f B/s: %s" % (
                            first["bytes_per_s"], real, first["summary"]))


if __name__ == "__main__":
    unittest.main()
