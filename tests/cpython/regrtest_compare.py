#!/usr/bin/env python3
"""CPython's own regression tests, with leaktop's agent inside every test process and without.

For each interpreter and each test module: `python -m test` runs the module twice, once plainly
and once with the agent loaded the way `leaktop run` loads it (the agent directory first on
PYTHONPATH, LEAKTOP_AUTOSTART=1, LEAKTOP_OPTIONS), so every Python process regrtest starts (its
worker, and every child that inherits the environment: multiprocessing's forkserver and spawned
processes, subprocess children not run with -I/-E) starts its own agent, at a short interval with
the allocation sampler on. While the agent run goes, a real viewer (`leaktop record --pid`, which
follows the process tree) is connected for its first seconds. Each run writes regrtest's JUnit
XML; the two are compared test by test (passed, failed, error, skipped, expected failure,
unexpected success), with regrtest's exit status (--fail-env-changed: an altered environment
counts) and the bound on time (--timeout per test, and a hard bound per module: a hang is a
difference). A difference is re-run once in both modes, to tell a reproducible one from a flaky
test; with --tracemalloc, a reproducible one is run once more without the agent but with
`-X tracemalloc` (another allocator hook), to show whether CPython's test is sensitive to any
hook. The documented exceptions (docs/compatibility.md, EXCEPTIONS below) are reported, not
failed.

Standard library only. Everything a run writes (regrtest's work directories, TMPDIR, agent
sockets through XDG_RUNTIME_DIR, recordings) lives in one temporary directory, removed at the end;
the processes started are ended by process group when their bound expires.

Exit status: 0 the same results everywhere (or only documented exceptions / flaky tests that did
not reproduce), 1 a difference, 2 bad usage or a setup failure.

  python3 tests/cpython/regrtest_compare.py --leaktop build/leaktop --agent build/agent \\
      --python ~/.pyenv/versions/3.8.18/bin/python3.8 --set ci
"""
import argparse
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET

# The agent's options in every test process: a census 20 times a second and the allocation
# sampler on at a mean of one sample per 16 KiB (the default is 64 KiB), deep tracebacks.
AGENT_OPTIONS = "interval=0.05,sample_bytes=16384,frames=64"

# A module: its regrtest name, -m patterns bounding it (none: all of it), and the Python versions
# it exists for (None: all). The "full" set is what issue 17 names; "ci" a bounded subset.
# test_asyncio: its main modules. test_multiprocessing_forkserver: a bounded part (queues,
# processes, pools, locks/conditions/events and shared memory values), a package from 3.13.
FORKSERVER_PART = ["*WithProcessesTestQueue*", "*WithProcessesTestProcess*",
                   "*WithProcessesTestPool*", "*WithProcessesTestLock*",
                   "*WithProcessesTestEvent*", "*WithProcessesTestValue*"]
ASYNCIO_MAIN = ["test_base_events", "test_events", "test_futures", "test_locks", "test_queues",
                "test_streams", "test_subprocess", "test_tasks", "test_unix_events"]

FULL = (["test_gc", "test_weakref", "test_threading"]
        + ["test_asyncio." + m for m in ASYNCIO_MAIN]
        + ["test_tracemalloc", "test_sys", "test_capi", "test_subprocess", "test_signal",
           ("test_multiprocessing_forkserver", FORKSERVER_PART), "test_faulthandler",
           "test_finalization", "test_generators", "test_descr"])

# What CI runs for the oldest and the newest Python (timed in docs/compatibility.md). The modules
# closest to what the agent touches: the GC and its callbacks, finalizers, generators' frames,
# allocator hooks (tracemalloc), sys's introspection, faulthandler, signals, threads, fork
# through multiprocessing's forkserver, asyncio's event loop. Left to ./build.sh cpython:
# test_weakref, test_descr, test_subprocess and most of test_asyncio (slower, or further from
# the agent), and test_capi, whose agent run on 3.13 failed once without a test reported
# (docs/compatibility.md, open): CI stays deterministic while that is open.
CI = ["test_gc", "test_finalization", "test_generators", "test_tracemalloc", "test_sys",
      "test_faulthandler", "test_signal", "test_threading",
      ("test_multiprocessing_forkserver", ["*WithProcessesTestQueue*", "*WithProcessesTestLock*"]),
      "test_asyncio.test_locks", "test_asyncio.test_base_events"]

