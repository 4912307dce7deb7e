"""The read path's one stop: every parsed frame from every connection goes through :class:`EventRouter`.

Synchronous and allocation-light, because it runs inside the socket read callback, once per read with all of
its events. Per event it:
- drops exact duplicates of closed klines (GapTracker) and notes the holes they reveal (to backfill);
- counts aggTrade id gaps;
- updates the market state (ring buffers, latest ticker / book / mark price);
- hands the event to the dispatcher: lossy kinds coalesced per key there; never-drop kinds (closed klines,
  user data) straight to the consumers when every one has room and nothing is queued before them, else into
  a reliable FIFO that an async pump drains with backpressure. When that FIFO passes its high-water mark the
  router asks the feed to pause reading, so nothing is dropped: the sockets stop being read and TCP pushes
  back instead.
Forming klines are coalesced per series within one call (one socket read): Binance repeats the forming bar
every update and only its newest value matters, so only that one reaches the market state and the
dispatcher, after the call's other events. A closed kline is handled where it stands and supersedes the
forming values of its bar held so far; it is never coalesced. Other events are routed by a table keyed by
their exact type (no ``isinstance`` chains), and venues are compared as the plain strings events carry.
Nothing here awaits or touches a socket.
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

_VENUES = {str(v): v for v in Venue}
Reliable = Kline | OrderUpdate | AccountUpdate | MarginCall | AccountConfig | ListenKeyExpired


@dataclass(slots=True)
class RouterStats:
    events: int = 0  # items handed to route() (control replies and diffs included)
    coalesced_klines: int = 0  # forming klines superseded within one route() call by a newer value of their series
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
        self._since_lag = 0
        self._pumping = False  # the pump holds a popped never-drop event: later ones must queue behind it
        self._kline_out = dispatcher.targets(Channel.KLINE)
        self._forming: dict[tuple[str, str, str], Kline] = {}  # per call: series -> newest forming kline
        self._handlers: dict[type, Callable[[Any], None]] = {
            Trade: self._trade,
            MiniTicker: self._latest(Channel.MINI_TICKER),
            BookTop: self._latest(Channel.BOOK_TOP),
            Depth: self._latest(Channel.DEPTH),
            Ticker: self._ticker,
            MarkPrice: self._mark,
            **dict.fromkeys(USER_EVENTS, self._reliable),
        }

    def route(self, items: list[Parsed]) -> None:
        """Called by a connection with the events of one socket read (the list is reused by the caller)."""
        handlers = self._handlers
        watch = self.watch
        forming = self._forming
        stats = self.stats
        venue = ""
        venues: list[str] = []
        watched: frozenset[str] = frozenset()
        n_forming = 0
        try:
            for ev in items:
                if type(ev) is Kline:
                    if ev.venue is not venue:  # one venue per connection: looked up again only when it changes
                        venue = ev.venue
                        watched = watch[venue]
                        if venue not in venues:
                            venues.append(venue)
                    if ev.symbol not in watched:
                        stats.unwatched += 1
                    elif ev.closed:
                        self._closed_live(ev)
                    else:
                        forming[(venue, ev.symbol, ev.interval)] = ev
                        n_forming += 1
                else:
                    handler = handlers.get(type(ev))
                    if handler is not None:  # control replies are the connection's; diff depth is not consumed
                        handler(ev)
        finally:  # even if a handler raised: what was held is applied now, never mixed into the next call
            if forming:
                stats.coalesced_klines += n_forming - len(forming)
                self._apply_forming(forming, venues)
        stats.events += len(items)
        self._since_lag += len(items)
        if self._since_lag >= self._lag_every and items:
            self._since_lag = 0
            last = items[-1]
            ts_event = getattr(last, "ts_event", None)
            if ts_event is not None:
                stats.lag_samples.append(last.ts_recv - ts_event)

    # --- per type ---------------------------------------------------------------------------------------
    def _closed_live(self, k: Kline) -> None:
        if self._closed(k, live=True):
            key = (k.venue, k.symbol, k.interval)
            held = self._forming.get(key)
            if held is not None and held.open_time <= k.open_time:  # its bar is over: the closed kline wins
                del self._forming[key]

    def _apply_forming(self, forming: dict[tuple[str, str, str], Kline], venues: list[str]) -> None:
        try:
            if len(venues) == 1:
                stale = self.markets[venues[0]].forming_many(forming.values())
            else:
                stale = []
                for v in venues:
                    stale += self.markets[v].forming_many([k for key, k in forming.items() if key[0] == v])
            for k in stale:  # its bar is closed already: consumers must not see it after the closed kline
                del forming[(k.venue, k.symbol, k.interval)]
            if self._kline_out:
                self.dispatcher.publish_keyed_many(Channel.KLINE, forming)
        finally:
            forming.clear()

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
        verdict = self.gaps.on_closed(_VENUES[k.venue], k.symbol, k.interval, k.open_time)
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
        if not self.reliable and not self._pumping and self.dispatcher.offer_reliable(ev):
            return  # every consumer had room, and nothing was queued before it
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
        self._pumping = True
        try:
            while reliable:
                await self.dispatcher.publish(reliable.popleft())
                n += 1
                if self.paused and len(reliable) <= self.high_water // 2:
                    self.paused = False
                    self._pause(False)
        finally:
            self._pumping = False
        return n
