"""Bounded: an lru_cache with a maxsize fills, then evicts. Not a leak."""
import functools
import itertools
import time


class Parsed:
    def __init__(self, text):
        self.text = text
        self.words = text.split()


@functools.lru_cache(maxsize=2000)
def parse(text):
    return Parsed(text)


for i in itertools.count():
    parse("request %d from client %d" % (i, i % 7))
    if i % 200 == 0:
        time.sleep(0.02)