SETS = {"full": FULL, "ci": CI}

# Documented exceptions (docs/compatibility.md): (python major.minor or "*", test id pattern,
# why). A difference on a matching test is reported as the documented exception, not failed.
EXCEPTIONS = [
    ("*", "*.test_pass_fds_redirected",
     "asserts that a child started with close_fds and pass_fds holds exactly the fds it was "
     "passed (subprocessdata/fd_status.py fstat()s every fd): the child's own agent holds its "
     "wake pipe and listening socket (3 fds), as any in-process server would; -X tracemalloc, "
     "which opens no fd, passes it"),
]

# Tests left out everywhere, with and without the agent: (python major.minor or "*", -i pattern,
# why). Measured in docs/compatibility.md.
IGNORED = [
    ("*", "*.InterpreterConfigTests.test_interp_init",
     "runs a subinterpreter with its own GIL on the main interpreter's allocator (gil='own', "
     "use_main_obmalloc=True, the test's 'ought to be invalid?' case): any other thread of the "
     "main interpreter that allocates meanwhile corrupts pymalloc; without the agent, a plain "
     "threading.Thread calling gc.get_stats() in a loop crashes 3.13.0 the same way (SIGSEGV)"),
    ("3.13", "test_print_exception_gh_102056",
     "3.13.0's recursion inside except* in a -I child: more than 4 minutes without the agent "
     "on the loaded 2-core machine (a child run with -I, where no agent is)"),
]

STATUSES = ("passed", "failed", "error", "skipped", "xfail", "xpass")


def log(msg):
    sys.stderr.write("regrtest-compare: %s\n" % msg)
    sys.stderr.flush()


def python_version(python):
    """(major, minor) of an interpreter; raises OSError/CalledProcessError when it cannot run."""
    out = subprocess.check_output([python, "-c", "import sys; print(*sys.version_info[:2])"],
                                  timeout=30)
    major, minor = out.split()
    return int(major), int(minor)


def test_dir(python):
    out = subprocess.check_output([python, "-c", "import test, os; print(os.path.dirname(test.__file__))"],
                                  timeout=30)
    return out.decode().strip()


def module_exists(tdir, name):
    first = name.split(".")[0]
    if not (os.path.isdir(os.path.join(tdir, first))
            or os.path.isfile(os.path.join(tdir, first + ".py"))):
        return False
    if "." in name:
        rest = name.split(".", 1)[1].replace(".", "/")
        return (os.path.isfile(os.path.join(tdir, first, rest + ".py"))
                or os.path.isdir(os.path.join(tdir, first, rest)))
    return True


def parse_junit(path):
    """{test id: status} from regrtest's --junit-xml; {} when the file is absent or broken."""
    results = {}
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return results
    for case in root.iter("testcase"):
        name = case.get("name", "?")
        tags = {child.tag for child in case}
        if "error" in tags:
            status = "error"
        elif "failure" in tags:
            status = "failed"
        elif "skipped" in tags:
            status = "skipped"
        elif "outcome" in tags:
            status = "xpass"
        elif "output" in tags:
            status = "xfail"
        else:
            status = "passed"
        # A test id can repeat (subtests report under their parent); the worst one wins.
        prev = results.get(name)
        if prev is None or STATUSES.index(status) in (1, 2):
            results[name] = status
    return results


class SocketWatch(threading.Thread):
    """Polls the private agent socket directory and remembers every pid that served a socket:
    the proof that the agents started in regrtest's processes."""

    def __init__(self, sockdir):
        super().__init__(daemon=True)
        self.sockdir = sockdir
        self.pids = set()
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            for p in glob.glob(os.path.join(self.sockdir, "leaktop", "*.sock")):
                base = os.path.basename(p)[:-len(".sock")]
                if base.isdigit():
                    self.pids.add(int(base))
            self.stop.wait(0.05)


