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
# Where `import leaktop` looks under an installation prefix (lib/python3.X/site-packages).
print(sysconfig.get_path("platlib", vars={"base": "", "platbase": ""}).lstrip("/"))
