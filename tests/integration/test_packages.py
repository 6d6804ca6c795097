"""The ways a user installs leaktop (README, Install): the wheel with pip into a fresh venv and
with pipx, and the Debian package with apt-get. Each is built from this source tree, in a copy of
it under the test's temporary directory, installed, used on a leaking program, and removed.

Once per run, whatever the Pythons of the build: the wheel is built by the machine's Python 3
(/usr/bin/python3, with Debian's python3-mesonpy, python3-build and python3-venv), the package
for it. The Debian package is installed on this machine for real (apt-get, so as root only) and
purged at the end, when nothing of it may be left. Both builds start at once (the package in the
background) to keep the test short.
"""
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (PYTHONS, ROOT, SANITIZE, LeaktopTestCase, _die_with_parent,  # noqa: E402
                     python_version)

SYSTEM_PYTHON = "/usr/bin/python3"

# Grows by 500 objects of its own class every 0.05 s, forever: the leak to be named. (Few
# enough that the census keeps its pace on a busy machine: each point is a count of them all.)
LEAKING_APP = """\
import time


class PlantedLeak:
    pass


kept = []
print("ready", flush=True)
while True:
    kept.extend(PlantedLeak() for _ in range(500))
    time.sleep(0.05)
"""


def tree_version():
    with open(os.path.join(ROOT, "meson.build")) as f:
        return re.search(r"version\s*:\s*'([^']+)'", f.read()).group(1)