def descendants(pid):
    """Every process below pid, by parent pid (/proc), deepest last."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(d))
    found, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            found.append(c)
            todo.append(c)
    return found


def kill_group(proc):
    """SIGKILL to proc's process group and to every process below it (regrtest's workers run in
    sessions of their own)."""
    below = descendants(proc.pid)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    for pid in below:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def default_sigint():
    """In the child before exec: SIGINT back to its default. A comparer started in the
    background by a shell inherits SIGINT ignored, Python then keeps it ignored, and
    test_threading's interrupt_main tests fail in both modes."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_regrtest(python, module, patterns, mode, work, args, leaktop, agent_dir):
    """One regrtest run of one module in one mode ("plain", "agent", "tracemalloc").
    Returns a dict: rc, seconds, tests {id: status}, timed_out, agent_pids, recorded_bytes,
    tail (the last lines of its output)."""
    # Short paths: multiprocessing's forkserver binds AF_UNIX sockets in TMPDIR, whose paths
    # must fit in 108 bytes.
    run_dir = tempfile.mkdtemp(prefix=mode[0], dir=work)
    junit = os.path.join(run_dir, "junit.xml")
    tmp = os.path.join(run_dir, "t")
    os.mkdir(tmp)
    env = dict(os.environ)
    for k in ("PYTHONPATH", "LEAKTOP_AUTOSTART", "LEAKTOP_OPTIONS", "LEAKTOP_READY_FD",
              "PYTHONTRACEMALLOC", "PYTHONSTARTUP", "PYTHONHOME"):
        env.pop(k, None)
    env.update(TMPDIR=tmp, TEMP=tmp, TMP=tmp, XDG_RUNTIME_DIR=run_dir, PYTHONDONTWRITEBYTECODE="1")
    cmd = [python]
    if mode == "tracemalloc":
        cmd += ["-X", "tracemalloc"]
    if mode == "agent":
        env.update(PYTHONPATH=agent_dir, LEAKTOP_AUTOSTART="1", LEAKTOP_OPTIONS=AGENT_OPTIONS)
    cmd += ["-m", "test", "-j%d" % args.jobs, "--timeout", str(args.test_timeout),
            "--fail-env-changed", "--junit-xml", junit]
    for p in patterns or []:
        cmd += ["-m", p]
    for ver, pattern, _ in IGNORED:
        if ver in ("*", args.version_text):
            cmd += ["-i", pattern]
    cmd.append(module)
    out_path = os.path.join(run_dir, "output.txt")
    watch = SocketWatch(run_dir) if mode == "agent" else None
    record = None
    rec_path = os.path.join(run_dir, "viewer.lktp")
    start = time.monotonic()
    with open(out_path, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=run_dir, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True,
                                preexec_fn=default_sigint)
        timed_out = False
        try:
            if watch is not None:
                watch.start()
                # The viewer: once regrtest's own agent serves its socket, `leaktop record`
                # follows it and every agent below it (the worker and its children).
                own = os.path.join(run_dir, "leaktop", "%d.sock" % proc.pid)
                deadline = time.monotonic() + 30
                while proc.poll() is None and time.monotonic() < deadline and not os.path.exists(own):
                    time.sleep(0.02)
                if proc.poll() is None and os.path.exists(own) and args.viewer_seconds > 0:
                    renv = dict(env)
                    renv.pop("PYTHONPATH")
                    renv.pop("LEAKTOP_AUTOSTART")
                    record = subprocess.Popen(
                        [leaktop, "record", "-o", rec_path, "--duration", str(args.viewer_seconds),
                         "--interval", "0.05", "--pid", str(proc.pid)],
                        env=renv, stdout=subprocess.DEVNULL, stderr=open(rec_path + ".err", "wb"),
                        stdin=subprocess.DEVNULL, start_new_session=True)
            proc.wait(timeout=max(1.0, args.module_timeout - (time.monotonic() - start)))
        except subprocess.TimeoutExpired:
            timed_out = True
            kill_group(proc)
            proc.wait()
        finally:
            if record is not None:
                try:
                    record.wait(timeout=args.viewer_seconds + 30)
                except subprocess.TimeoutExpired:
                    kill_group(record)
                    record.wait()
            if watch is not None:
                watch.stop.set()
                watch.join()
            # Whatever regrtest left behind in its group (a test's stray child) ends with it.
            kill_group(proc)
    seconds = time.monotonic() - start
    with open(out_path, "rb") as f:
        text = f.read().decode("utf-8", "replace")
    result = {
        "rc": proc.returncode, "seconds": round(seconds, 1), "tests": parse_junit(junit),
        "timed_out": timed_out, "tail": text.splitlines()[-25:],
        "agent_pids": sorted(watch.pids) if watch else [],
        "recorded_bytes": os.path.getsize(rec_path) if os.path.exists(rec_path) else 0,
        "record_rc": record.returncode if record is not None else None,
        "crashed": any(w in text for w in ("Fatal Python error", "Segmentation fault",
                                          "crashed (Exit code", "Worker process crashed",
                                          "non-zero exit code (Exit code -")),
    }
    if args.keep_output:
        result["output"] = out_path
    return result


