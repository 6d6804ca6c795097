#!/bin/sh
# Print the interpreter of every CPython 3.8-3.13 installed under pyenv, one per line.
root=${PYENV_ROOT:-$HOME/.pyenv}
for d in "$root"/versions/3.*; do
  v=${d##*/}
  case $v in 3.8.*|3.9.*|3.10.*|3.11.*|3.12.*|3.13.*) ;; *) continue ;; esac
  case $v in *[!0-9.]*) continue ;; esac  # skip dev/rc/t builds
  [ -x "$d/bin/python3" ] && echo "$d/bin/python3"
done
exit 0
