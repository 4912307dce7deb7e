"""An immutable view of the market at one instant, cheap enough to take on every scan.

Why views and not copies: copying every ring (43 MB per interval for 600 symbols) on every scan would cost
more than the scan. A snapshot keeps *references* (each ring's array, head, count and append counter, plus
the immutable forming kline and dict copies of the latest values): O(rings) small tuples, no array data.
Arrays handed out are read-only views (writing raises ``ValueError``); series come out of :meth:`last_n`
as read-only chronological copies. Later appends overwrite a ring's oldest slots in place, so a snapshot
stays exact for its newest ``capacity - appends since`` klines; asking for more raises
:class:`SnapshotExpired` rather than silently mixing times. Backfill swaps in a fresh array, which leaves
old snapshots untouched. Take a snapshot, use it, drop it: that is always exact.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from cryptoscan.events import BookTop, Depth, MarkPrice, MiniTicker, Ticker
from cryptoscan.market.rings import (
    CLOSE,
    HIGH,
    LOW,
    NFIELDS,
    OPEN,
    OPEN_TIME,
    QUOTE_VOLUME,
    TAKER_BUY_VOLUME,
    TRADES,
    VOLUME,
    FloatArray,
    KlineRing,
    RingState,
    chronological,
    kline_row,
)


class SnapshotExpired(LookupError):
    """The ring has since overwritten klines this snapshot would need."""


def _readonly(a: FloatArray) -> FloatArray:
    a.flags.writeable = False
    return a


class KlineWindow:
    """The newest klines of one symbol, oldest first; every array read-only."""

    __slots__ = ("rows",)

    def __init__(self, rows: FloatArray) -> None:
        self.rows = _readonly(rows)

    def __len__(self) -> int:
        return int(self.rows.shape[1])

    def _field(self, index: int) -> FloatArray:
        row: FloatArray = self.rows[index]
        return row

    @property
    def open_time(self) -> npt.NDArray[np.int64]:
        times: npt.NDArray[np.int64] = self._field(OPEN_TIME).astype(np.int64)
        times.flags.writeable = False
        return times

    @property
    def open(self) -> FloatArray:
        return self._field(OPEN)

    @property
    def high(self) -> FloatArray:
        return self._field(HIGH)

    @property
    def low(self) -> FloatArray:
        return self._field(LOW)

    @property
    def close(self) -> FloatArray:
        return self._field(CLOSE)

    @property
    def volume(self) -> FloatArray:
        return self._field(VOLUME)

    @property
    def quote_volume(self) -> FloatArray:
        return self._field(QUOTE_VOLUME)

    @property
    def trades(self) -> FloatArray:
        return self._field(TRADES)

    @property
    def taker_buy_volume(self) -> FloatArray:
        return self._field(TAKER_BUY_VOLUME)


def window(state: RingState, n: int, include_open: bool = False) -> KlineWindow:
    """The newest ``n`` klines from a ring state (``include_open``: the forming kline counts as the newest)."""
    forming = state.forming if include_open else None
    closed = max(0, min(n - (forming is not None), state.size))
    rows = chronological(state.data, state.head, state.size, closed)
    if forming is not None and n > 0:
        rows = np.concatenate((rows, np.array(kline_row(forming), dtype=np.float64).reshape(NFIELDS, 1)), axis=1)
    return KlineWindow(rows)


@dataclass(frozen=True, slots=True)
class RingView:
    """One ring as a snapshot saw it."""

    ring: KlineRing
    state: RingState

    def available(self) -> int:
        """How many of this snapshot's klines the live ring has not overwritten since."""
        live = self.ring.state()
        if live.data is not self.state.data:
            return self.state.size  # backfill swapped arrays: ours is frozen for good
        since = live.appended - self.state.appended
        return max(0, self.state.size - max(0, self.state.size + since - self.ring.capacity))

    @property
    def data(self) -> FloatArray:
        """The ring's array, read-only, in ring order (``state.head`` is the next write slot)."""
        return _readonly(self.state.data.view())

    def last_n(self, n: int, include_open: bool = False) -> KlineWindow:
        closed = min(n - (include_open and self.state.forming is not None), self.state.size)
        if closed > self.available():
            raise SnapshotExpired(f"asked for {closed} klines, {self.available()} still intact")
        return window(self.state, n, include_open)


@dataclass(frozen=True, slots=True)
class MarketSnapshot:
    """Latest values and kline rings of one venue at ``seq`` (the state's event counter when taken)."""

    venue: str
    seq: int
    rings: Mapping[str, Mapping[str, RingView]]  # interval -> symbol -> view
    tickers: Mapping[str, Mapping[str, Ticker]]  # window ("24h", "1h", ...) -> symbol -> ticker
    mini_tickers: Mapping[str, MiniTicker]
    book_tops: Mapping[str, BookTop]
    mark_prices: Mapping[str, MarkPrice]
    depths: Mapping[str, Depth]

    @property
    def symbols(self) -> frozenset[str]:
        out: set[str] = set()
        for by_symbol in self.rings.values():
            out.update(by_symbol)
        return frozenset(out)

    def ring(self, symbol: str, interval: str) -> RingView | None:
        by_symbol = self.rings.get(interval)
        return by_symbol.get(symbol) if by_symbol is not None else None

    def last_n(self, symbol: str, interval: str, n: int, include_open: bool = False) -> KlineWindow:
        """The newest ``n`` klines (empty when the symbol has none); raises SnapshotExpired if overwritten."""
        view = self.ring(symbol, interval)
        if view is None:
            return KlineWindow(np.zeros((NFIELDS, 0), dtype=np.float64))
        return view.last_n(n, include_open)


K = TypeVar("K")
V = TypeVar("V")


def frozen_map(d: dict[K, V]) -> Mapping[K, V]:
    """A read-only copy: later updates to ``d`` do not show, writes raise TypeError."""
    return MappingProxyType(dict(d))
