"""One pair page's live channel: its chart series, its scored row and its alerts, as frames to push.

A channel exists while at least one page watches the pair, so the dashboard computes series only for pairs
someone looks at. Frames (JSON):

- ``{"type": "pair", "venue", "symbol", "interval", "bars": {...full}, "row": {...} | null, "alerts": [...]}``
  first, for a page that just subscribed;
- ``{"type": "bars", "bars": {...}}``: new closed bars and the forming bar (merge by ``t``);
- ``{"type": "row", "row": {...}}``: the pair's scored row after a pass, when it changed;
- ``{"type": "alerts", "alerts": [...]}``: the pair's alert history again (newest first) when it changed: a new
  alert, or a delivery outcome for one.
"""

from __future__ import annotations

import msgspec

from cryptoscan.scanner.result import ScanResult
from cryptoscan.web.series import Bars, PairSeries
from cryptoscan.web.source import Source
from cryptoscan.web.views import AlertDoc, PairRow, RowIndex, alert_docs, pair_row

_encode = msgspec.json.Encoder().encode


class PairFrame(msgspec.Struct, kw_only=True):
    type: str = "pair"
    venue: str
    symbol: str
    interval: str
    bars: Bars
    row: PairRow | None
    alerts: list[AlertDoc]


class BarsFrame(msgspec.Struct, kw_only=True):
    type: str = "bars"
    bars: Bars


class RowFrame(msgspec.Struct, kw_only=True):
    type: str = "row"
    row: PairRow


class AlertsFrame(msgspec.Struct, kw_only=True):
    type: str = "alerts"
    alerts: list[AlertDoc]


def topic_of(venue: str, symbol: str) -> str:
    return f"pair:{venue}:{symbol}"


class PairChannel:
    def __init__(self, source: Source, index: RowIndex, venue: str, symbol: str, show: int = 240) -> None:
        self.source, self.index = source, index
        self.venue, self.symbol = venue, symbol
        self.topic = topic_of(venue, symbol)
        self.series = PairSeries(source.interval, show)
        self.series.sync(source.ring(venue, symbol))
        self._row: PairRow | None = None
        self._records_seen = source.records_seen()
        self._alerts = alert_docs(source.records(), venue=venue, symbol=symbol)
        latest = source.latest()
        if latest is not None:
            self._row = pair_row(latest, index, venue, symbol)

    def first(self) -> bytes:
        """The whole page state for a new subscriber."""
        return _encode(PairFrame(venue=self.venue, symbol=self.symbol, interval=self.source.interval,
                                 bars=self.series.snapshot(), row=self._row, alerts=self._alerts))  # fmt: skip

    def tick(self) -> bytes | None:
        """Bars that are new or changed in the pair's ring since the last call."""
        bars = self.series.sync(self.source.ring(self.venue, self.symbol))
        return _encode(BarsFrame(bars=bars)) if bars is not None else None

    def on_result(self, result: ScanResult) -> list[bytes]:
        """After a pass: the pair's row if it changed, and its alert history if that changed."""
        frames: list[bytes] = []
        row = pair_row(result, self.index, self.venue, self.symbol)
        if row is not None and (self._row is None or row.row != self._row.row):
            frames.append(_encode(RowFrame(row=row)))
        self._row = row or self._row
        seen = self.source.records_seen()
        if seen != self._records_seen:
            self._records_seen = seen
            alerts = alert_docs(self.source.records(), venue=self.venue, symbol=self.symbol)
            if alerts != self._alerts:
                self._alerts = alerts
                frames.append(_encode(AlertsFrame(alerts=alerts)))
        return frames
