"""Per-symbol market state of one venue, driven by typed events (sans-I/O: ``apply(event) -> Outcome``).

One MarketState per venue: events carry their venue, and one spelling of a symbol means different markets
on spot and futures. Latest values (tickers, mini tickers, book tops, mark prices, depth) are the event
objects themselves (immutable), replaced only by newer ones so a reconnect overlap cannot roll them back.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import TypeVar

import numpy as np

from cryptoscan.events import BookTop, Depth, Event, Kline, MarkPrice, MiniTicker, Ticker
from cryptoscan.market.rings import NFIELDS, KlineRing, Outcome
from cryptoscan.market.snapshot import KlineWindow, MarketSnapshot, RingView, frozen_map, window
from cryptoscan.venues.binance.spec import INTERVAL_MS, Venue

DEFAULT_CAPACITY = 1000
_STALE_OPEN = Outcome.STALE_OPEN


class MarketState:
    """Kline rings and latest values per symbol for one venue."""

    def __init__(
        self,
        venue: Venue | str,
        intervals: Iterable[str] | None = None,
        capacity: int = DEFAULT_CAPACITY,
        max_symbols: int = 2000,
    ) -> None:
        self.venue = str(venue)
        self.intervals = frozenset(intervals) if intervals is not None else frozenset(INTERVAL_MS)
        unknown = self.intervals - set(INTERVAL_MS)
        if unknown:
            raise ValueError(f"unknown intervals: {sorted(unknown)}")
        self.capacity = capacity
        self.max_symbols = max_symbols
        self.rings: dict[str, dict[str, KlineRing]] = {i: {} for i in self.intervals}
        self.tickers: dict[str, dict[str, Ticker]] = {}
        self.mini_tickers: dict[str, MiniTicker] = {}
        self.book_tops: dict[str, BookTop] = {}
        self.mark_prices: dict[str, MarkPrice] = {}
        self.depths: dict[str, Depth] = {}
        self.outcomes: Counter[Outcome] = Counter()
        self.seq = 0  # events applied (any outcome but IGNORED)
        self._symbols: set[str] = set()

    # --- events -------------------------------------------------------------------------------------------
    def apply(self, event: Event) -> Outcome:
        """Fold one event into the state; the outcome says what happened (GAP asks for a backfill)."""
        outcome = self._apply(event)
        self.outcomes[outcome] += 1
        if outcome is not Outcome.IGNORED:
            self.seq += 1
        return outcome

    def _apply(self, event: Event) -> Outcome:
        if isinstance(event, MarkPrice):  # no venue field: futures only
            if self.venue != Venue.FUTURES or not self._admit(event.symbol):
                return Outcome.IGNORED
            return _latest(self.mark_prices, event.symbol, event, event.ts_event)
        venue = getattr(event, "venue", None)
        if venue != self.venue:
            return Outcome.IGNORED
        if isinstance(event, Kline):
            ring = self._ring(event.symbol, event.interval)
            return ring.apply(event) if ring is not None else Outcome.IGNORED
        symbol: str = getattr(event, "symbol", "")
        if not symbol or not self._admit(symbol):
            return Outcome.IGNORED
        if isinstance(event, Ticker):
            return _latest(self.tickers.setdefault(event.window, {}), symbol, event, event.ts_event)
        if isinstance(event, MiniTicker):
            return _latest(self.mini_tickers, symbol, event, event.ts_event)
        if isinstance(event, BookTop):
            return _latest(self.book_tops, symbol, event, event.update_id)
        if isinstance(event, Depth):
            return _latest(self.depths, symbol, event, event.last_update_id)
        return Outcome.IGNORED

    def forming(self, k: Kline) -> None:
        """Hot path for a forming (x=false) kline: replace it in place, no type tests, no outcome count."""
        by_symbol = self.rings.get(k.interval)
        if by_symbol is None:
            return
        ring = by_symbol.get(k.symbol)
        if ring is None:
            ring = self._ring(k.symbol, k.interval)
            if ring is None:
                return
        ring.push_open(k)
        self.seq += 1

    def forming_many(self, klines: Iterable[Kline]) -> list[Kline]:
        """:meth:`forming` for many klines of this venue in one call (the feed's router, once per socket read);
        returns those rejected as stale (older than what the ring holds: their bar is already closed)."""
        rings = self.rings
        stale: list[Kline] = []
        n = 0
        for k in klines:
            by_symbol = rings.get(k.interval)
            if by_symbol is None:
                continue
            ring = by_symbol.get(k.symbol)
            if ring is None:
                ring = self._ring(k.symbol, k.interval)
                if ring is None:
                    continue
            if ring.push_open(k) is _STALE_OPEN:
                stale.append(k)
            n += 1
        self.seq += n
        return stale

    def _admit(self, symbol: str) -> bool:
        if symbol in self._symbols:
            return True
        if len(self._symbols) >= self.max_symbols:
            return False
        self._symbols.add(symbol)
        return True

    def _ring(self, symbol: str, interval: str, create: bool = True) -> KlineRing | None:
        by_symbol = self.rings.get(interval)
        if by_symbol is None:
            return None
        ring = by_symbol.get(symbol)
        if ring is None and create and self._admit(symbol):
            ring = by_symbol[symbol] = KlineRing(self.capacity, INTERVAL_MS[interval])
        return ring

    def backfill(self, symbol: str, interval: str, klines: Iterable[Kline]) -> int:
        """Merge REST klines into a ring in order; returns how many were new."""
        ring = self._ring(symbol, interval)
        if ring is None:
            return 0
        added = ring.backfill(klines)
        if added:
            self.seq += 1
        return added

    def remove_symbol(self, symbol: str) -> None:
        """Forget a delisted symbol and free its rings."""
        self._symbols.discard(symbol)
        for by_symbol in self.rings.values():
            by_symbol.pop(symbol, None)
        self.mini_tickers.pop(symbol, None)
        self.book_tops.pop(symbol, None)
        self.mark_prices.pop(symbol, None)
        self.depths.pop(symbol, None)
        for by_symbol_ticker in self.tickers.values():
            by_symbol_ticker.pop(symbol, None)

    # --- reads --------------------------------------------------------------------------------------------
    @property
    def symbols(self) -> frozenset[str]:
        return frozenset(self._symbols)

    def ring(self, symbol: str, interval: str) -> KlineRing | None:
        return self._ring(symbol, interval, create=False)

    def last_n(self, symbol: str, interval: str, n: int, include_open: bool = False) -> KlineWindow:
        """The newest ``n`` klines as read-only arrays (``.close``, ``.volume``, ...), oldest first."""
        ring = self.ring(symbol, interval)
        if ring is None:
            return KlineWindow(np.zeros((NFIELDS, 0), dtype=np.float64))
        return window(ring.state(), n, include_open)

    def nbytes(self) -> int:
        """Bytes held by kline arrays."""
        return sum(r.nbytes for by_symbol in self.rings.values() for r in by_symbol.values())

    def rejected(self) -> dict[str, int]:
        """Rejected klines per reason, over all rings."""
        out: Counter[str] = Counter()
        for by_symbol in self.rings.values():
            for r in by_symbol.values():
                out["duplicate"] += r.duplicates
                out["out_of_order"] += r.out_of_order
                out["stale_open"] += r.stale_open
                out["gaps"] += r.gaps
        return dict(out)

    def snapshot(self) -> MarketSnapshot:
        """An immutable snapshot: ring references and dict copies, no array data copied."""
        rings = {
            interval: frozen_map({s: RingView(r, r.state()) for s, r in by_symbol.items()})
            for interval, by_symbol in self.rings.items()
        }
        return MarketSnapshot(
            venue=self.venue,
            seq=self.seq,
            rings=frozen_map(rings),
            tickers=frozen_map({w: frozen_map(t) for w, t in self.tickers.items()}),
            mini_tickers=frozen_map(self.mini_tickers),
            book_tops=frozen_map(self.book_tops),
            mark_prices=frozen_map(self.mark_prices),
            depths=frozen_map(self.depths),
        )


T = TypeVar("T", Ticker, MiniTicker, BookTop, MarkPrice, Depth)


def _latest(table: dict[str, T], symbol: str, event: T, order: int) -> Outcome:
    """Store ``event`` unless the stored one is newer (reconnect overlaps must not roll values back)."""
    old = table.get(symbol)
    if old is not None and _order(old) > order:
        return Outcome.STALE
    table[symbol] = event
    return Outcome.UPDATED


def _order(event: object) -> int:
    if isinstance(event, BookTop):
        return event.update_id
    if isinstance(event, Depth):
        return event.last_update_id
    return int(getattr(event, "ts_event", 0))
