"""Bounded: lots of allocation and freeing (request objects that die young). Not a leak."""
import itertools
import random
import time


class Request:
    def __init__(self, i):
        self.i = i
        self.body = [random.random() for _ in range(20)]


live = []
for i in itertools.count():
    live.append(Request(i))
    if len(live) > random.randint(500, 1500):
        del live[: len(live) // 2]
    if i % 200 == 0:
        time.sleep(0.02)
