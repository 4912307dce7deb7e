"""Per-symbol kline ring buffers in numpy.

Layout: one preallocated float64 array of shape ``(FIELDS, capacity)`` per (symbol, interval), field-major so
a field's history (closes, volumes) is contiguous. Per symbol rather than one big array per interval because
symbols are listed and delisted while running: a ring is allocated on first sight and freed on delisting,
with no slot allocator and no array to grow. 9 fields x 8 bytes x 1000 klines = 72 KB per symbol and interval,
43 MB for 600 symbols.

Closed klines append in O(1); the forming (open) kline is kept as the immutable event itself and replaced in
place; a closed kline that is not newer than the last one is rejected and counted; backfill merges in order.
Sans-I/O: no clock, no sockets, just events in and outcomes out.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from cryptoscan.events import Kline

FloatArray = npt.NDArray[np.float64]

FIELDS = ("open_time", "open", "high", "low", "close", "volume", "quote_volume", "trades", "taker_buy_volume")
OPEN_TIME, OPEN, HIGH, LOW, CLOSE, VOLUME, QUOTE_VOLUME, TRADES, TAKER_BUY_VOLUME = range(len(FIELDS))
NFIELDS = len(FIELDS)


class Outcome(enum.StrEnum):
    """What applying one event did (the feed reacts to GAP by backfilling)."""

    APPENDED = "appended"  # a closed kline, next in line
    GAP = "gap"  # a closed kline appended after a hole: backfill from the previous open_time
    OPENED = "opened"  # a new forming kline
    REPLACED_OPEN = "replaced_open"  # the forming kline updated in place
    DUPLICATE = "duplicate"  # a closed kline we already have (rejected)
    OUT_OF_ORDER = "out_of_order"  # a closed kline older than the newest one (rejected)
    STALE_OPEN = "stale_open"  # a forming kline older than what we hold (rejected)
    UPDATED = "updated"  # a latest-value event (ticker, book top, mark price) stored
    STALE = "stale"  # a latest-value event older than the stored one (rejected)
    IGNORED = "ignored"  # not for this state (other venue, unwatched interval, symbol limit)


def kline_row(k: Kline) -> tuple[float, ...]:
    """The numeric row stored for one kline, in FIELDS order."""
    return (
        float(k.open_time),
        k.open,
        k.high,
        k.low,
        k.close,
        k.volume,
        k.quote_volume,
        float(k.trades),
        k.taker_buy_volume,
    )


def chronological(data: FloatArray, head: int, count: int, n: int) -> FloatArray:
    """A copy of the newest ``n`` (<= count) columns of a ring, oldest first."""
    capacity = data.shape[1]
    start = (head - n) % capacity
    if start + n <= capacity:
        return data[:, start : start + n].copy()
    return np.concatenate((data[:, start:], data[:, :head]), axis=1)


class RingState(NamedTuple):
    """A ring's state at one instant: what a snapshot keeps (references only, no copy)."""

    data: FloatArray  # the live array; snapshots expose it read-only
    head: int
    size: int  # closed klines held
    appended: int  # closed klines ever appended to ``data``
    forming: Kline | None


