"""Leak: a memo cache keyed by something that never repeats (a request id) grows forever."""
import itertools
import time


class Result:
    def __init__(self, key):
        self.key = key
        self.rows = [key] * 10


_cache = {}


def compute(request_id):
    if request_id not in _cache:
        _cache[request_id] = Result(request_id)   # the leaking line: never evicted
    return _cache[request_id]


for request_id in itertools.count():
    compute(request_id)
    if request_id % 100 == 0:
        time.sleep(0.02)