def wheel_problem():
    """Why the wheel cannot be built and installed here, or None."""
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        return "needs %s" % SYSTEM_PYTHON
    r = subprocess.run([SYSTEM_PYTHON, "-c", "import mesonpy, build, venv, ensurepip"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return ("needs Debian's python3-mesonpy, python3-build and python3-venv for %s (%s)"
                % (SYSTEM_PYTHON, r.stderr.strip().splitlines()[-1:]))
    if not shutil.which("pipx"):
        return "needs pipx (Debian's pipx)"
    if not shutil.which("patchelf"):
        return "needs patchelf (meson-python fixes the agent's run path with it)"
    return None


def deb_problem():
    """Why the Debian package cannot be built, installed and removed here, or None."""
    if os.geteuid() != 0:
        return "installs a Debian package with apt-get: needs root"
    missing = [t for t in ("dpkg-buildpackage", "dh", "dh_python3", "lintian", "apt-get",
                           "meson", "ninja") if not shutil.which(t)]
    if missing:
        return ("needs %s (Debian's dpkg-dev, debhelper, dh-python, lintian, meson, ninja-build)"
                % ", ".join(missing))
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        return "needs %s" % SYSTEM_PYTHON
    r = subprocess.run(["dpkg-query", "-W", "-f", "${Status}", "leaktop"], capture_output=True,
                       text=True)
    if "installed" in r.stdout and "not-installed" not in r.stdout:
        return "a leaktop package is installed on this machine already: the test would replace it"
    return None


WHEEL_PROBLEM = wheel_problem()
DEB_PROBLEM = deb_problem()


def copy_tree(dest):
    """This source tree as it is (with what is not committed yet), without build directories."""
    os.makedirs(dest)
    listed = subprocess.run(["git", "-C", ROOT, "ls-files", "-z", "-co", "--exclude-standard"],
                            capture_output=True)
    if listed.returncode == 0:
        for name in listed.stdout.decode().split("\0"):
            src = os.path.join(ROOT, name)
            if name and os.path.isfile(src):
                os.makedirs(os.path.dirname(os.path.join(dest, name)), exist_ok=True)
                shutil.copy2(src, os.path.join(dest, name))
    else:
        shutil.rmtree(dest)
        shutil.copytree(ROOT, dest, ignore=shutil.ignore_patterns("build*", "__pycache__",
                                                                  ".git", "dist"))


def run_ok(test, argv, timeout=300, **kw):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)
    test.assertEqual(r.returncode, 0, "%s failed:\n%s\n%s" % (argv, r.stdout[-3000:],
                                                             r.stderr[-3000:]))
    return r


@unittest.skipIf(SANITIZE, "builds its own, unsanitized, packages")
class PackagesTest(LeaktopTestCase):
    tree = None      # the copy of the source tree the packages are built from
    deb_build = None  # dpkg-buildpackage, running in the background
    wheel = None
    wheel_error = None

    @classmethod
    def setUpClass(cls):
        cls.work = tempfile.mkdtemp(prefix="leaktop-packages-")
        if WHEEL_PROBLEM and DEB_PROBLEM:
            return
        # dpkg-buildpackage writes its packages into the parent of the tree it builds: a copy of
        # its own, so that they land in the test's directory.
        if not DEB_PROBLEM:
            copy_tree(os.path.join(cls.work, "deb", "leaktop"))
            cls.deb_log = open(os.path.join(cls.work, "deb.log"), "w")
            cls.deb_build = subprocess.Popen(
                ["dpkg-buildpackage", "-us", "-uc", "-b"],
                cwd=os.path.join(cls.work, "deb", "leaktop"), stdout=cls.deb_log,
                stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_die_with_parent,
                env=dict(os.environ, DEB_BUILD_OPTIONS="nocheck noautodbgsym"))
        if not WHEEL_PROBLEM:
            tree = os.path.join(cls.work, "wheel", "leaktop")
            copy_tree(tree)
            r = subprocess.run([SYSTEM_PYTHON, "-m", "build", "--no-isolation", "--wheel"],
                               cwd=tree, capture_output=True, text=True, timeout=600)
            found = glob.glob(os.path.join(tree, "dist", "leaktop-*.whl"))
            if r.returncode != 0 or len(found) != 1:
                cls.wheel_error = "the wheel did not build:\n%s\n%s" % (r.stdout[-3000:],
                                                                       r.stderr[-3000:])
            else:
                cls.wheel = found[0]

    @classmethod
    def tearDownClass(cls):
        if cls.deb_build is not None:
            if cls.deb_build.poll() is None:
                os.killpg(cls.deb_build.pid, signal.SIGKILL)
            cls.deb_build.wait()
            cls.deb_log.close()
        subprocess.run(["rm", "-rf", cls.work])

    def need_wheel(self):
        if WHEEL_PROBLEM:
            self.skipTest(WHEEL_PROBLEM)
        self.assertIsNotNone(self.wheel, self.wheel_error)

    # -- what every installation must do ----------------------------------------------------
    def assert_names_the_leak(self, leaktop, python, env):
        app = self.write("app.py", LEAKING_APP)
        r = subprocess.run([leaktop, "check", "--json", "--duration", "8", "--", python, app],
                           capture_output=True, text=True, env=env, timeout=120)
        self.assertEqual(r.returncode, 1, "no leak found: %s\n%s" % (r.stderr, r.stdout[-2000:]))
        report = json.loads(r.stdout)
        names = [s["name"] for s in report["suspects"]]
        self.assertIn("__main__.PlantedLeak", names, r.stdout[-3000:])

    def assert_version(self, leaktop):
        r = run_ok(self, [leaktop, "--version"])
        self.assertEqual(r.stdout.split("\n")[0].split()[:2], ["leaktop", tree_version()])

    def assert_import(self, python, env):
        r = run_ok(self, [python, "-c", "import leaktop; leaktop.start(); "
                          "print(leaktop.is_running()); leaktop.stop()"], env=env, timeout=60)
        self.assertEqual(r.stdout.strip(), "True", r.stderr)

    def other_python(self):
        """A Python the agent supports, of another version than the machine's, or None."""
        mine = python_version(SYSTEM_PYTHON)
        for py in PYTHONS + sorted(glob.glob(os.path.expanduser(
                "~/.pyenv/versions/3.*/bin/python3"))):
            if not os.access(py, os.X_OK):
                continue
            version = python_version(py)
            if version != mine and (3, 8) <= tuple(map(int, version.split("."))) < (3, 14):
                return py
        return None

    # -- the wheel ----------------------------------------------------------------------------
    def test_wheel_installs_with_pip_into_a_fresh_venv(self):
        self.need_wheel()
        venv = os.path.join(self.tmp, "venv")
        run_ok(self, [SYSTEM_PYTHON, "-m", "venv", venv], timeout=120)
        run_ok(self, [os.path.join(venv, "bin", "pip"), "install", "--no-index", self.wheel],
               timeout=120)
        env = dict(self.env, PATH=os.path.join(venv, "bin") + os.pathsep + self.env["PATH"])
        env.pop("LEAKTOP_AGENT_DIR", None)
        leaktop = shutil.which("leaktop", path=env["PATH"])
        self.assertEqual(leaktop, os.path.join(venv, "bin", "leaktop"))
        self.assert_version(leaktop)
        # `leaktop check -- python app.py` from the venv, as its user types it.
        self.assert_names_the_leak("leaktop", "python", env)
        self.assert_import(os.path.join(venv, "bin", "python"), env)
        # The man page where a wheel puts data, under the environment: man finds it from PATH.
        man = os.path.join(venv, "share", "man", "man1", "leaktop.1")
        self.assertTrue(os.path.isfile(man), man)
        if shutil.which("man"):
            r = run_ok(self, ["man", "leaktop"], timeout=60,
                       env=dict(env, MANPAGER="cat", MANWIDTH="80", MANPATH=""))
            self.assertIn("live memory monitor for Python", r.stdout)
        # A program of another Python: the agent missing, and how to get it, in one line.
        other = self.other_python()
        if other is None:
            return
        version = python_version(other)
        r = subprocess.run([leaktop, "check", "--duration", "1", "--", other, "-c", "pass"],
                           capture_output=True, text=True, env=env, timeout=60)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("no leaktop agent built for Python %s" % version, r.stderr)
        self.assertIn("install the wheel for that Python (%s -m pip install leaktop)" % other,
                      r.stderr)
        # The same asked of a running one (attach), before anything is done to it.
        p = self.spawn([other, self.write("idle.py", "import time\nprint('ready', flush=True)\n"
                                          "time.sleep(60)\n")], env=env)
        self.wait_line(p, "ready")
        r = subprocess.run([leaktop, "check", "--duration", "1", "--pid", str(p.pid)],
                           capture_output=True, text=True, env=env, timeout=60)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("no leaktop agent built for Python %s (pid %d" % (version, p.pid), r.stderr)
        # The interpreter by the executable the process runs (/proc), links resolved.
        self.assertIn("%s -m pip install leaktop" % os.path.realpath(other), r.stderr)
        self.assertIsNone(p.poll(), "the program of the other Python was ended")

    def test_wheel_installs_with_pipx(self):
        self.need_wheel()
        home = os.path.join(self.tmp, "pipx")
        bindir = os.path.join(self.tmp, "pipx-bin")
        # Offline: pipx would try to upgrade its shared pip from the index first (retrying for
        # half a minute); with no index it goes on with the one it has.
        env = dict(self.env, PIPX_HOME=home, PIPX_BIN_DIR=bindir, PIP_NO_INDEX="1")
        env.pop("LEAKTOP_AGENT_DIR", None)
        run_ok(self, ["pipx", "install", "--python", SYSTEM_PYTHON, self.wheel], env=env,
               timeout=300)
        leaktop = os.path.join(bindir, "leaktop")
        self.assert_version(leaktop)
        # The command pipx put on PATH, on a program of the machine's Python.
        self.assert_names_the_leak(leaktop, SYSTEM_PYTHON, env)
        self.assert_import(os.path.join(home, "venvs", "leaktop", "bin", "python"), env)

    # -- the Debian package -------------------------------------------------------------------
    def test_debian_package_installs_works_and_purges_clean(self):
        if DEB_PROBLEM:
            self.skipTest(DEB_PROBLEM)
        try:
            rc = self.deb_build.wait(timeout=600)
        except subprocess.TimeoutExpired:
            self.fail("dpkg-buildpackage did not finish in 600 s")
        with open(self.deb_log.name, errors="replace") as f:
            log = f.read()
        self.assertEqual(rc, 0, "dpkg-buildpackage failed:\n" + log[-4000:])
        debs = glob.glob(os.path.join(self.work, "deb", "leaktop_*.deb"))
        self.assertEqual(len(debs), 1, os.listdir(os.path.join(self.work, "deb")))
        r = subprocess.run(["lintian", "--fail-on", "error", debs[0]], capture_output=True,
                           text=True, timeout=300)
        self.assertEqual(r.returncode, 0, "lintian:\n%s%s" % (r.stdout, r.stderr))
        self.assertNotRegex(r.stdout, r"(?m)^E: ", r.stdout)

        apt = ["apt-get", "-y", "-q", "-o", "DPkg::Lock::Timeout=120"]
        apt_env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        self.addCleanup(subprocess.run, apt + ["remove", "--purge", "leaktop"],
                        capture_output=True, env=apt_env, timeout=300)
        run_ok(self, apt + ["install", "./" + os.path.basename(debs[0])],
               cwd=os.path.dirname(debs[0]), env=apt_env, timeout=300)
        files = run_ok(self, ["dpkg-query", "-L", "leaktop"]).stdout.split("\n")

        # As a user of the machine runs it: no environment of the build, bytecode written.
        env = dict(self.env)
        for name in ("LEAKTOP_AGENT_DIR", "PYTHONDONTWRITEBYTECODE", "PYTHONPATH"):
            env.pop(name, None)
        self.assertEqual(shutil.which("leaktop"), "/usr/bin/leaktop")
        self.assert_version("/usr/bin/leaktop")
        self.assert_names_the_leak("/usr/bin/leaktop", SYSTEM_PYTHON, env)
        self.assert_import(SYSTEM_PYTHON, env)
        if shutil.which("man"):
            r = run_ok(self, ["man", "leaktop"], env=dict(env, MANPAGER="cat", MANWIDTH="80"))
            self.assertIn("live memory monitor for Python", r.stdout)
        self.assertIn("/usr/share/bash-completion/completions/leaktop", files)

        run_ok(self, apt + ["remove", "--purge", "leaktop"], env=apt_env, timeout=300)
        r = subprocess.run(["dpkg-query", "-W", "-f", "${Status}", "leaktop"],
                           capture_output=True, text=True)
        self.assertNotIn("installed", r.stdout.replace("not-installed", ""))
        # Nothing of it is left: no file, and no directory but those other packages own too.
        there = [p for p in files if p.startswith("/") and p != "/." and os.path.lexists(p)]
        self.assertEqual([p for p in there if not os.path.isdir(p)], [])
        owned = subprocess.run(["dpkg-query", "-S"] + there, capture_output=True, text=True)
        owned = {line.split(": ", 1)[1] for line in owned.stdout.splitlines() if ": " in line}
        self.assertEqual([p for p in there if p not in owned], [])


if __name__ == "__main__":
    unittest.main()
