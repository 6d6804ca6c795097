"""`meson install` into a temporary prefix gives a working leaktop, `import leaktop`, the man page
and bash completion: a separate build of this source tree, nothing touched outside the test's
directory."""
import json
import os
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import PYTHONS, ROOT, LeaktopTestCase  # noqa: E402


@unittest.skipUnless(shutil.which("meson") and shutil.which("ninja"), "needs meson and ninja")
class InstallTest(LeaktopTestCase):
    def test_install_into_a_prefix(self):
        build = os.path.join(self.tmp, "build")
        prefix = os.path.join(self.tmp, "prefix")
        py = PYTHONS[0]
        for cmd in (["meson", "setup", build, ROOT, "--prefix", prefix, "-Dpythons=" + py,
                     "-Dtests=false"],
                    ["ninja", "-C", build],
                    ["meson", "install", "-C", build, "--no-rebuild"]):
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
            self.assertEqual(r.returncode, 0, "%s failed:\n%s\n%s" % (cmd, r.stdout[-2000:],
                                                                     r.stderr[-2000:]))
        exe = os.path.join(prefix, "bin", "leaktop")
        self.assertTrue(os.access(exe, os.X_OK))
        # The installed binary finds the installed agent, with no environment set by hand.
        env = dict(self.env)
        env.pop("LEAKTOP_AGENT_DIR", None)
        prog = self.write("p.py", "import time\nclass Installed: pass\nk = [Installed() for _ in range(321)]\ntime.sleep(30)\n")
        r = subprocess.run([exe, "check", "--json", "--duration", "1.5", "--interval", "0.3",
                            "--", py, prog], capture_output=True, text=True, env=env, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        counts = {t["name"]: t["count"] for t in json.loads(r.stdout)["types"]}
        self.assertEqual(counts.get("__main__.Installed"), 321)
        # import leaktop works for that interpreter from the prefix's site-packages.
        site = subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_path("
                               "'platlib', vars={'base': %r, 'platbase': %r}))" % (prefix, prefix)],
                              capture_output=True, text=True).stdout.strip()
        r = subprocess.run([py, "-c", "import leaktop; leaktop.start(); print(leaktop.is_running())"],
                           env=dict(env, PYTHONPATH=site), capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(r.stdout.strip(), "True", r.stderr)
        # The man page renders, and bash completion is there.
        man = os.path.join(prefix, "share", "man", "man1", "leaktop.1")
        if shutil.which("man"):
            r = subprocess.run(["man", "-l", man], capture_output=True, text=True,
                               env=dict(env, MANPAGER="cat", MANWIDTH="80"), timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("live memory monitor for Python", r.stdout)
        self.assertTrue(os.path.exists(os.path.join(prefix, "share", "bash-completion",
                                                    "completions", "leaktop")))
        r = subprocess.run([exe, "--version"], capture_output=True, text=True)
        self.assertRegex(r.stdout, r"^leaktop \d+\.\d+\.\d+")


if __name__ == "__main__":
    unittest.main()
