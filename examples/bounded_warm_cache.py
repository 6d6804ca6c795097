"""Bounded: a cache that warms up over the first seconds and then stops growing. Not a leak."""
import itertools
import time


class Entry:
    def __init__(self, key):
        self.key = key
        self.value = [key] * 4


cache = {}

for i in itertools.count():
    key = i % 3000                                # a fixed key space: it fills, then hits
    if key not in cache:
        cache[key] = Entry(key)
    if i % 100 == 0:
        time.sleep(0.02)
