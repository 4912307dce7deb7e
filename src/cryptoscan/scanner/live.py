"""The scanner on a running aggregator: klines and tickers in, one :class:`ScanResult` per pass out.

A pass runs after every burst of closed klines (the loop wakes on the first one and lets the rest of the
burst arrive first) and at least every ``update_interval_s``. The universe follows the aggregator's
discovery: a new pair is warmed from the history the aggregator holds, a delisted one is dropped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from cryptoscan.aio import wait_event
from cryptoscan.clock import Clock, LiveClock
from cryptoscan.config_scanner import ScannerConfig
from cryptoscan.events import Kline, MiniTicker, Ticker
from cryptoscan.feed.aggregator import BinanceWebSocketAggregator
from cryptoscan.log import get_logger
from cryptoscan.scanner.engine import Scanner
from cryptoscan.scanner.probability import ProbabilityModel
from cryptoscan.scanner.result import ScanResult
from cryptoscan.venues.binance.spec import Venue

log = get_logger(__name__)
Listener = Callable[[ScanResult], None]


class LiveScanner:
    """Wires a :class:`Scanner` to an aggregator; call :meth:`attach` before ``agg.start()``."""

    def __init__(
        self,
        agg: BinanceWebSocketAggregator,
        cfg: ScannerConfig,
        *,
        update_interval_s: float = 30.0,
        clock: Clock | None = None,
        probability: ProbabilityModel | None = None,
        capacity: int | None = None,
    ) -> None:
        self.agg = agg
        self.cfg = cfg
        self.clock = clock or LiveClock()
        self.update_interval_s = update_interval_s
        size = capacity or max(64, 2 * len(cfg.venues) * (agg.settings.max_pairs or 1000))
        self.scanner = Scanner(cfg, capacity=size, probability=probability)
        self.venues = tuple(Venue(v) for v in cfg.venues if Venue(v) in agg.settings.venues)
        self.latest: ScanResult | None = None
        self.passes = 0
        self.warmed = False
        self._listeners: list[Listener] = []
        self._due = asyncio.Event()
        self._ticker_venues: set[str] = set()
        self._tickers = asyncio.Event()

    def attach(self) -> None:
        self.agg.register_kline_callback(self._on_kline)
        self.agg.register_ticker_callback(self._on_ticker)

    def add_listener(self, listener: Listener) -> None:
        """Called with every pass's result (sync, on the loop: keep it short)."""
        self._listeners.append(listener)

    # --- callbacks (sync: the dispatcher calls them on the loop) ------------------------------------------
    def _on_kline(self, k: Kline) -> None:
        if not self.warmed or k.interval != self.scanner.interval:
            return
        if (k.venue, k.symbol) not in self.scanner.rows and Venue(k.venue) in self.venues:
            self._warm([(Venue(k.venue), k.symbol)])
        if self.scanner.on_kline(k) and k.closed:
            self._due.set()

    def _on_ticker(self, t: Any) -> None:
        if isinstance(t, Ticker | MiniTicker):
            self.scanner.on_ticker(t)
            if t.venue not in self._ticker_venues:
                self._ticker_venues.add(t.venue)
                if self._ticker_venues >= {str(v) for v in self.venues}:
                    self._tickers.set()

    # --- universe -----------------------------------------------------------------------------------------
    def _warm(self, pairs: list[tuple[Venue, str]]) -> int:
        interval = self.scanner.interval
        series = [(str(v), s, self.agg.closed_series(v, s, interval)) for v, s in pairs]
        return self.scanner.warm(series)

    def sync_universe(self) -> None:
        """Add pairs the aggregator selected since the last call (warmed from its history), drop delisted."""
        wanted = {(v, s) for v in self.venues if (sel := self.agg.selections.get(v)) for s in sel.names}
        have = {(Venue(v), s) for v, s in self.scanner.rows}
        for venue, symbol in have - wanted:
            self.scanner.remove(str(venue), symbol)
        new = sorted(wanted - have)
        if new:
            bars = self._warm(new)
            log.info("scanner warmed", pairs=len(new), bars=bars)

    def seed_tickers(self) -> None:
        """Prime 24 h volumes from the aggregator's market state (mini tickers seen before the first pass)."""
        for market in self.agg.markets.values():
            for mini in market.mini_tickers.values():
                self.scanner.on_ticker(mini)
            for full in market.tickers.get("24h", {}).values():
                self.scanner.on_ticker(full)

    # --- passes -------------------------------------------------------------------------------------------
    def scan_now(self) -> ScanResult:
        result = self.scanner.scan(self.clock.now_ms())
        self.latest = result
        self.passes += 1
        for listener in self._listeners:
            try:
                listener(result)
            except Exception as exc:  # a listener's bug must not stop the scanner
                log.error("scan listener failed", error=repr(exc))
        return result

    async def prime(self, ticker_wait_s: float = 10.0) -> None:
        """Warm every selected pair from the aggregator's history (call once ``agg.start()`` returned), and
        wait up to ``ticker_wait_s`` for the first 24 h tickers of each venue (the volume filter needs them)."""
        self.sync_universe()
        self.seed_tickers()
        self.warmed = True
        await wait_event(self._tickers, ticker_wait_s)

    async def run(self) -> None:
        """Prime, then scan on closed klines and at least every update interval, until cancelled."""
        await self.prime()
        self.scan_now()
        while True:
            await wait_event(self._due, self.update_interval_s)
            self._due.clear()
            for _ in range(3):  # let the rest of a burst of closed klines arrive before the pass
                await asyncio.sleep(0)
            self.sync_universe()
            self.scan_now()
