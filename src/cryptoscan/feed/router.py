"""The read path's one stop: every parsed frame from every connection goes through :class:`EventRouter`.

Synchronous and allocation-light, because it runs inside the socket read callback. Per event it:
- drops exact duplicates of closed klines (GapTracker) and notes the holes they reveal (to backfill);
- counts aggTrade id gaps;
- updates the market state (ring buffers, latest ticker / book / mark price);
- hands the event to the dispatcher: lossy kinds with ``publish_nowait`` (coalesced per symbol there), and
  never-drop kinds (closed klines, user data) into a reliable FIFO that an async pump drains with
  backpressure. When that FIFO passes its high-water mark the router asks the feed to pause reading, so
  nothing is dropped: the sockets stop being read and TCP pushes back instead.
Nothing here awaits or touches a socket.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from cryptoscan.events import (
    AccountConfig,
    AccountUpdate,
    Kline,
    ListenKeyExpired,
    MarginCall,
    OrderUpdate,
    Trade,
    Venue,
)
from cryptoscan.feed.dispatch import Dispatcher
from cryptoscan.feed.gaps import AggTradeGaps, GapTracker, KlineRequest
from cryptoscan.market.state import MarketState
from cryptoscan.venues.binance.parser import ControlReply, DepthDiff, Parsed

_USER = (OrderUpdate, AccountUpdate, MarginCall, AccountConfig, ListenKeyExpired)


@dataclass(slots=True)
class RouterStats:
    events: int = 0
    closed_klines: int = 0
    duplicate_klines: int = 0
    backfilled_klines: int = 0
    agg_trade_gaps: int = 0
    agg_trade_missing: int = 0
    reliable_high_water: int = 0
    lag_samples: deque[int] = field(default_factory=lambda: deque(maxlen=4096))
    by_kind: Counter[str] = field(default_factory=Counter)


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
        self.markets = markets
        self.dispatcher = dispatcher
        self.gaps = gaps
        self.trade_gaps = AggTradeGaps()
        self.on_backfill = on_backfill
        self._pause = pause
        self._notify = notify  # wakes the pump task when a never-drop event is queued
        self.high_water = high_water
        self.reliable: deque[Kline | OrderUpdate | AccountUpdate | MarginCall | AccountConfig | ListenKeyExpired] = (
            deque()
        )
        self.paused = False
        self.stats = RouterStats()
        # Symbols we watch per venue: all-market arrays (!miniTicker@arr, !markPrice@arr) carry every listed
        # symbol, and only the selected ones belong in the market state and in front of consumers.
        self.watch: dict[Venue, frozenset[str]] = {v: frozenset() for v in markets}
        self._lag_every = lag_every
        self._n = 0

    def route(self, items: list[Parsed]) -> None:
        """Called by a connection with one frame's events (the list is reused by the caller)."""
        stats = self.stats
        watch = self.watch
        for ev in items:
            if isinstance(ev, _USER):  # account events: never filtered, never dropped
                self._reliable(ev)
                stats.events += 1
                continue
            if isinstance(ev, (ControlReply, DepthDiff)):
                continue  # control replies are the connection's business; diff depth is not consumed here
            symbol = getattr(ev, "symbol", None)
            if symbol is not None and symbol not in watch[Venue(getattr(ev, "venue", Venue.FUTURES))]:
                stats.by_kind["unwatched"] += 1
                continue
            if isinstance(ev, Kline):
                if ev.closed:
                    self._closed(ev, live=True)
                    continue
                self.markets[Venue(ev.venue)].apply(ev)
                self.dispatcher.publish_nowait(ev)
            elif isinstance(ev, Trade):
                if ev.aggregated:
                    missed = self.trade_gaps.on_trade(Venue(ev.venue), ev.symbol, ev.trade_id)
                    if missed:
                        stats.agg_trade_gaps += 1
                        stats.agg_trade_missing += missed
                self.dispatcher.publish_nowait(ev)
            else:
                venue = getattr(ev, "venue", None)
                if venue is not None:
                    self.markets[Venue(venue)].apply(ev)
                else:  # mark prices are futures-only
                    self.markets[Venue.FUTURES].apply(ev)
                self.dispatcher.publish_nowait(ev)
            stats.events += 1
            self._n += 1
            if self._n % self._lag_every == 0:
                stats.lag_samples.append(ev.ts_recv - ev.ts_event)

    def backfilled(self, klines: Iterable[Kline]) -> None:
        """Closed klines fetched over REST to fill a hole: same path as live ones, so they are never doubled."""
        for k in klines:
            if self._closed(k, live=False):
                self.stats.backfilled_klines += 1

    def _closed(self, k: Kline, live: bool) -> bool:
        stats = self.stats
        stats.events += 1
        venue = Venue(k.venue)
        verdict = self.gaps.on_closed(venue, k.symbol, k.interval, k.open_time)
        if not verdict.accept:
            stats.duplicate_klines += 1
            return False
        if verdict.requests:
            self.on_backfill(verdict.requests)
        market = self.markets[venue]
        if live:
            market.apply(k)
        else:
            market.backfill(k.symbol, k.interval, (k,))
        stats.closed_klines += 1
        self._reliable(k)
        return True

    def _reliable(
        self, ev: Kline | OrderUpdate | AccountUpdate | MarginCall | AccountConfig | ListenKeyExpired
    ) -> None:
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
