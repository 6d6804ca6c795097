"""Leak: a module-level history list that only ever grows."""
import itertools
import time

history = []


class Event:
    __slots__ = ("seq", "kind", "data")

    def __init__(self, seq):
        self.seq = seq
        self.kind = "tick"
        self.data = {"seq": seq}


for seq in itertools.count():
    history.append(Event(seq))                    # the leaking line
    if seq % 100 == 0:
        time.sleep(0.02)
