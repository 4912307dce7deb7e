"""Proactive rotation before Binance's 24 h connection limit, and on ``serverShutdown``: make-before-break.

Driven by: :meth:`Rotator.opened` when a connection becomes LIVE (its rotation time is drawn then),
:meth:`Rotator.server_shutdown` when one announces shutdown, and :meth:`Rotator.due` on a timer (``now`` ms).
A due connection gets a :class:`Handover`: call :meth:`Handover.start` (returns an :class:`Open` action: open
a replacement and subscribe the same streams), :meth:`Handover.on_new_live` when the replacement is LIVE, and
:meth:`Handover.poll`: once ``overlap_ms`` has passed it returns a :class:`Close` for the old connection.
The old one is never closed before the new one is LIVE; if the replacement fails, :meth:`Handover.on_new_failed`
aborts and the old connection keeps serving until the next attempt.

Times are market time when the Clock is a ``ScaledClock``, so ``lifetime_ms`` and the jitter scale with it.

:class:`Deduplicator` filters the overlap (both sockets deliver the same data for a moment):
klines by (venue, symbol, interval, open_time): an open kline passes only if newer than the last one passed
(last-wins, never after its close), a closed kline exactly once; trades exactly once by (venue, symbol, id).
Memory is bounded per series.
"""

from __future__ import annotations

import enum
import random
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import TypeVar

from cryptoscan.events import Kline, Trade

_K = TypeVar("_K", bound=Hashable)


@dataclass(frozen=True, slots=True)
class RotationPolicy:
    lifetime_ms: int = 86_400_000
    rotate_after_ms: int = 82_800_000  # 23 h
    jitter_ms: int = 900_000  # +/- 15 min, so shards opened together do not rotate together
    overlap_ms: int = 2_000  # keep the old socket this long after the new one is LIVE

    def __post_init__(self) -> None:
        if self.rotate_after_ms + self.jitter_ms >= self.lifetime_ms:
            raise ValueError("rotation must happen before the lifetime ends, jitter included")

    def scaled(self, lifetime_ms: int) -> RotationPolicy:
        """The same policy for another lifetime (a simulator may cut it short): every time scales."""
        k = lifetime_ms / self.lifetime_ms
        return RotationPolicy(
            lifetime_ms, round(self.rotate_after_ms * k), round(self.jitter_ms * k), round(self.overlap_ms * k)
        )


@dataclass(frozen=True, slots=True)
class Open:
    connection_id: str  # the replacement
    replaces: str
    streams: frozenset[str]


@dataclass(frozen=True, slots=True)
class Close:
    connection_id: str


class HandoverPhase(enum.Enum):
    PENDING = "PENDING"
    AWAIT_LIVE = "AWAIT_LIVE"  # replacement opening / subscribing; old still serving
    OVERLAP = "OVERLAP"  # both serving; the Deduplicator drops the doubles
    DONE = "DONE"  # old closed
    ABORTED = "ABORTED"  # replacement failed; old (if alive) keeps serving


class Handover:
    """One make-before-break rotation of ``old`` to ``new``."""

    def __init__(self, old: str, new: str, streams: frozenset[str], overlap_ms: int) -> None:
        self.old = old
        self.new = new
        self.streams = streams
        self.overlap_ms = overlap_ms
        self.phase = HandoverPhase.PENDING
        self.old_alive = True
        self._close_at: int | None = None

    def _expect(self, *phases: HandoverPhase) -> None:
        if self.phase not in phases:
            raise RuntimeError(f"handover {self.old}->{self.new} is {self.phase.value}")

    def start(self) -> Open:
        self._expect(HandoverPhase.PENDING)
        self.phase = HandoverPhase.AWAIT_LIVE
        return Open(self.new, self.old, self.streams)

    def on_new_live(self, now: int) -> None:
        self._expect(HandoverPhase.AWAIT_LIVE)
        self.phase = HandoverPhase.OVERLAP
        self._close_at = now + self.overlap_ms

    def on_old_closed(self) -> None:
        """The server closed the old one first (after serverShutdown): nothing left to close."""
        self.old_alive = False

    def on_new_failed(self) -> None:
        self._expect(HandoverPhase.AWAIT_LIVE)
        self.phase = HandoverPhase.ABORTED

    def poll(self, now: int) -> list[Close]:
        if self.phase is not HandoverPhase.OVERLAP or self._close_at is None or now < self._close_at:
            return []
        self.phase = HandoverPhase.DONE
        return [Close(self.old)] if self.old_alive else []


class Rotator:
    """When each connection should rotate; ``rand`` is injectable for tests."""

    def __init__(self, policy: RotationPolicy | None = None, rand: Callable[[], float] = random.random) -> None:
        self.policy = policy or RotationPolicy()
        self._rand = rand
        self._due: dict[str, int] = {}

    def opened(self, connection_id: str, now: int) -> int:
        """Record a new connection; returns the time it should rotate."""
        jitter = round((2.0 * self._rand() - 1.0) * self.policy.jitter_ms)
        at = now + self.policy.rotate_after_ms + jitter
        self._due[connection_id] = at
        return at

    def server_shutdown(self, connection_id: str, now: int) -> None:
        if connection_id in self._due:
            self._due[connection_id] = min(self._due[connection_id], now)

    def forget(self, connection_id: str) -> None:
        self._due.pop(connection_id, None)

    def due(self, now: int) -> list[str]:
        """Connections to rotate now (each reported once: it is forgotten until ``opened`` again)."""
        out = sorted(c for c, at in self._due.items() if at <= now)
        for c in out:
            del self._due[c]
        return out

    def next_at(self) -> int | None:
        return min(self._due.values()) if self._due else None

    def handover(self, old: str, new: str, streams: frozenset[str]) -> Handover:
        return Handover(old, new, streams, self.policy.overlap_ms)


class Deduplicator:
    """Drops the doubles two overlapping connections deliver; ``window`` entries are kept per series."""

    def __init__(self, window: int = 1024, max_series: int = 100_000) -> None:
        self.window = window
        self.max_series = max_series
        self._closed: OrderedDict[tuple[str, str, str], tuple[set[int], deque[int]]] = OrderedDict()
        self._open: OrderedDict[tuple[str, str, str], tuple[int, int]] = OrderedDict()
        self._trades: OrderedDict[tuple[str, str, bool], tuple[set[int], deque[int]]] = OrderedDict()
        self.dropped = 0

    def _remember(self, table: OrderedDict[_K, tuple[set[int], deque[int]]], key: _K, value: int) -> bool:
        entry = table.get(key)
        if entry is None:
            entry = (set(), deque())
            table[key] = entry
            if len(table) > self.max_series:
                table.popitem(last=False)
        else:
            table.move_to_end(key)
        seen, order = entry
        if value in seen:
            self.dropped += 1
            return False
        seen.add(value)
        order.append(value)
        if len(order) > self.window:
            seen.discard(order.popleft())
        return True

    def kline(self, k: Kline) -> bool:
        """True if ``k`` should pass on."""
        key = (k.venue, k.symbol, k.interval)
        if k.closed:
            return self._remember(self._closed, key, k.open_time)
        entry = self._closed.get(key)
        if entry is not None and k.open_time in entry[0]:
            self.dropped += 1
            return False
        last = self._open.get(key)
        if last is not None and (k.open_time, k.ts_event) <= last:
            self.dropped += 1
            return False
        self._open[key] = (k.open_time, k.ts_event)
        if len(self._open) > self.max_series:
            self._open.popitem(last=False)
        return True

    def trade(self, t: Trade) -> bool:
        return self._remember(self._trades, (t.venue, t.symbol, t.aggregated), t.trade_id)
