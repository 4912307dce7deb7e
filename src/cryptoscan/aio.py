"""Waiting on an event with a timeout, without losing a cancellation.

On Python 3.11, ``asyncio.wait_for(event.wait(), t)`` swallows a cancellation that lands in the loop
iteration where the event is set: it returns as if the wait had simply ended, so a ``while True`` loop around it
never stops, and whoever awaits the task (a graceful shutdown) waits forever. ``asyncio.timeout`` lets the
cancellation through. A demo run whose scanner loop was woken by every closed kline hung this way at exit.
"""

from __future__ import annotations

import asyncio


async def wait_event(event: asyncio.Event, timeout_s: float | None) -> bool:
    """Wait until ``event`` is set (True) or ``timeout_s`` seconds pass (False); a cancellation propagates."""
    try:
        async with asyncio.timeout(timeout_s):
            await event.wait()
    except TimeoutError:
        return False
    return True