class KlineRing:
    """The klines of one symbol at one interval."""

    __slots__ = (
        "_appended",
        "_count",
        "_data",
        "_head",
        "_last_open",
        "capacity",
        "duplicates",
        "forming",
        "gaps",
        "interval_ms",
        "last_gap",
        "out_of_order",
        "stale_open",
    )

    def __init__(self, capacity: int, interval_ms: int) -> None:
        if capacity <= 0:
            raise ValueError("capacity must be positive")
        self.capacity = capacity
        self.interval_ms = interval_ms
        self._data: FloatArray = np.zeros((NFIELDS, capacity), dtype=np.float64)
        self._head = 0
        self._count = 0
        self._appended = 0
        self._last_open = -1  # open_time of the newest closed kline
        self.forming: Kline | None = None
        self.duplicates = 0
        self.out_of_order = 0
        self.stale_open = 0
        self.gaps = 0
        self.last_gap: tuple[int, int] | None = None  # open_time of the first and last missing kline

    def __len__(self) -> int:
        return self._count

    @property
    def last_open_time(self) -> int | None:
        """open_time of the newest closed kline (None when empty): where a backfill resumes."""
        return self._last_open if self._count else None

    @property
    def nbytes(self) -> int:
        return int(self._data.nbytes)

    def state(self) -> RingState:
        return RingState(self._data, self._head, self._count, self._appended, self.forming)

    def apply(self, k: Kline) -> Outcome:
        return self.push_closed(k) if k.closed else self.push_open(k)

    def push_closed(self, k: Kline) -> Outcome:
        """Append a closed kline in O(1), unless it is not newer than the newest one."""
        if self._count and k.open_time <= self._last_open:
            if k.open_time == self._last_open:
                self.duplicates += 1
                return Outcome.DUPLICATE
            self.out_of_order += 1
            return Outcome.OUT_OF_ORDER
        gap = self._count > 0 and k.open_time > self._last_open + self.interval_ms
        if gap:
            self.last_gap = (self._last_open + self.interval_ms, k.open_time - self.interval_ms)
        self._write(kline_row(k), k.open_time)
        if self.forming is not None and self.forming.open_time <= k.open_time:
            self.forming = None
        if gap:
            self.gaps += 1
            return Outcome.GAP
        return Outcome.APPENDED

    def push_open(self, k: Kline) -> Outcome:
        """Replace the forming kline; older than the newest closed or forming one is stale."""
        if (self._count and k.open_time <= self._last_open) or (
            self.forming is not None and k.open_time < self.forming.open_time
        ):
            self.stale_open += 1
            return Outcome.STALE_OPEN
        replaced = self.forming is not None and self.forming.open_time == k.open_time
        self.forming = k
        return Outcome.REPLACED_OPEN if replaced else Outcome.OPENED

    def _write(self, row: tuple[float, ...], open_time: int) -> None:
        self._data[:, self._head] = row
        self._head = (self._head + 1) % self.capacity
        if self._count < self.capacity:
            self._count += 1
        self._appended += 1
        self._last_open = open_time

    def backfill(self, klines: Iterable[Kline]) -> int:
        """Merge closed klines (any order) into the ring in open_time order; returns how many were new.

        Newer than everything held: plain appends. Otherwise the merged history is written to a fresh array
        (O(capacity), rare), so snapshots still holding the old array stay valid. Klines we already hold win.
        """
        incoming = sorted((k for k in klines if k.closed), key=lambda k: k.open_time)
        if not incoming:
            return 0
        if not self._count or incoming[0].open_time > self._last_open:
            added = 0
            for k in incoming:
                if not self._count or k.open_time > self._last_open:
                    self._write(kline_row(k), k.open_time)
                    added += 1
            self._drop_closed_forming()
            return added
        held = chronological(self._data, self._head, self._count, self._count)
        have = set(held[OPEN_TIME].astype(np.int64).tolist())
        fresh: dict[int, tuple[float, ...]] = {}
        for k in incoming:
            if k.open_time not in have:
                fresh[k.open_time] = kline_row(k)
        if not fresh:
            return 0
        merged = np.concatenate((held, np.array(list(fresh.values()), dtype=np.float64).T), axis=1)
        merged = merged[:, np.argsort(merged[OPEN_TIME], kind="stable")][:, -self.capacity :]
        self.load(merged)
        oldest = int(merged[OPEN_TIME, 0])
        return sum(1 for t in fresh if t >= oldest)  # those trimmed away were not added

    def load(self, rows: FloatArray) -> None:
        """Replace the history with ``rows`` (``(FIELDS, m)``, oldest first) in a fresh array."""
        if rows.shape[0] != NFIELDS:
            raise ValueError(f"rows must have {NFIELDS} fields")
        rows = rows[:, -self.capacity :]
        m = rows.shape[1]
        data: FloatArray = np.zeros((NFIELDS, self.capacity), dtype=np.float64)
        data[:, :m] = rows
        self._data = data
        self._count = m
        self._head = m % self.capacity
        self._appended = m
        self._last_open = int(rows[OPEN_TIME, -1]) if m else -1
        self._drop_closed_forming()

    def _drop_closed_forming(self) -> None:
        if self.forming is not None and self._count and self.forming.open_time <= self._last_open:
            self.forming = None

    def last_n(self, n: int) -> FloatArray:
        """A copy of the newest ``n`` closed klines, ``(FIELDS, <=n)``, oldest first."""
        return chronological(self._data, self._head, self._count, max(0, min(n, self._count)))
