"""Bounded: a deque with maxlen keeps the last N items. Not a leak."""
import collections
import itertools
import time


class Sample:
    def __init__(self, i):
        self.i = i
        self.tags = {"i": i}


recent = collections.deque(maxlen=5000)

for i in itertools.count():
    recent.append(Sample(i))
    if i % 200 == 0:
        time.sleep(0.02)
