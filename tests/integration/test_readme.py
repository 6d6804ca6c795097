"""The README's promise to a newcomer: a fresh clone and its first command give a built leaktop
watching the bundled demo, and CI runs exactly its second command.

The first command is run for real in a fresh `git clone` of this repository (the committed
tree, as a newcomer gets it), without a terminal: then it prints `check`'s verdict on the demo
instead of opening the TUI. The second command is the one `.ci/run` executes, so CI itself runs
it from a clean clone on every submission; running it again in here would run this suite inside
itself.
"""
import os
import re
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ROOT, LeaktopTestCase  # noqa: E402


def readme_commands():
    """The commands of the README's first code block, comments stripped."""
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    m = re.search(r"```(?:sh|bash)?\n(.*?)```", text, re.S)
    if not m:
        return []
    return [line.split("#", 1)[0].strip() for line in m.group(1).splitlines()
            if line.split("#", 1)[0].strip()]


class ReadmeTest(LeaktopTestCase):
    def test_the_readme_starts_with_exactly_two_commands(self):
        with open(os.path.join(ROOT, "README.md")) as f:
            head = f.read(400)
        # Nothing but the title before them.
        self.assertRegex(head, r"^# leaktop\n\n```")
        cmds = readme_commands()
        self.assertEqual(len(cmds), 2, cmds)
        self.assertIn("demo", cmds[0])
        self.assertIn("test", cmds[1])

    def test_ci_runs_the_second_command(self):
        with open(os.path.join(ROOT, ".ci", "run")) as f:
            lines = [l.strip() for l in f if l.strip() and not l.lstrip().startswith("#")]
        self.assertEqual(lines[-1], "exec " + readme_commands()[1], lines)

    @unittest.skipUnless(shutil.which("git") and os.path.isdir(os.path.join(ROOT, ".git")),
                         "needs git and a git checkout")
    def test_first_command_in_a_fresh_clone_builds_and_finds_the_demo_leak(self):
        clone = os.path.join(self.tmp, "leaktop")
        r = subprocess.run(["git", "clone", "-q", ROOT, clone], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        env = dict(self.env, DEMO_SECONDS="12")
        for k in ("LEAKTOP_BIN", "LEAKTOP_AGENT", "LEAKTOP_PYTHONS", "LD_PRELOAD"):
            env.pop(k, None)
        r = subprocess.run(["bash", "-c", readme_commands()[0]], cwd=clone, env=env,
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=900)
        # check's exit status: 1 = leak suspects found, as the demo leaks.
        self.assertEqual(r.returncode, 1, "stdout:\n%s\nstderr:\n%s" % (r.stdout[-3000:],
                                                                       r.stderr[-3000:]))
        self.assertTrue(os.access(os.path.join(clone, "build", "leaktop"), os.X_OK))
        self.assertIn("RequestContext", r.stdout)
        self.assertRegex(r.stdout, r"(?i)suspect")


if __name__ == "__main__":
    unittest.main()
