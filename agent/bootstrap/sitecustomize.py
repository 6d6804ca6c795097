"""leaktop's bootstrap: loads the agent into a program started by `leaktop run/check/record`.

Those commands put this file's directory first on PYTHONPATH and set LEAKTOP_AUTOSTART=1, so
Python's `site` imports this module at startup, before the program's own code. It:
  1. imports the agent built for this interpreter (beside this file) and starts it with the
     options in LEAKTOP_OPTIONS ("interval=0.5,history=600,sample_bytes=65536,frames=64,
     top_sites=200,show_keys=1": the keyword arguments of leaktop.start(); show_keys=1 lets
     referrer chains name the keys of the program's dicts, which are its data);
  2. tells the waiting leaktop which pid serves the socket (or why it could not) through the pipe
     named by LEAKTOP_READY_FD, then closes it so the program's children never see it;
  3. hands over to the program's own sitecustomize, if it has one, exactly as if this file were
     not here.
Python children started by the program (multiprocessing's spawn, subprocess) inherit PYTHONPATH
and get their own agent too; only the first process answers leaktop.
"""
import os
import sys


def _leaktop_report(fd, line):
    try:
        os.write(fd, (line + "\n").encode("utf-8", "replace"))
    except OSError:
        pass


def _leaktop_options(text):
    opts = {}
    for item in filter(None, text.split(",")):
        key, sep, value = item.partition("=")
        key = key.strip()
        if key in ("interval", "history", "budget", "max_pause"):
            opts[key] = float(value)
        elif key in ("max_clients", "sample_bytes", "frames", "top_sites"):
            opts[key] = int(value)
        elif key == "show_keys":
            opts[key] = not sep or value.strip().lower() in ("1", "yes", "true", "on")
    return opts


def _leaktop_unsupported():
    """Why this interpreter can have no agent at all, or None. The agent module checks the
    patch release itself when it is imported (agent/python_support.h)."""
    version = sys.version.split()[0]
    if sys.version_info < (3, 8) or sys.version_info >= (3, 16):
        return ("Python %s (%s) is not supported: the agent supports @PYTHONS@"
                % (version, sys.executable))
    # Free-threaded builds say so in their ABI flags ("t", 3.13+).
    if "t" in getattr(sys, "abiflags", ""):
        return ("free-threaded Python (%s is %s) is not supported: the agent supports "
                "@PYTHONS@; see docs/free-threading.md" % (sys.executable, version))
    return None


def _leaktop_reason(e):
    # The agent's own errors already say "leaktop: ..."; ours are prefixed once.
    text = str(e)
    return text[len("leaktop: "):] if text.startswith("leaktop: ") else text


def _leaktop_boot():
    here = os.path.dirname(os.path.abspath(__file__))
    if os.environ.get("LEAKTOP_AUTOSTART") != "1":
        # On PYTHONPATH only to make `import leaktop` work: stay out of the way.
        _leaktop_chain(here)
        return
    fd_text = os.environ.pop("LEAKTOP_READY_FD", None)
    fd = -1
    if fd_text is not None:
        try:
            fd = int(fd_text)
            if hasattr(os, "set_inheritable"):  # not on Python 2, which is refused below
                os.set_inheritable(fd, False)
        except (ValueError, OSError):
            fd = -1
    try:
        refused = _leaktop_unsupported()
        if refused is not None:
            if fd < 0:
                sys.stderr.write("leaktop: %s\n" % refused)
            _leaktop_report(fd, "E " + refused)
            return
        try:
            import leaktop  # the extension module beside this file
        except ImportError as e:
            if "subinterpreter" in str(e):
                # A subinterpreter of the program (concurrent.interpreters, 3.14+) runs `site`
                # too and cannot load the agent, which serves the main interpreter only:
                # nothing to say.
                return
            if str(e).startswith("leaktop: "):
                # The module itself refused this interpreter: its one line says why.
                if fd < 0:
                    sys.stderr.write("%s\n" % e)
                _leaktop_report(fd, "E " + _leaktop_reason(e))
                return
            version = "%d.%d" % sys.version_info[:2]
            # The advice depends on how this leaktop was installed (agent/meson.build).
            msg = ("no leaktop agent built for Python %s (%s); @AGENT_HOWTO@"
                   % (version, sys.executable, sys.executable))
            if fd < 0:
                sys.stderr.write("leaktop: %s (%s)\n" % (msg, e))
            _leaktop_report(fd, "E " + msg)
            return
        try:
            opts = _leaktop_options(os.environ.get("LEAKTOP_OPTIONS", ""))
            if fd >= 0:
                # The launcher connects right after our answer: a program that exits sooner
                # waits for it (3 s at most) so its last state is reported.
                opts["_exit_linger"] = 3.0
            leaktop.start(**opts)
        except Exception as e:  # never stop the program because of leaktop
            if fd < 0:
                sys.stderr.write("leaktop: agent not started: %s\n" % _leaktop_reason(e))
            _leaktop_report(fd, "E agent not started: %s" % _leaktop_reason(e))
            return
        _leaktop_report(fd, "R %d" % os.getpid())
    finally:
        if fd >= 0:
            try:
                os.close(fd)
            except OSError:
                pass
        _leaktop_chain(here)


def _leaktop_chain(here):
    """Import the program's own sitecustomize, which ours shadows."""
    mine = sys.modules.pop("sitecustomize", None)
    saved = list(sys.path)
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    try:
        import importlib
        importlib.import_module("sitecustomize")
    except ImportError as e:
        # No sitecustomize of the program's own: nothing to chain. (Python 2's ImportError has
        # no name; it is refused anyway, silently here so its one line stays the only one.)
        absent = getattr(e, "name", None) == "sitecustomize" or \
            str(e) == "No module named sitecustomize"
        if not absent:
            _leaktop_print_error()
    except Exception:
        _leaktop_print_error()
    finally:
        # Our directory stays on sys.path: `import leaktop` must keep working in the program.
        sys.path[:] = saved
        if "sitecustomize" not in sys.modules and mine is not None:
            sys.modules["sitecustomize"] = mine


def _leaktop_print_error():
    # What site.py does for a failing sitecustomize: report and go on.
    import traceback
    sys.stderr.write("Error in sitecustomize; set PYTHONVERBOSE for traceback:\n")
    traceback.print_exc()


_leaktop_boot()
