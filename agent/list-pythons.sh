#!/bin/sh
# Print the interpreters to build the agent for, one per line, of the CPython versions the agent
# supports (supported below; release builds only, no dev, rc or free-threaded "t" builds):
#   list-pythons.sh pyenv    every one installed under pyenv ($PYENV_ROOT, or ~/.pyenv)
#   list-pythons.sh system   every /usr/bin/python3.N (the distribution's own, as in the Debian
#                            roots of tests/roots)
# Prints nothing when there is none; exits 2 on an unknown mode.
supported() {
  case $1 in 3.8|3.9|3.10|3.11|3.12|3.13|3.14|3.15) return 0 ;; *) return 1 ;; esac
}

case ${1:-} in
pyenv)
  root=${PYENV_ROOT:-$HOME/.pyenv}
  for d in "$root"/versions/3.*; do
    v=${d##*/}
    case $v in *[!0-9.]*) continue ;; esac  # skip dev/rc/t builds
    supported "${v%.*}" && [ -x "$d/bin/python3" ] && echo "$d/bin/python3"
  done
  ;;
system)
  for p in /usr/bin/python3.*; do
    v=${p#/usr/bin/python}
    case $v in *[!0-9.]*) continue ;; esac  # python3.13-config, python3.14t, python3.13d
    supported "$v" && [ -x "$p" ] && echo "$p"
  done
  ;;
*)
  echo "usage: list-pythons.sh pyenv|system" >&2
  exit 2
  ;;
esac
exit 0
