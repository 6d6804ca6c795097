"""Which interpreters leaktop accepts: everything outside CPython 3.8-3.13, 3.14.5+ and 3.15 (and
every free-threaded build) is refused in one line, with exit status 2, when the agent is built
and when a program is started with it. The rules for patch releases (3.14.0-3.14.4, pre-releases)
are decided in plain C and tested in tests/unit/check-python_support.c.

Interpreters the suite cannot have are not faked where a real one exists: 2.7, 3.6 and 3.7 come
from pyenv when it has them. A free-threaded build and a 3.14.0-3.14.4 cannot be had on these
machines (no such package), so those two refusals run in a real interpreter made to look like
one at the single point each check reads: the ABI flags ("t") for the bootstrap, sysconfig's
Py_GIL_DISABLED for the build, and the agent module's ImportError for what the launcher does
with a module that refuses its interpreter."""
import glob
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import AGENT_DIR, PYTHONS, ROOT, LeaktopTestCase  # noqa: E402


def old_pythons():
    """CPython 2.7, 3.6 and 3.7 interpreters under pyenv, if it has any."""
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    found = []
    for pattern in ("2.7.*", "3.6.*", "3.7.*"):
        for d in sorted(glob.glob(os.path.join(root, "versions", pattern))):
            for exe in ("python3", "python"):
                path = os.path.join(d, "bin", exe)
                if os.access(path, os.X_OK):
                    found.append(path)
                    break
    return found


def version_of(python):
    return subprocess.run([python, "-c", "import sys; sys.stdout.write(sys.version.split()[0])"],
                          capture_output=True, text=True, check=True).stdout


class RefusedAtLaunchTest(LeaktopTestCase):
    def one_line_exit_2(self, r):
        self.assertEqual(r.returncode, 2, r.stderr)
        lines = r.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertTrue(lines[0].startswith("leaktop: "), lines[0])
        return lines[0]

    def test_interpreters_older_than_3_8(self):
        olds = old_pythons()
        if not olds:
            self.skipTest("no CPython 2.7, 3.6 or 3.7 under pyenv here")
        for py in olds:
            version = version_of(py)
            for mode in (["check", "--duration", "5"], ["record", "-o", os.devnull]):
                with self.subTest(python=version, mode=mode[0]):
                    r = self.leaktop(*mode, "--", py, "-c", "import time; time.sleep(5)")
                    line = self.one_line_exit_2(r)
                    self.assertIn("Python %s (%s) is not supported" % (version, py), line)
                    self.assertIn("CPython 3.8-3.13, 3.14.5+, 3.15", line)

    def test_an_agent_refusing_its_interpreter(self):
        # The agent module refuses a patch release whose internals differ from its headers'
        # (3.14.0-3.14.4, pre-releases) by raising ImportError("leaktop: ...") at import. What
        # leaktop makes of that: the module's own line, exit 2. Here a module with that import
        # error stands beside the real bootstrap, as no such interpreter can be had.
        agent = os.path.join(self.tmp, "agent")
        os.mkdir(agent)
        with open(os.path.join(AGENT_DIR, "sitecustomize.py")) as src:
            self.write("agent/sitecustomize.py", src.read())
        why = ("Python 3.14.3 is not supported: 3.14.0-3.14.4 shipped an incremental garbage "
               "collector the agent cannot walk; use 3.14.5 or later")
        self.write("agent/leaktop.py", "raise ImportError(%r)\n" % ("leaktop: " + why))
        r = self.leaktop("check", "--duration", "5", "--", PYTHONS[0], "-c",
                         "import time; time.sleep(5)", env=dict(self.env, LEAKTOP_AGENT_DIR=agent))
        self.assertEqual(self.one_line_exit_2(r), "leaktop: " + why)

    def test_free_threaded_refused_at_load(self):
        # A free-threaded interpreter says so in sys.abiflags; the bootstrap reads nothing else.
        # It answers on the launcher's pipe and never imports the agent.
        r_fd, w_fd = os.pipe()
        code = ("import sys; sys.abiflags = 't'; sys.path.insert(0, %r); import sitecustomize; "
                "print('leaktop' in sys.modules)" % AGENT_DIR)
        env = dict(self.env, LEAKTOP_AUTOSTART="1", LEAKTOP_READY_FD=str(w_fd))
        p = subprocess.run([PYTHONS[0], "-S", "-c", code], env=env, pass_fds=(w_fd,),
                           capture_output=True, text=True, timeout=60)
        os.close(w_fd)
        with os.fdopen(r_fd) as f:
            answer = f.read()
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.strip(), "False")  # the agent module was not loaded
        self.assertEqual(len(answer.splitlines()), 1, answer)
        self.assertTrue(answer.startswith("E free-threaded Python ("), answer)
        self.assertIn("is not supported", answer)
        self.assertIn("docs/free-threading.md", answer)


class RefusedAtBuildTest(LeaktopTestCase):
    def setup_with(self, python):
        """meson setup of this source tree for one interpreter, in a scratch build directory."""
        build = os.path.join(self.tmp, "build")
        return subprocess.run(["meson", "setup", build, ROOT, "-Dpythons=" + python,
                               "-Dtests=false"], capture_output=True, text=True, timeout=120)

    def error_line(self, r):
        self.assertNotEqual(r.returncode, 0, r.stdout)
        errors = [line for line in (r.stdout + r.stderr).splitlines()
                  if line.startswith("ERROR:") or "ERROR: " in line]
        self.assertEqual(len(errors), 1, r.stdout + r.stderr)
        return errors[0]

    def test_old_interpreter(self):
        olds = [p for p in old_pythons() if "/3." in p]
        if not olds:
            self.skipTest("no CPython 3.6 or 3.7 under pyenv here")
        line = self.error_line(self.setup_with(olds[-1]))
        self.assertIn("leaktop's agent is for CPython 3.8 to 3.15, not %s" % version_of(olds[-1]),
                      line)

    def test_free_threaded_interpreter(self):
        # An interpreter whose sysconfig says Py_GIL_DISABLED=1, as a free-threaded build's does.
        real = subprocess.run([PYTHONS[0], "-c", "import sys; print(sys.executable)"],
                              capture_output=True, text=True, check=True).stdout.strip()
        wrapper = self.write("ft/python3", (
            "#!/bin/sh\n"
            "exec %s -c \"import sys, sysconfig; get = sysconfig.get_config_var; "
            "sysconfig.get_config_var = lambda n: 1 if n == 'Py_GIL_DISABLED' else get(n); "
            "sys.argv = sys.argv[1:]; exec(compile(open(sys.argv[0]).read(), sys.argv[0], "
            "'exec'))\" \"$@\"\n") % real)
        os.chmod(wrapper, 0o755)
        line = self.error_line(self.setup_with(wrapper))
        self.assertIn("leaktop's agent does not support free-threaded Python", line)
        self.assertIn("docs/free-threading.md", line)


if __name__ == "__main__":
    unittest.main()
