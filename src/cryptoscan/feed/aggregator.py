"""``BinanceWebSocketAggregator``: the whole USDT market of Binance spot and USD-M futures, gap-free.

Start-up: discover the pairs (REST exchangeInfo + 24 h tickers, filtered), load ``klines_buffer_size`` closed
klines of history per pair and interval over REST within the weight budget, then open sharded WebSocket
connections (at most one new one per second per venue) and stream. While running: every closed kline goes
through the gap tracker, so a reconnect, rotation or stall is followed by a REST backfill of exactly the bars
that were missed; discovery re-runs periodically and subscribes new listings and unsubscribes delistings.

Consumers register callbacks (sync or async) and never block the read loop: see ``feed/dispatch.py``.
The composition root (``app.py``) builds this from config; tests build it directly against ``cryptoscan sim``.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import SecretStr

from cryptoscan.clock import Clock, LiveClock
from cryptoscan.events import ConnectionStatus, Venue
from cryptoscan.feed.backfill import Backfiller
from cryptoscan.feed.conn_parts import ConnOptions
from cryptoscan.feed.connection import StreamConnection
from cryptoscan.feed.dispatch import Channel, Consumer, Dispatcher, FeedError
from cryptoscan.feed.gaps import GapTracker, KlineRequest
from cryptoscan.feed.rest import BinanceRest
from cryptoscan.feed.router import EventRouter
from cryptoscan.feed.shards import ConnectGate, ShardKey, ShardPlanner
from cryptoscan.feed.status import FeedStatus, build_status
from cryptoscan.feed.userdata import UserDataStream
from cryptoscan.feed.watchdog import Watchdog
from cryptoscan.market.snapshot import KlineWindow, MarketSnapshot
from cryptoscan.market.state import MarketState
from cryptoscan.venues.binance import spec
from cryptoscan.venues.binance.discovery import Selection, SelectionRules, discover
from cryptoscan.venues.binance.parser import FrameParser

Callback = Callable[[Any], Awaitable[None] | None]


@dataclass(slots=True)
class FeedSettings:
    """The aggregator's knobs; names follow the product's ``data_aggregator`` and ``bot`` config sections."""

    exchange_url: str | None = None  # None: live Binance; else one base URL serving everything (the sim)
    venues: tuple[Venue, ...] = (Venue.SPOT, Venue.FUTURES)
    max_workers: int = 4  # REST requests in flight (history load and backfill)
    chunk_size: int = 200  # streams per connection
    min_volume_24h: float = 1_000_000.0
    min_price_change: float = 0.0
    max_pairs: int | None = 600  # per venue, top by quote volume
    analyze_all_usdt_pairs: bool = True
    trading_pairs: Sequence[str] = ()
    intervals: tuple[str, ...] = ("1m",)
    symbol_streams: tuple[str, ...] = ()  # extra per-symbol kinds, e.g. ("aggTrade", "depth20@100ms", "bookTicker")
    market_streams: bool = True  # !miniTicker@arr on each venue, !markPrice@arr@1s on futures
    klines_buffer_size: int = 1000
    history_bars: int | None = None  # history loaded per series at start (None: klines_buffer_size)
    discovery_interval_s: float = 3600.0
    max_reconnections: int = 10
    backfill_share: float = 0.5  # of each venue's REST weight budget
    # Watchdog: a stream is stale after multiple × its cadence + grace of silence, a connection after silence_ms.
    # Clock ms: against an accelerated sim (which thins snapshot streams) give a larger grace.
    stale_multiple: float = 3.0
    stale_grace_ms: int = 5_000
    silence_ms: int = 30_000
    # The connection de-duplicates during a rotation's overlap; outside it, repeated aggTrades and closed
    # klines are dropped by the router (ids and open times), which is far cheaper than filtering every frame.
    dedup: bool = False
    api_key: SecretStr | None = None  # futures user data (listenKey) when set; from the environment, never logged
    rand: random.Random = field(default_factory=random.Random)


class BinanceWebSocketAggregator:
    """Streams every selected USDT pair; see the module docstring."""

    def __init__(
        self,
        max_workers: int = 4,
        chunk_size: int = 200,
        min_volume_24h: float = 1_000_000.0,
        max_pairs: int | None = 600,
        *,
        settings: FeedSettings | None = None,
        clock: Clock | None = None,
        **overrides: Any,
    ) -> None:
        s = settings or FeedSettings()
        s.max_workers, s.chunk_size, s.min_volume_24h, s.max_pairs = max_workers, chunk_size, min_volume_24h, max_pairs
        for key, value in overrides.items():
            if not hasattr(s, key):
                raise TypeError(f"unknown setting {key!r}")
            setattr(s, key, value)
        self.settings = s
        self.clock: Clock = clock or LiveClock()
        self.dispatcher = Dispatcher()
        self.gaps = GapTracker()
        self.markets = {v: MarketState(v, s.intervals, capacity=s.klines_buffer_size) for v in s.venues}
        self._wake = asyncio.Event()
        self.router = EventRouter(
            self.markets, self.dispatcher, self.gaps, self._backfill, self._pause, notify=self._wake.set
        )
        self.rest = BinanceRest(s.exchange_url, clock=self.clock)
        self.backfiller = Backfiller(
            self.rest, self.clock, self.router.backfilled, max_in_flight=s.max_workers, share=s.backfill_share
        )
        self.parsers = {v: FrameParser(v) for v in s.venues}
        self.planner = ShardPlanner(chunk_size=s.chunk_size)
        self.gate = ConnectGate()
        self.selections: dict[Venue, Selection] = {}
        self.connections: dict[str, StreamConnection] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._bg: list[asyncio.Task[Any]] = []
        self._statuses: dict[str, ConnectionStatus] = {}
        self._started_ms = 0
        self.user_data: UserDataStream | None = None
        self._running = False

    # --- consumers (the product's words) ------------------------------------------------------------------
    def register_ticker_callback(self, cb: Callback) -> Consumer:
        self.dispatcher.register(Channel.MINI_TICKER, cb)
        return self.dispatcher.register(Channel.TICKER, cb)

    def register_kline_callback(self, cb: Callback) -> Consumer:
        return self.dispatcher.register(Channel.KLINE, cb)

    def register_trade_callback(self, cb: Callback) -> Consumer:
        return self.dispatcher.register(Channel.TRADE, cb)

    def register_depth_callback(self, cb: Callback) -> Consumer:
        self.dispatcher.register(Channel.BOOK_TOP, cb)
        return self.dispatcher.register(Channel.DEPTH, cb)

    def register_mark_price_callback(self, cb: Callback) -> Consumer:
        return self.dispatcher.register(Channel.MARK_PRICE, cb)

    def register_user_data_callback(self, cb: Callback) -> Consumer:
        return self.dispatcher.register(Channel.USER, cb)

    def register_error_callback(self, cb: Callback) -> Consumer:
        return self.dispatcher.register(Channel.ERROR, cb)

    def register_status_callback(self, cb: Callback) -> Consumer:
        return self.dispatcher.register(Channel.STATUS, cb)

    # --- lifecycle ----------------------------------------------------------------------------------------
    async def start(self) -> None:
        """Discover, load history, connect. Returns once every connection has been started."""
        if self._running:
            return
        self._running = True
        self._started_ms = self.clock.now_ms()
        self.dispatcher.start()
        self._bg.append(asyncio.create_task(self._pump(), name="feed-pump"))
        self._bg.append(asyncio.create_task(self.backfiller.run(), name="feed-backfill"))
        await self.refresh_universe(load_history=True)
        if self.settings.api_key is not None and Venue.FUTURES in self.settings.venues:
            self.user_data = UserDataStream(
                self.rest,
                self.rest.ws_base(Venue.FUTURES),
                on_event=lambda ev: self.router.route([ev]),
                api_key=self.settings.api_key,
                on_status=self._on_status,
                clock=self.clock,
            )
            self._bg.append(asyncio.create_task(self.user_data.run(), name="feed-user-data"))
        self._bg.append(asyncio.create_task(self._rediscover(), name="feed-discovery"))

    async def stop(self) -> None:
        """Graceful: sockets closed, queued never-drop events delivered, consumers drained."""
        if not self._running:
            return
        self._running = False
        self._wake.set()  # the pump drains what is queued, then returns
        # Close the backfiller before cancelling its task: a backfill queued by a closing connection could
        # otherwise wake it at the moment the cancel lands, and a cancel lost there would hang stop().
        await self.backfiller.close()
        for task in self._bg:
            if task.get_name() != "feed-pump":
                task.cancel()
        await asyncio.gather(*(c.close() for c in self.connections.values()), return_exceptions=True)
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), *self._bg, return_exceptions=True)
        await self.router.pump()
        await self.dispatcher.stop(drain=True)
        await self.rest.close()

    async def __aenter__(self) -> BinanceWebSocketAggregator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- universe -----------------------------------------------------------------------------------------
    async def refresh_universe(self, load_history: bool = False) -> None:
        """One discovery round per venue; new pairs get history and streams, delisted ones are dropped."""
        s = self.settings
        rules = SelectionRules(
            s.min_volume_24h, s.min_price_change, s.max_pairs, s.analyze_all_usdt_pairs, tuple(s.trading_pairs)
        )
        for venue in s.venues:
            info = await self.rest.exchange_info(venue)
            tickers = await self.rest.tickers_24h(venue)
            selection, change = discover(info, tickers, venue, rules, self.selections.get(venue))
            self.selections[venue] = selection
            self.router.watch[venue] = frozenset(selection.names)
            for symbol in change.delisted:
                self.markets[venue].remove_symbol(symbol)
            if load_history or change.listed:
                await self._load_history(venue, [m.symbol for m in change.listed])
        await self._apply_plan()

    async def _load_history(self, venue: Venue, symbols: Iterable[str]) -> None:
        """Seed each new series with closed history, then let the gap tracker take over from its last bar."""
        bars = self.settings.history_bars or self.settings.klines_buffer_size
        now = self.clock.now_ms()
        sem = asyncio.Semaphore(self.settings.max_workers)

        async def one(symbol: str, interval: str) -> None:
            step = spec.INTERVAL_MS[interval]
            end = now // step * step - 1
            async with sem:
                klines = await self.backfiller.fetch(venue, symbol, interval, end - bars * step + 1, end, bars)
            if klines:
                self.markets[venue].backfill(symbol, interval, klines)
                self.gaps.seed(venue, symbol, interval, klines[-1].open_time)

        await asyncio.gather(*(one(sym, i) for sym in symbols for i in self.settings.intervals))

    def desired_streams(self) -> dict[Venue, list[str]]:
        s = self.settings
        out: dict[Venue, list[str]] = {}
        for venue in s.venues:
            kinds = [f"kline_{i}" for i in s.intervals] + list(s.symbol_streams)
            names = [
                f"{sym.lower()}@{k}" for sym in self.selections.get(venue, Selection(venue, ())).names for k in kinds
            ]
            if s.market_streams:
                names.append("!miniTicker@arr")
                if venue is Venue.FUTURES:
                    names.append("!markPrice@arr@1s")
            out[venue] = names
        return out

    async def _apply_plan(self) -> None:
        diff = self.planner.plan(self.desired_streams())
        for change in diff.changes:
            conn = self.connections.get(change.shard_id)
            if change.closed:
                if conn is not None:
                    del self.connections[change.shard_id]
                    await conn.close()
                    self._tasks.pop(change.shard_id, None)
                continue
            if conn is None:
                await self._open(change.shard_id, change.key, change.subscribe)
            else:
                if change.unsubscribe:
                    conn.unsubscribe(change.unsubscribe)
                if change.subscribe:
                    conn.subscribe(change.subscribe)

    async def _open(self, shard_id: str, key: ShardKey, streams: Iterable[str]) -> None:
        s = self.settings
        while True:  # at most one new connection per second per venue, and the 5-minute cap
            now = self.clock.now_ms()
            ready = self.gate.ready_at(key.venue, now)
            if ready <= now and self.gate.acquire(key.venue, now):
                break
            await asyncio.sleep(max(ready - now, 10) / 1000)
        conn = StreamConnection(
            conn_id=shard_id,
            venue=key.venue,
            category=key.category,
            ws_base=self.rest.ws_base(key.venue),
            streams=streams,
            parser=self.parsers[key.venue],
            clock=self.clock,
            on_events=self.router.route,
            on_status=self._on_status,
            on_gap=self._on_gap,
            max_reconnections=s.max_reconnections,
            rand=s.rand,
            options=ConnOptions(
                watchdog=Watchdog(key.venue, multiple=s.stale_multiple, grace_ms=s.stale_grace_ms,
                                  silence_ms=s.silence_ms),
                always_dedup=s.dedup,
            ),
        )
        self.connections[shard_id] = conn
        self._tasks[shard_id] = asyncio.create_task(conn.run(), name=f"feed-{shard_id}")

    async def _rediscover(self) -> None:
        while self._running:
            await asyncio.sleep(self.settings.discovery_interval_s)
            try:
                await self.refresh_universe()
            except Exception as e:  # a failed round keeps the current universe; the next one retries
                self.dispatcher.publish_nowait(FeedError("discovery", repr(e), e, self.clock.now_ms()))

    # --- callbacks from connections -----------------------------------------------------------------------
    def _on_status(self, status: ConnectionStatus) -> None:
        self._statuses[status.connection_id] = status
        self.dispatcher.publish_nowait(status)

    def _on_gap(self, conn_id: str, down_since_ms: int, now_ms: int) -> None:
        conn = self.connections.get(conn_id)
        if conn is None:
            self._backfill(self.gaps.on_reconnect(now_ms))
            return
        # Only this connection's series lost bars; the venue's other series are live (a venue-wide sweep
        # would re-fetch every bar that is closing right now on every other connection).
        symbols = {s.split("@", 1)[0].upper() for s in conn.streams if "@kline_" in s}
        self._backfill(self.gaps.on_reconnect(now_ms, conn.venue, symbols))

    def _backfill(self, requests: Iterable[KlineRequest]) -> None:
        self.backfiller.add(requests)

    def _pause(self, paused: bool) -> None:
        for conn in self.connections.values():
            conn.pause_reading(paused)

    async def _pump(self) -> None:
        """Drains never-drop events into the dispatcher; after stop() it drains once more and returns."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self.router.pump()
            if not self._running:
                return

    # --- what users read ----------------------------------------------------------------------------------
    async def get_market_snapshot(self) -> dict[Venue, MarketSnapshot]:
        return {v: m.snapshot() for v, m in self.markets.items()}

    async def get_connection_status(self) -> FeedStatus:
        return build_status(self)

    def closed_series(self, venue: Venue, symbol: str, interval: str) -> KlineWindow:
        """Every closed kline held for one series, oldest first, as read-only arrays (for checks and tools)."""
        return self.markets[venue].last_n(symbol, interval, self.settings.klines_buffer_size)

