"""Leak: reference cycles dropped with the collector disabled are never freed."""
import gc
import itertools
import time

gc.disable()                                      # someone "optimised" the GC away


class Node:
    def __init__(self, value):
        self.value = value
        self.peer = None


for i in itertools.count():
    a, b = Node(i), Node(-i)                      # the leaking line: never freed, because
    a.peer, b.peer = b, a                         # they form a cycle the collector would free
    if i % 100 == 0:
        time.sleep(0.02)
