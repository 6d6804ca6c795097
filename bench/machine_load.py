"""How busy the machine is with other work, for the benchmarks that time things: a shared machine
makes their figures noisy, and they say so. Standard library only; Linux's /proc/stat."""
import os
import sys
import time


def busy_cpus():
    """CPUs' worth of time spent by other work over one second, from /proc/stat, measured while
    the caller runs nothing; None without /proc."""
    def snap():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return sum(v[:8]), v[3] + v[4]  # total, idle + iowait
    try:
        t0, i0 = snap()
        time.sleep(1.0)
        t1, i1 = snap()
    except (OSError, ValueError):
        return None
    ncpu = os.cpu_count() or 1
    return ncpu * (1.0 - (i1 - i0) / max(1, t1 - t0))


def wait_quiet(max_s, limit=0.15):
    """Wait (up to max_s) until other work uses less than `limit` CPUs; say so if it does not."""
    if max_s <= 0:
        return
    deadline = time.time() + max_s
    busy = busy_cpus()
    while busy is not None and busy >= limit and time.time() < deadline:
        time.sleep(4.0)
        busy = busy_cpus()
    if busy is not None and busy >= limit:
        print("  (still %.2f CPUs busy with other work after waiting %.0f s: timings noisy)"
              % (busy, max_s))
        sys.stdout.flush()


def say_busy(when):
    """Print how busy the machine is `when` ("before", "after"), with a warning past a quarter
    of a CPU; nothing without /proc."""
    busy = busy_cpus()
    if busy is None:
        return
    print("machine %s: %.2f of %d CPUs busy with other work%s" % (
        when, busy, os.cpu_count() or 1,
        "  <-- WARNING: a busy machine makes these timings noisy" if busy > 0.25 else ""))
    sys.stdout.flush()
