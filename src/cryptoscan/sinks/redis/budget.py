"""A per-minute call budget, sans-I/O: at most ``per_minute`` calls in any sliding 60 s window of ``now_ms``.

Used by the Redis reader before it falls back to the exchange's REST API, so a burst of cache misses cannot
spend the process's request weight. Memory: one timestamp per call in the window (at most ``per_minute``).
"""

from __future__ import annotations

from collections import deque

WINDOW_MS = 60_000


class CallBudget:
    def __init__(self, per_minute: int) -> None:
        if per_minute < 0:
            raise ValueError("per_minute must be >= 0")
        self.per_minute = per_minute
        self._calls: deque[int] = deque()

    def remaining(self, now_ms: int) -> int:
        calls = self._calls
        while calls and calls[0] <= now_ms - WINDOW_MS:
            calls.popleft()
        return self.per_minute - len(calls)

    def try_acquire(self, now_ms: int) -> bool:
        """Spend one call if the window has room; False (nothing spent) otherwise."""
        if self.remaining(now_ms) <= 0:
            return False
        self._calls.append(now_ms)
        return True
