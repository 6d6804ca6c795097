"""Leak: an output buffer that is appended to and never flushed."""
import time

buffer = bytearray()
chunk = b"x" * 4096

while True:
    for _ in range(20):
        buffer += chunk                           # the leaking line
    time.sleep(0.02)