def counts(tests):
    c = {s: 0 for s in STATUSES}
    for s in tests.values():
        c[s] += 1
    return c


def differences(plain, agent):
    """The test ids whose status differs (or that only one run has), with both statuses."""
    diffs = {}
    for t in sorted(set(plain["tests"]) | set(agent["tests"])):
        a, b = plain["tests"].get(t, "absent"), agent["tests"].get(t, "absent")
        if a != b:
            diffs[t] = (a, b)
    return diffs


def documented(version, test_id):
    import fnmatch
    for ver, pattern, why in EXCEPTIONS:
        if (ver == "*" or ver == "%d.%d" % version) and fnmatch.fnmatch(test_id, pattern):
            return why
    return None


def compare_module(python, version, module, patterns, work, args):
    plain = run_regrtest(python, module, patterns, "plain", work, args, args.leaktop, args.agent)
    agent = run_regrtest(python, module, patterns, "agent", work, args, args.leaktop, args.agent)
    entry = {"module": module, "patterns": patterns, "plain": plain, "agent": agent,
             "differences": {}, "verdict": "same"}
    diffs = differences(plain, agent)
    problems = []
    if plain["rc"] != agent["rc"]:
        problems.append("exit status %s without the agent, %s with it" % (plain["rc"], agent["rc"]))
    if agent["timed_out"] and not plain["timed_out"]:
        problems.append("timed out (%d s) with the agent only" % args.module_timeout)
    # A crash, or a run whose worker died before reporting any test, is a difference however
    # the re-run goes: no re-run excuses it.
    if agent["crashed"] and not plain["crashed"]:
        problems.append("a crash with the agent only")
    if plain["tests"] and not agent["tests"]:
        problems.append("no test reported by the agent run (%d without the agent)"
                        % len(plain["tests"]))
    if len(agent["agent_pids"]) < 2:
        problems.append("agents seen in %d process(es), expected regrtest and its worker"
                        % len(agent["agent_pids"]))
    if args.viewer_seconds > 0 and (agent["record_rc"] != 0 or agent["recorded_bytes"] == 0):
        problems.append("the viewer (leaktop record) ended with %s, %d bytes recorded"
                        % (agent["record_rc"], agent["recorded_bytes"]))
    if not plain["tests"] and not agent["tests"] and plain["rc"] == agent["rc"] == 0:
        problems.append("no test results in either run")
    if diffs or (problems and plain["rc"] != agent["rc"]):
        # Once more, the differing tests only (or the module), in both modes: reproducible?
        ids = list(diffs)
        pats = ids if ids and len(ids) <= 40 else patterns
        plain2 = run_regrtest(python, module, pats, "plain", work, args, args.leaktop, args.agent)
        agent2 = run_regrtest(python, module, pats, "agent", work, args, args.leaktop, args.agent)
        again = differences(plain2, agent2)
        entry["rerun"] = {"plain": plain2["tests"], "agent": agent2["tests"],
                          "plain_rc": plain2["rc"], "agent_rc": agent2["rc"]}
        for t, (a, b) in diffs.items():
            d = {"plain": a, "agent": b,
                 "rerun": [plain2["tests"].get(t, "absent"), agent2["tests"].get(t, "absent")]}
            d["reproduced"] = t in again or (not ids)
            why = documented(version, t)
            if why:
                d["documented"] = why
            entry["differences"][t] = d
        # The reproduced ones once more without the agent under -X tracemalloc (one run, at
        # most 40 tests: more is a module that broke as a whole, the agent run's output says).
        to_trace = [t for t, d in entry["differences"].items()
                    if d["reproduced"] and "documented" not in d]
        if args.tracemalloc and 0 < len(to_trace) <= 40:
            tm = run_regrtest(python, module, to_trace, "tracemalloc", work, args, args.leaktop,
                              args.agent)
            for t in to_trace:
                entry["differences"][t]["tracemalloc"] = tm["tests"].get(t, "absent")
        if plain2["rc"] == agent2["rc"] and not again:
            problems = [p for p in problems if not p.startswith("exit status")]
            entry["flaky_status"] = "exit status differed once, not on the re-run"
    entry["problems"] = problems
    entry["python"] = "%d.%d" % version
    reverdict(entry)
    return entry


