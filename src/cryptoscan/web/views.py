"""Pure read-outs shared by the pages, the WebSocket channels and the REST API: one pair's scored row, the
alert history, and the feed's status line as numbers.

Why one place: the REST answer and the live push must say the same thing about a pair, so both are built
here from the same inputs (a :class:`ScanResult`, the alert records, a :class:`FeedStatus`).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

import msgspec
import numpy as np

from cryptoscan.alerts.records import AlertRecord, DeliveryRecord, Record
from cryptoscan.feed.status import FeedStatus
from cryptoscan.scanner.result import ScanResult, ScanRow

_SYMBOL = re.compile(r"[A-Z0-9]{2,30}")


def valid_pair(venue: str, symbol: str) -> bool:
    """A venue we scan and a symbol shaped like one (upper case), before any lookup."""
    return venue in ("spot", "futures") and _SYMBOL.fullmatch(symbol) is not None


class PairRow(msgspec.Struct, frozen=True, kw_only=True):
    """A pair's latest scored row with the pass it comes from; ``row.rank`` is 0 when the pair is not ranked
    (filtered out by volume or price)."""

    ts_ms: int
    ranked: bool
    row: ScanRow


class AlertDoc(msgspec.Struct, frozen=True, kw_only=True):
    ts_ms: int
    alert_id: str
    venue: str
    symbol: str
    level: str
    kind: str  # "new" or "upgrade"
    delivery: str  # "now" or "digest"
    title: str
    message: str
    delivered: int  # channels that confirmed delivery
    failed: int  # channels that gave up


class StatusLine(msgspec.Struct, frozen=True, kw_only=True):
    """The status bar: the feed's connections by state, pairs per venue, rate, lag, reconnects; the
    dashboard's own clients and the slow ones dropped; the scanner's passes and last pass time."""

    type: str = "status"
    connections: dict[str, int]
    pairs: dict[str, int]
    messages_per_s: float
    lag_ms_p50: float | None
    lag_ms_p99: float | None
    reconnects: int
    clients: int
    dropped_clients: int
    passes: int
    scan_ts_ms: int | None


class RowIndex:
    """(venue, symbol) -> array index of a result's rows, rebuilt only when the scanner's names change."""

    def __init__(self) -> None:
        self._names: list[tuple[str, str]] | None = None
        self._index: dict[tuple[str, str], int] = {}

    def find(self, result: ScanResult, venue: str, symbol: str) -> int | None:
        if result.names is not self._names:
            self._names = result.names
            self._index = {name: i for i, name in enumerate(result.names) if name[0]}
        return self._index.get((venue, symbol))


def pair_row(result: ScanResult, index: RowIndex, venue: str, symbol: str) -> PairRow | None:
    """The pair's row in ``result`` (with its rank among eligible pairs, 0 when not ranked), or None."""
    i = index.find(result, venue, symbol)
    if i is None:
        return None
    pos = np.flatnonzero(result.order == i)
    rank = int(pos[0]) + 1 if pos.size else 0
    return PairRow(ts_ms=result.ts_ms, ranked=rank > 0, row=result.row(i, rank))


def venues_of(result: ScanResult, index: RowIndex, symbol: str) -> list[str]:
    """The venues where ``symbol`` is scanned, spot first."""
    return [v for v in ("spot", "futures") if index.find(result, v, symbol) is not None]


def alert_docs(
    records: Iterable[Record],
    *,
    venue: str | None = None,
    symbol: str | None = None,
    level: str | None = None,
    since_ms: int | None = None,
    limit: int = 100,
) -> list[AlertDoc]:
    """Alerts matching the filters, newest first, each with its delivery outcomes counted."""
    ok: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    alerts: list[AlertRecord] = []
    for r in records:
        if isinstance(r, DeliveryRecord):
            (ok if r.ok else failed)[r.alert_id] += 1
        elif ((venue is None or r.venue == venue) and (symbol is None or r.symbol == symbol)
              and (level is None or r.level == level) and (since_ms is None or r.ts_ms >= since_ms)):  # fmt: skip
            alerts.append(r)
    alerts.reverse()
    return [
        AlertDoc(ts_ms=a.ts_ms, alert_id=a.alert_id, venue=a.venue, symbol=a.symbol, level=a.level, kind=a.kind,
                 delivery=a.delivery, title=a.title, message=a.message, delivered=ok[a.notification_id],
                 failed=failed[a.notification_id])
        for a in alerts[:limit]
    ]  # fmt: skip


def status_line(status: FeedStatus, *, messages_per_s: float, clients: int, dropped_clients: int, passes: int,
                scan_ts_ms: int | None) -> StatusLine:  # fmt: skip
    states = Counter(c.state for c in status.connections)
    return StatusLine(
        connections=dict(sorted(states.items())), pairs=dict(sorted(status.streaming_pairs.items())),
        messages_per_s=round(messages_per_s, 1),
        lag_ms_p50=None if status.lag_ms_p50 is None else round(status.lag_ms_p50, 1),
        lag_ms_p99=None if status.lag_ms_p99 is None else round(status.lag_ms_p99, 1),
        reconnects=status.reconnects, clients=clients, dropped_clients=dropped_clients, passes=passes,
        scan_ts_ms=scan_ts_ms,
    )  # fmt: skip
