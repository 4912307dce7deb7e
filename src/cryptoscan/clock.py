"""Time sources. Nothing else in cryptoscan calls ``time.*``: tests drive a ManualClock by hand."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Wall time in epoch milliseconds plus a monotonic reading in seconds."""

    def now_ms(self) -> int: ...

    def monotonic(self) -> float: ...


class LiveClock:
    """The real clock."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def monotonic(self) -> float:
        return time.monotonic()


class ManualClock:
    """A clock that moves only when told to; for tests."""

    def __init__(self, start_ms: int = 1_700_000_000_000) -> None:
        self._ms = start_ms
        self._mono = 0.0

    def now_ms(self) -> int:
        return self._ms

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        self._ms += round(seconds * 1000)
        self._mono += seconds


class ScaledClock:
    """Market time that runs ``speed`` times faster than a base clock, from ``start_ms``.

    The simulator's clock: kline cadence, pings, lifetimes and rate-limit windows all read it,
    so ``--speed 60`` shows an hour of market in a minute.
    """

    def __init__(self, base: Clock, speed: float = 1.0, start_ms: int | None = None) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.base = base
        self.speed = speed
        self._mono0 = base.monotonic()
        self._start_ms = base.now_ms() if start_ms is None else start_ms

    def now_ms(self) -> int:
        return self._start_ms + int((self.base.monotonic() - self._mono0) * 1000 * self.speed)

    def monotonic(self) -> float:
        return (self.base.monotonic() - self._mono0) * self.speed

    def real_seconds(self, market_seconds: float) -> float:
        """How long ``market_seconds`` of market time last on the base clock."""
        return market_seconds / self.speed
