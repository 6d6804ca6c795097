"""Print what the build needs to know of the interpreter running this: version, extension
suffix, include directory, executable. One per line. Exits non-zero, with one line saying why,
for an interpreter the agent cannot be built for (agent/python_support.h has the rules)."""
import sys
import sysconfig

version = sys.version.split()[0]
if sys.version_info < (3, 8) or sys.version_info >= (3, 16):
    raise SystemExit("leaktop's agent is for CPython 3.8 to 3.15, not %s (%s)"
                     % (version, sys.executable))
if sysconfig.get_config_var("Py_GIL_DISABLED"):
    raise SystemExit("leaktop's agent does not support free-threaded Python (%s is %s): "
                     "see docs/free-threading.md" % (sys.executable, version))
if sys.version_info[:2] == (3, 14) and sys.version_info[2] < 5:
    raise SystemExit("leaktop's agent does not support Python %s (%s): 3.14.0-3.14.4 shipped an "
                     "incremental garbage collector it cannot walk; use 3.14.5 or later"
                     % (version, sys.executable))
print("%d.%d" % sys.version_info[:2])
print(sysconfig.get_config_var("EXT_SUFFIX"))
print(sysconfig.get_paths()["include"])
print(sys.executable)
# Where `import leaktop` looks under an installation prefix (lib/python3.X/site-packages).
print(sysconfig.get_path("platlib", vars={"base": "", "platbase": ""}).lstrip("/"))
