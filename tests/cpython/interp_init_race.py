"""The evidence for a test left out of tests/cpython (IGNORED in regrtest_compare.py): CPython
3.13's test_capi InterpreterConfigTests.test_interp_init crashes without leaktop when any other
thread of the main interpreter allocates meanwhile. Here that thread is a plain
threading.Thread; no agent, no PYTHONPATH. Run: python3.13 tests/cpython/interp_init_race.py
(exit status 139, SIGSEGV, when CPython has the race; 0 when it does not)."""
import gc
import threading
import unittest


def churn():
    while True:
        gc.get_stats()
        [str(i) for i in range(50)]


threading.Thread(target=churn, daemon=True).start()
from test.test_capi import test_misc  # noqa: E402 (the thread runs while it imports, too)

unittest.TextTestRunner(verbosity=2).run(unittest.defaultTestLoader.loadTestsFromName(
    "InterpreterConfigTests.test_interp_init", test_misc))
