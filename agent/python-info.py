"""Print what the build needs to know of the interpreter running this: version, extension
suffix, include directory, executable. One per line."""
import sys
import sysconfig

if sys.version_info < (3, 8):
    raise SystemExit("leaktop's agent needs Python 3.8 or newer, not %s" % sys.version.split()[0])
print("%d.%d" % sys.version_info[:2])
print(sysconfig.get_config_var("EXT_SUFFIX"))
print(sysconfig.get_paths()["include"])
print(sys.executable)
