"""Helpers shared by test folders (on pytest's ``pythonpath``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def until(cond: Callable[[], bool], limit_s: float = 10.0, what: str = "condition") -> None:
    """Poll ``cond`` (state owned by another object, so there is no Event to wait on); fail after ``limit_s``
    real seconds. A bounded wait for a condition, never a sleep standing in for one."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    while not cond():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)
