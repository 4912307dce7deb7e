"""wait_event: an event wait with a timeout that never swallows a cancellation (asyncio.wait_for does on 3.11)."""

from __future__ import annotations

import asyncio

import pytest

from cryptoscan.aio import wait_event


async def test_set_timeout_and_a_cancellation_in_the_same_step_as_the_set() -> None:
    ev = asyncio.Event()
    assert not await wait_event(ev, 0.0)
    ev.set()
    assert await wait_event(ev, 10.0)
    ev.clear()
    task = asyncio.ensure_future(wait_event(ev, 10.0))
    for _ in range(3):
        await asyncio.sleep(0)  # the task is waiting
    ev.set()
    task.cancel()  # lands in the step that also wakes the waiter: wait_for would return True here
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_loop_woken_all_the_time_still_stops() -> None:
    ev = asyncio.Event()
    woken = [0]

    async def loop() -> None:
        while True:
            await wait_event(ev, 30.0)
            ev.clear()
            woken[0] += 1

    task = asyncio.ensure_future(loop())
    for _ in range(50):
        ev.set()
        await asyncio.sleep(0)
    ev.set()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert woken[0] >= 40
