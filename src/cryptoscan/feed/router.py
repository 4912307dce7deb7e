"""The read path's one stop: every parsed frame from every connection goes through :class:`EventRouter`.

Synchronous and allocation-light, because it runs inside the socket read callback. Per event it:
- drops exact duplicates of closed klines (GapTracker) and notes the holes they reveal (to backfill);
- counts aggTrade id gaps;
- updates the market state (ring buffers, latest ticker / book / mark price);
- hands the event to the dispatcher: lossy kinds coalesced per key there, and never-drop kinds (closed klines,
  user data) into a reliable FIFO that an async pump drains with backpressure. When that FIFO passes its
  high-water mark the router asks the feed to pause reading, so nothing is dropped: the sockets stop being
  read and TCP pushes back instead.
Events are routed by a table keyed by their exact type (no ``isinstance`` chains), and venues are compared as
the plain strings events carry. Nothing here awaits or touches a socket.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from cryptoscan.events import (
    USER_EVENTS,
    AccountConfig,
    AccountUpdate,
    BookTop,
    Depth,
    Kline,
    ListenKeyExpired,
    MarginCall,
    MarkPrice,
    MiniTicker,
    OrderUpdate,
    Ticker,
    Trade,
    Venue,
)
from cryptoscan.feed.dispatch import Channel, Dispatcher
from cryptoscan.feed.gaps import AggTradeGaps, GapTracker, KlineRequest
from cryptoscan.market.state import MarketState
from cryptoscan.venues.binance.parser import Parsed

Reliable = Kline | OrderUpdate | AccountUpdate | MarginCall | AccountConfig | ListenKeyExpired


@dataclass(slots=True)
class RouterStats:
    events: int = 0  # items handed to route() (control replies and diffs included)
    closed_klines: int = 0
    duplicate_klines: int = 0
    backfilled_klines: int = 0
    agg_trade_gaps: int = 0
    agg_trade_missing: int = 0
    duplicate_trades: int = 0
    unwatched: int = 0  # events for symbols we do not watch (all-market arrays carry every symbol)
    reliable_high_water: int = 0
    lag_samples: deque[int] = field(default_factory=lambda: deque(maxlen=4096))


class EventRouter:
    """Routes parsed events to gap tracking, market state and consumers."""

    def __init__(
        self,
        markets: dict[Venue, MarketState],
        dispatcher: Dispatcher,
        gaps: GapTracker,
        on_backfill: Callable[[Iterable[KlineRequest]], None],
        pause: Callable[[bool], None],
        notify: Callable[[], None] = lambda: None,
        high_water: int = 20_000,
        lag_every: int = 64,
    ) -> None:
        self.markets: dict[str, MarketState] = {str(v): m for v, m in markets.items()}
        self.dispatcher = dispatcher
        self.gaps = gaps
        self.trade_gaps = AggTradeGaps()
        self.on_backfill = on_backfill
        self._pause = pause
        self._notify = notify  # wakes the pump task when a never-drop event is queued
        self.high_water = high_water
        self.reliable: deque[Reliable] = deque()
        self.paused = False
        self.stats = RouterStats()
        # Symbols we watch per venue: all-market arrays (!miniTicker@arr, !markPrice@arr) carry every listed
        # symbol, and only the selected ones belong in the market state and in front of consumers.
        self.watch: dict[str, frozenset[str]] = {str(v): frozenset() for v in markets}
        self._lag_every = lag_every
        self._frames = 0
        self._kline_out = dispatcher.targets(Channel.KLINE)
        self._handlers: dict[type, Callable[[Any], None]] = {
            Kline: self._kline,
            Trade: self._trade,
            MiniTicker: self._latest(Channel.MINI_TICKER),
            BookTop: self._latest(Channel.BOOK_TOP),
            Depth: self._latest(Channel.DEPTH),
            Ticker: self._ticker,
            MarkPrice: self._mark,
            **dict.fromkeys(USER_EVENTS, self._reliable),
        }

    def route(self, items: list[Parsed]) -> None:
        """Called by a connection with one frame's events (the list is reused by the caller)."""
        handlers = self._handlers
        for ev in items:
            handler = handlers.get(type(ev))
            if handler is not None:  # control replies are the connection's; diff depth is not consumed
                handler(ev)
        stats = self.stats
        stats.events += len(items)
        self._frames += 1
        if self._frames % self._lag_every == 0 and items:
            last = items[-1]
            ts_event = getattr(last, "ts_event", None)
            if ts_event is not None:
                stats.lag_samples.append(last.ts_recv - ts_event)

    # --- per type ---------------------------------------------------------------------------------------
    def _kline(self, k: Kline) -> None:
        if k.symbol not in self.watch[k.venue]:
            self.stats.unwatched += 1
        elif k.closed:
            self._closed(k, live=True)
        else:
            self.markets[k.venue].forming(k)
            if self._kline_out:
                self.dispatcher.publish_keyed(Channel.KLINE, (k.venue, k.symbol, k.interval), k)

    def _trade(self, t: Trade) -> None:
        if t.symbol not in self.watch[t.venue]:
            self.stats.unwatched += 1
            return
        if t.aggregated:
            missed = self.trade_gaps.on_trade(t.venue, t.symbol, t.trade_id)
            if missed:
                if missed < 0:  # a repeat: consumers must not count a trade twice
                    self.stats.duplicate_trades += 1
                    return
                self.stats.agg_trade_gaps += 1
                self.stats.agg_trade_missing += missed
        self.dispatcher.publish_nowait(t)

    def _latest(self, channel: Channel) -> Callable[[MiniTicker | BookTop | Depth], None]:
        out = self.dispatcher.targets(channel)

        def handle(ev: MiniTicker | BookTop | Depth) -> None:
            if ev.symbol not in self.watch[ev.venue]:
                self.stats.unwatched += 1
                return
            self.markets[ev.venue].apply(ev)
            if out:
                self.dispatcher.publish_keyed(channel, (ev.venue, ev.symbol), ev)

        return handle

    def _ticker(self, ev: Ticker) -> None:
        if ev.symbol not in self.watch[ev.venue]:
            self.stats.unwatched += 1
            return
        self.markets[ev.venue].apply(ev)
        self.dispatcher.publish_nowait(ev)

    def _mark(self, ev: MarkPrice) -> None:  # futures only: mark prices carry no venue
        if ev.symbol not in self.watch[Venue.FUTURES]:
            self.stats.unwatched += 1
            return
        self.markets[Venue.FUTURES].apply(ev)
        self.dispatcher.publish_nowait(ev)

    # --- closed klines: exactly once, in the market state and to consumers -----------------------------
    def backfilled(self, klines: Iterable[Kline]) -> None:
        """Closed klines fetched over REST to fill a hole: same path as live ones, so they are never doubled."""
        for k in klines:
            if self._closed(k, live=False):
                self.stats.backfilled_klines += 1

    def _closed(self, k: Kline, live: bool) -> bool:
        stats = self.stats
        verdict = self.gaps.on_closed(Venue(k.venue), k.symbol, k.interval, k.open_time)
        if not verdict.accept:
            stats.duplicate_klines += 1
            return False
        if verdict.requests:
            self.on_backfill(verdict.requests)
        market = self.markets[k.venue]
        if live:
            market.apply(k)
        else:
            market.backfill(k.symbol, k.interval, (k,))
        stats.closed_klines += 1
        self._reliable(k)
        return True

    def _reliable(self, ev: Reliable) -> None:
        self.reliable.append(ev)
        self._notify()
        if not self.paused and len(self.reliable) >= self.high_water:
            self.paused = True
            self.stats.reliable_high_water += 1
            self._pause(True)

    async def pump(self) -> int:
        """Move queued never-drop events into the dispatcher, waiting for consumers; returns how many."""
        n = 0
        reliable = self.reliable
        while reliable:
            await self.dispatcher.publish(reliable.popleft())
            n += 1
            if self.paused and len(reliable) <= self.high_water // 2:
                self.paused = False
                self._pause(False)
        return n