def reverdict(entry):
    """The verdict from the problems and differences (documented ones by EXCEPTIONS as it is
    now: --render applies them to an earlier run's results too)."""
    version = tuple(int(x) for x in entry["python"].split(".")) if "python" in entry else (0, 0)
    for t, d in entry["differences"].items():
        why = documented(version, t)
        if why:
            d["documented"] = why
    real = [t for t, d in entry["differences"].items() if d["reproduced"] and "documented" not in d]
    # A different exit status is explained only when every differing test is a documented
    # exception (a flaky one drops it in compare_module, when the re-run's statuses agree).
    documented_rc = (entry["differences"]
                     and all("documented" in d for d in entry["differences"].values())
                     and all(p.startswith("exit status") for p in entry["problems"]))
    if (entry["problems"] and not documented_rc) or real:
        entry["verdict"] = "DIFFERENT"
    elif entry["differences"]:
        entry["verdict"] = "same but for %s" % ", ".join(
            "%s (%s)" % (t.rsplit(".", 1)[-1], "documented" if "documented" in d else "flaky")
            for t, d in sorted(entry["differences"].items()))
    else:
        entry["verdict"] = "same"


def fmt_counts(r):
    c = counts(r["tests"])
    s = "%d/%d/%d" % (c["passed"] + c["xfail"], c["failed"] + c["error"] + c["xpass"], c["skipped"])
    if r["timed_out"]:
        s += " TIMEOUT"
    return "%s rc=%s" % (s, r["rc"])


