"""Leak: asyncio tasks that wait for an event nobody sets pile up forever."""
import asyncio


async def wait_for_reply(never):
    await never.wait()


async def main():
    never = asyncio.Event()
    while True:
        for _ in range(100):
            asyncio.ensure_future(wait_for_reply(never))   # the leaking line
        await asyncio.sleep(0.02)


asyncio.run(main())
