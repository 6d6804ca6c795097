"""A small 'service' that leaks the way real ones do, for leaktop's demo.

Each request is handled by a RequestContext that registers a listener on a global event bus and
never removes it; a response cache keyed by request id grows without bound; a bounded deque of
recent requests plateaus (that one is fine). Run it under leaktop:

    build/leaktop run -- python3 examples/demo_leak.py
"""
import collections
import itertools
import random
import time


class EventBus:
    def __init__(self):
        self.handlers = []

    def subscribe(self, handler):
        self.handlers.append(handler)


bus = EventBus()
response_cache = {}                              # unbounded: grows with every request
recent = collections.deque(maxlen=500)           # bounded: plateaus, not a leak


class RequestContext:
    def __init__(self, request_id, payload):
        self.request_id = request_id
        self.payload = payload
        bus.subscribe(self.on_event)             # never unsubscribed: keeps self alive

    def on_event(self, event):
        pass


class Response:
    __slots__ = ("status", "body")

    def __init__(self, status, body):
        self.status = status
        self.body = body


def handle(request_id):
    ctx = RequestContext(request_id, {"user": random.randrange(1000), "path": "/items"})
    body = [random.random() for _ in range(20)]
    response = Response(200, body)
    response_cache[request_id] = response
    recent.append(request_id)
    return response


def main():
    for request_id in itertools.count():
        handle(request_id)
        if request_id % 50 == 0:
            time.sleep(0.02)                     # ~2,500 requests a second


if __name__ == "__main__":
    main()
