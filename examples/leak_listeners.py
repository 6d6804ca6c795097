"""Leak: every request subscribes a listener to a global bus and never unsubscribes, so the bus
keeps each RequestContext (through its bound method) alive."""
import itertools
import time


class EventBus:
    def __init__(self):
        self.handlers = []

    def subscribe(self, handler):
        self.handlers.append(handler)


bus = EventBus()


class RequestContext:
    def __init__(self, request_id):
        self.request_id = request_id
        self.headers = {"id": str(request_id)}
        bus.subscribe(self.on_event)              # the leaking line: never removed

    def on_event(self, event):
        pass


for request_id in itertools.count():
    RequestContext(request_id)
    if request_id % 100 == 0:
        time.sleep(0.02)
