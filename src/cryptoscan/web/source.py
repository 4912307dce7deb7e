"""What the dashboard reads from: a small protocol, and its implementation over the in-process pipeline.

Why a protocol: the web layer needs a few things (each pass's result, the feed's status, a pair's kline ring,
the alert records, the probability target, live tracking and the backtest's figures) and nothing else about
how they are produced. The pipeline
implementation reads live objects on the loop they live on; nothing is copied until a page asks for it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from cryptoscan.alerts.records import Record
from cryptoscan.backtest.tracking import LevelPrecision
from cryptoscan.feed.status import FeedStatus, build_status
from cryptoscan.market.rings import RingState
from cryptoscan.scanner.result import ScanResult
from cryptoscan.venues.binance.spec import Venue
from cryptoscan.web.tracking import DAYS, BacktestFigures, BacktestFile, TrackingState

if TYPE_CHECKING:
    from cryptoscan.alerts.records import RecordLog
    from cryptoscan.backtest.tracking import Tracker
    from cryptoscan.feed.aggregator import BinanceWebSocketAggregator
    from cryptoscan.scanner.live import LiveScanner

Listener = Callable[[ScanResult], None]


class Source(Protocol):
    @property
    def interval(self) -> str:
        """The kline interval the scanner runs on."""

    @property
    def target_pct(self) -> float:
        """The probability's target move, percent (7.5)."""

    def add_listener(self, listener: Listener) -> None:
        """``listener`` is called on the loop with every pass's result."""

    def latest(self) -> ScanResult | None: ...

    def passes(self) -> int: ...

    def feed_status(self) -> FeedStatus: ...

    def ring(self, venue: str, symbol: str) -> RingState | None:
        """The pair's kline ring on the scanner's interval, or None when the pair is not held."""

    def records(self) -> list[Record]:
        """Alert and delivery records, oldest first (bounded; empty when alerts are off)."""

    def records_seen(self) -> int:
        """Records added since start (alerts and delivery outcomes): the dashboard re-reads them when it moves."""

    def now_ms(self) -> int:
        """Market time (the feed's clock): live tracking's windows end here."""

    def tracking(self, now_ms: int) -> list[LevelPrecision]:
        """Resolved alerts and hits per level, horizon and window (7 and 30 days); empty without a tracker."""

    def tracking_state(self) -> TrackingState: ...

    def backtest(self) -> BacktestFigures:
        """The backtest report's precision per level and horizon (empty without a usable report)."""


class PipelineSource:
    """:class:`Source` over a running aggregator, its :class:`LiveScanner` and the alert service's record log."""

    def __init__(
        self,
        agg: BinanceWebSocketAggregator,
        scanner: LiveScanner,
        records: RecordLog | None = None,
        target_pct: float = 7.5,
        *,
        tracker: Tracker | None = None,
        backtest_report: Path | None = None,
    ) -> None:
        self.agg = agg
        self.scanner = scanner
        self.log = records
        self._target = target_pct
        self.tracker = tracker
        self.report = BacktestFile(backtest_report)

    @property
    def interval(self) -> str:
        return self.scanner.scanner.interval

    @property
    def target_pct(self) -> float:
        return self._target

    def add_listener(self, listener: Listener) -> None:
        self.scanner.add_listener(listener)

    def latest(self) -> ScanResult | None:
        return self.scanner.latest

    def passes(self) -> int:
        return self.scanner.passes

    def feed_status(self) -> FeedStatus:
        return build_status(self.agg)

    def ring(self, venue: str, symbol: str) -> RingState | None:
        try:
            market = self.agg.markets.get(Venue(venue))
        except ValueError:
            return None
        ring = market.ring(symbol, self.interval) if market is not None else None
        return ring.state() if ring is not None else None

    def records(self) -> list[Record]:
        return self.log.all() if self.log is not None else []

    def records_seen(self) -> int:
        if self.log is None:
            return 0
        c = self.log.counts
        return c["alerts"] + c["delivered"] + c["failed"]

    def now_ms(self) -> int:
        return self.agg.clock.now_ms()

    def tracking(self, now_ms: int) -> list[LevelPrecision]:
        return self.tracker.precision(now_ms, DAYS) if self.tracker is not None else []

    def tracking_state(self) -> TrackingState:
        t = self.tracker
        if t is None:
            return TrackingState()
        newest = t.outcomes[-1].resolved_ms if t.outcomes else 0
        return TrackingState(True, t.horizons_h, t.waiting, t.dropped, len(t.outcomes), newest)

    def backtest(self) -> BacktestFigures:
        return self.report.figures()
