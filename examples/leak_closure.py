"""Leak: callbacks kept in a list each close over a large buffer."""
import itertools
import time

callbacks = []


def make_callback(n):
    payload = bytearray(20_000)                   # captured by the closure below
    def callback():
        return len(payload) + n
    return callback


for i in itertools.count():
    callbacks.append(make_callback(i))            # the leaking line
    if i % 20 == 0:
        time.sleep(0.02)
