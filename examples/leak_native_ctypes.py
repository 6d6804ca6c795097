"""Leak: native memory taken with malloc through ctypes and never freed: RSS grows while the
Python heap does not."""
import ctypes
import ctypes.util
import time

libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.memset.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]

while True:
    p = libc.malloc(256 * 1024)                   # the leaking line: never freed
    libc.memset(p, 1, 256 * 1024)                 # touch it, so it is resident
    time.sleep(0.02)