def table_rows(report):
    """Markdown rows for docs/compatibility.md: per Python and module, passed/failed/skipped
    without and with the agent, exit statuses, seconds, the verdict."""
    rows = ["| Python | module | without agent: pass/fail/skip (rc) | with agent | seconds without / with | agent processes | verdict |",
            "|---|---|---|---|---|---|---|"]
    for e in report:
        if e["verdict"] == "absent":
            rows.append("| %s | %s | not in this installation | | | | |" % (e["python"], e["module"]))
            continue
        name = e["module"] + (" (part)" if e.get("patterns") else "")
        rows.append("| %s | %s | %s | %s | %.0f / %.0f | %d | %s |" % (
            e["python"], name, fmt_counts(e["plain"]), fmt_counts(e["agent"]),
            e["plain"]["seconds"], e["agent"]["seconds"], len(e["agent"]["agent_pids"]),
            e["verdict"]))
    return "\n".join(rows) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--python", action="append", help="interpreter (repeatable)")
    ap.add_argument("--render", metavar="JSON[,JSON...]",
                    help="only print the Markdown table of earlier runs' --json files")
    ap.add_argument("--leaktop", help="the leaktop binary (the viewer)")
    ap.add_argument("--agent", help="the agent directory (build/agent)")
    ap.add_argument("--set", choices=sorted(SETS), default="ci")
    ap.add_argument("--module", action="append", help="only these modules of the set")
    ap.add_argument("--match", action="append",
                    help="regrtest -m patterns in place of the set's (repeatable)")
    ap.add_argument("--jobs", type=int, default=1, help="regrtest -jN (at most 2 here)")
    ap.add_argument("--test-timeout", type=int, default=300, help="regrtest --timeout per test")
    ap.add_argument("--module-timeout", type=int, default=900, help="hard bound per run")
    ap.add_argument("--viewer-seconds", type=float, default=4.0,
                    help="how long leaktop record follows each agent run (0: no viewer)")
    ap.add_argument("--tracemalloc", action="store_true",
                    help="run reproducible differences under -X tracemalloc too")
    ap.add_argument("--json", help="write every result to this file")
    ap.add_argument("--table", help="write the Markdown table (docs/compatibility.md) to this file")
    ap.add_argument("--keep-output", action="store_true", help="keep the work directory")
    args = ap.parse_args()
    if args.render:
        report = []
        for path in args.render.split(","):
            with open(path) as f:
                report += json.load(f)
        latest = {}  # a later run of the same module and Python replaces the earlier one
        for e in report:
            latest[(e["python"], e["module"])] = e
        report = [e for k, e in latest.items()]
        report.sort(key=lambda e: tuple(int(x) for x in e["python"].split(".")))
        for e in report:
            if e["verdict"] != "absent":
                reverdict(e)
        sys.stdout.write(table_rows(report))
        return 0
    if not args.python:
        ap.error("--python is required")
    if not 1 <= args.jobs <= 2:
        ap.error("--jobs must be 1 or 2")
    for path, what in ((args.leaktop, "--leaktop"), (args.agent, "--agent")):
        if not path or not os.path.exists(path):
            log("%s %s" % (what, "does not exist: %s" % path if path else "is required"))
            return 2
    args.leaktop = os.path.abspath(args.leaktop)
    args.agent = os.path.abspath(args.agent)
    if not os.path.exists(os.path.join(args.agent, "sitecustomize.py")):
        log("--agent %s holds no bootstrap (sitecustomize.py)" % args.agent)
        return 2
    work = tempfile.mkdtemp(prefix="lt-regr-")
    report = []
    failed = False
    try:
        for python in args.python:
            try:
                version = python_version(python)
                tdir = test_dir(python)
            except (OSError, subprocess.SubprocessError) as e:
                log("%s: cannot run it or it has no test package: %s" % (python, e))
                return 2
            vtext = "%d.%d" % version
            args.version_text = vtext
            for item in SETS[args.set]:
                module, patterns = (item if isinstance(item, tuple) else (item, None))
                if args.match:
                    patterns = args.match
                if args.module and module not in args.module:
                    continue
                if not module_exists(tdir, module):
                    log("%s %s: not in this installation (%s)" % (vtext, module, tdir))
                    report.append({"python": vtext, "module": module, "verdict": "absent"})
                    continue
                entry = compare_module(python, version, module, patterns, work, args)
                entry["python"] = vtext
                entry["executable"] = python
                report.append(entry)
                if args.json:  # after every module: a run cut short still says what it saw
                    with open(args.json, "w") as f:
                        json.dump(report, f, indent=1, sort_keys=True)
                log("%s %-34s %-28s | %-28s %5.1fs %5.1fs  agents=%d rec=%dB  %s%s" % (
                    vtext, module, "plain " + fmt_counts(entry["plain"]),
                    "agent " + fmt_counts(entry["agent"]), entry["plain"]["seconds"],
                    entry["agent"]["seconds"], len(entry["agent"]["agent_pids"]),
                    entry["agent"]["recorded_bytes"], entry["verdict"],
                    ("; " + "; ".join(entry["problems"])) if entry["problems"] else ""))
                for t, d in entry["differences"].items():
                    log("    %s: %s without, %s with the agent; re-run %s%s%s" % (
                        t, d["plain"], d["agent"], "/".join(d["rerun"]),
                        " (reproduced)" if d["reproduced"] else " (not reproduced)",
                        (" -X tracemalloc: %s" % d["tracemalloc"]) if "tracemalloc" in d else ""))
                if entry["verdict"] == "DIFFERENT":
                    failed = True
                    log("    agent run's last lines:\n      " + "\n      ".join(entry["agent"]["tail"]))
    finally:
        if args.json:
            with open(args.json, "w") as f:
                json.dump(report, f, indent=1, sort_keys=True)
        if args.table:
            with open(args.table, "w") as f:
                f.write(table_rows(report))
        if args.keep_output:
            log("work directory kept: %s" % work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
