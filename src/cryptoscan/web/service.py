"""The dashboard's live side: scanner passes in, encoded frames out to the hub's clients.

:meth:`DashboardService.on_result` hangs on the scanner's listeners and runs on its loop after every pass: it
diffs the table (:class:`TableModel`), encodes one ``rows`` frame for every table client, and gives each
watched pair its row and alert frames. :meth:`run` ticks on a real-time cadence: the status bar, the live
precision panel (rebuilt only when the tracker, the backtest report or the market minute moved; pushed only
when its figures changed), and the candles of watched pairs (their forming bar moves between passes).
Everything sent is encoded once, whatever the number of clients, and offered without waiting (see
:mod:`cryptoscan.web.hub`).
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass

import msgspec

from cryptoscan.clock import Clock, LiveClock
from cryptoscan.scanner.result import ScanResult
from cryptoscan.web.hub import Client, Hub
from cryptoscan.web.model import TableMeta, TableModel, TableRow
from cryptoscan.web.pairs import PairChannel, topic_of
from cryptoscan.web.source import Source
from cryptoscan.web.tracking import BacktestFigures, TrackingFrame, TrackingState, same_figures, tracking_frame
from cryptoscan.web.views import RowIndex, StatusLine, status_line

TABLE = "table"
MINUTE_MS = 60_000
_encode = msgspec.json.Encoder().encode


class SnapshotFrame(msgspec.Struct, kw_only=True):
    type: str = "snapshot"
    meta: TableMeta | None
    rows: list[TableRow]
    status: StatusLine
    tracking: TrackingFrame


class RowsFrame(msgspec.Struct, kw_only=True):
    type: str = "rows"
    meta: TableMeta
    upsert: list[TableRow]
    remove: list[str]


@dataclass
class ListenerStats:
    """What the scanner pays for the dashboard: time spent in :meth:`DashboardService.on_result`."""

    calls: int = 0
    total_ms: float = 0.0
    max_ms: float = 0.0
    last_rows_frame_bytes: int = 0


class RateWindow:
    """Messages per second from a growing counter, over the last ``window_s`` real seconds."""

    def __init__(self, window_s: float = 5.0) -> None:
        self.window_s = window_s
        self._samples: deque[tuple[float, int]] = deque()

    def add(self, now: float, total: int) -> float:
        self._samples.append((now, total))
        while len(self._samples) > 2 and now - self._samples[0][0] > self.window_s:
            self._samples.popleft()
        t0, n0 = self._samples[0]
        return (total - n0) / (now - t0) if now > t0 else 0.0


class DashboardService:
    def __init__(self, source: Source, *, top: int = 10, queue_size: int = 64, tick_s: float = 0.5,
                 show_bars: int = 240, clock: Clock | None = None) -> None:  # fmt: skip
        self.source = source
        self.clock = clock or LiveClock()  # real time: rates and costs are about this process, not the market
        self.hub = Hub(queue_size)
        self.hub.on_empty = self._on_empty
        self.table = TableModel(top)
        self.index = RowIndex()
        self.tick_s = tick_s
        self.show_bars = show_bars
        self.pairs: dict[str, PairChannel] = {}
        self.listener = ListenerStats()
        self._rate = RateWindow()
        self._status: StatusLine | None = None
        self._tracking: TrackingFrame | None = None
        self._tracking_key: tuple[TrackingState, int, BacktestFigures] | None = None
        source.add_listener(self.on_result)
        latest = source.latest()
        if latest is not None:
            self.table.apply(latest)

    # --- scanner side (sync, on the loop) -----------------------------------------------------------------
    def on_result(self, result: ScanResult) -> None:
        t0 = self.clock.monotonic()
        diff = self.table.apply(result)
        if self.hub.has(TABLE):
            frame = _encode(RowsFrame(meta=diff.meta, upsert=diff.upsert, remove=diff.remove))
            self.listener.last_rows_frame_bytes = len(frame)
            self.hub.publish(TABLE, frame)
        for channel in list(self.pairs.values()):
            for frame in channel.on_result(result):
                self.hub.publish(channel.topic, frame)
        ms = (self.clock.monotonic() - t0) * 1000
        self.listener.calls += 1
        self.listener.total_ms += ms
        self.listener.max_ms = max(self.listener.max_ms, ms)

    # --- clients ------------------------------------------------------------------------------------------
    def join_table(self) -> Client:
        tracking = self._update_tracking()  # a change reaches the clients already there first
        meta, rows = self.table.snapshot()
        return self.hub.join(TABLE, _encode(SnapshotFrame(meta=meta, rows=rows, status=self.status(),
                                                          tracking=tracking)))  # fmt: skip

    def join_pair(self, venue: str, symbol: str) -> Client | None:
        """A client on the pair's channel (made on first use), or None when the pair has no klines here."""
        topic = topic_of(venue, symbol)
        channel = self.pairs.get(topic)
        if channel is None:
            if self.source.ring(venue, symbol) is None:
                return None
            channel = self.pairs[topic] = PairChannel(self.source, self.index, venue, symbol, self.show_bars)
        else:
            frame = channel.tick()  # bring it up to date first: the snapshot must not lag the next frame
            if frame is not None:
                self.hub.publish(topic, frame)
        return self.hub.join(topic, channel.first())

    def _on_empty(self, topic: str) -> None:
        self.pairs.pop(topic, None)

    # --- status -------------------------------------------------------------------------------------------
    def status(self) -> StatusLine:
        """The status bar now (the message rate is the last tick's figure)."""
        if self._status is None:
            self._status = self._measure()
        return self._status

    def _measure(self) -> StatusLine:
        feed = self.source.feed_status()
        latest = self.source.latest()
        return status_line(
            feed, messages_per_s=self._rate.add(self.clock.monotonic(), feed.messages), clients=self.hub.count(),
            dropped_clients=self.hub.stats.dropped, passes=self.source.passes(),
            scan_ts_ms=latest.ts_ms if latest is not None else None,
        )  # fmt: skip

    # --- live tracking ------------------------------------------------------------------------------------
    def tracking(self, now_ms: int | None = None) -> TrackingFrame:
        """Live precision per level and horizon now (or at ``now_ms``, market time), next to the backtest's."""
        s = self.source
        now = s.now_ms() if now_ms is None else now_ms
        return self._tracking_frame(now, s.tracking_state(), s.backtest())

    def _tracking_frame(self, now_ms: int, state: TrackingState, backtest: BacktestFigures) -> TrackingFrame:
        s = self.source
        return tracking_frame(s.tracking(now_ms), state, backtest, now_ms=now_ms, target_pct=s.target_pct)

    def _update_tracking(self) -> TrackingFrame:
        """The panel's figures, rebuilt only when the tracker's counters, the backtest report or the market
        minute moved (the windows slide with it); a change of figures is published to table clients."""
        s = self.source
        now = s.now_ms()
        state, backtest = s.tracking_state(), s.backtest()
        key = (state, now // MINUTE_MS, backtest)
        if self._tracking is None or key != self._tracking_key:
            self._tracking_key = key
            frame = self._tracking_frame(now, state, backtest)
            if self._tracking is None or not same_figures(frame, self._tracking):
                if self._tracking is not None and self.hub.has(TABLE):
                    self.hub.publish(TABLE, _encode(frame))
                self._tracking = frame
        return self._tracking

    def tick(self) -> None:
        """One beat of the cadence: the status bar and the live precision panel to table clients (when they
        changed), fresh bars to pair clients."""
        previous, self._status = self._status, self._measure()
        if self.hub.has(TABLE) and self._status != previous:
            self.hub.publish(TABLE, _encode(self._status))
        if self.hub.has(TABLE):
            self._update_tracking()
        for channel in list(self.pairs.values()):
            frame = channel.tick()
            if frame is not None:
                self.hub.publish(channel.topic, frame)

    async def run(self) -> None:
        """Tick every ``tick_s`` real seconds until cancelled."""
        while True:
            self.tick()
            await asyncio.sleep(self.tick_s)  # the push cadence, not a wait for a condition
