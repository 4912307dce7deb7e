"""Events to store rows (tuples in :mod:`.schema` column order), sans-I/O; plus the ticker sampler.

Rows are plain tuples so a batch is cheap to build on the event loop and cheap to turn into columns for a
bulk insert. JSON columns are encoded here, once, to text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from cryptoscan.events import Kline, MiniTicker, Ticker
from cryptoscan.market.snapshot import KlineWindow
from cryptoscan.scanner.result import ScanSnapshot
from cryptoscan.venues.binance.spec import INTERVAL_MS

Row = tuple[Any, ...]
_ENC = msgspec.json.Encoder()


def json_text(value: object) -> str:
    return _ENC.encode(value).decode()


def kline_row(k: Kline) -> Row:
    return (k.venue, k.symbol, k.interval, k.open_time, k.close_time, k.open, k.high, k.low, k.close, k.volume,
            k.quote_volume, k.trades, k.taker_buy_volume, k.taker_buy_quote_volume)  # fmt: skip


def window_rows(venue: str, symbol: str, interval: str, w: KlineWindow) -> list[Row]:
    """Closed klines held in a market ring (history included). A ring keeps no close time (it is implied by the
    interval) and no taker buy quote volume: that column is NULL for these rows."""
    step = INTERVAL_MS[interval]
    cols = (w.open_time.tolist(), w.open.tolist(), w.high.tolist(), w.low.tolist(), w.close.tolist(),
            w.volume.tolist(), w.quote_volume.tolist(), w.trades.tolist(), w.taker_buy_volume.tolist())  # fmt: skip
    return [(venue, symbol, interval, t, t + step - 1, o, h, lo, c, v, q, int(n), tb, None)
            for t, o, h, lo, c, v, q, n, tb in zip(*cols, strict=True)]  # fmt: skip


def ticker_row(t: Ticker | MiniTicker) -> Row:
    if isinstance(t, Ticker):
        return (t.venue, t.symbol, t.ts_event, t.last, t.open, t.high, t.low, t.volume, t.quote_volume,
                t.price_change_percent)  # fmt: skip
    change = (t.close - t.open) / t.open * 100.0 if t.open else 0.0
    return (t.venue, t.symbol, t.ts_event, t.close, t.open, t.high, t.low, t.volume, t.quote_volume, change)


def scan_rows(snapshot: ScanSnapshot) -> list[Row]:
    """The rows a snapshot shows (its ``levels``), one per pair; pairs outside the shown levels are not stored."""
    ts, interval = snapshot.ts_ms, snapshot.interval
    return [
        (ts, r.venue, r.symbol, interval, r.rank, r.level, r.momentum, r.probability, r.composite, r.price,
         r.volume_24h, r.updated_ms, json_text(r.components), json_text(r.factors), json_text(r.indicators))
        for rows in snapshot.levels.values()
        for r in rows
    ]  # fmt: skip


def alert_row(ts_ms: int, venue: str, symbol: str, level: str, kind: str, message: str,
              payload: Mapping[str, Any] | None = None) -> Row:  # fmt: skip
    return (ts_ms, venue, symbol, level, kind, message, None if payload is None else json_text(payload))


class TickerSampler:
    """At most one ticker row per (venue, symbol) per ``every_ms`` of exchange time (``ts_event``).

    Exchange time rather than the local clock, so a replay samples the same rows as the live run did. A 24 h
    ticker and a mini ticker of the same pair share one budget; rolling 1 h / 4 h tickers are not sampled.
    """

    def __init__(self, every_ms: int, max_pairs: int = 100_000) -> None:
        self.every_ms = every_ms
        self.max_pairs = max_pairs
        self._last: dict[tuple[str, str], int] = {}

    def take(self, t: Ticker | MiniTicker) -> bool:
        """True if this ticker is a sample (and records it as the pair's latest)."""
        if isinstance(t, Ticker) and t.window != "24h":
            return False
        key = (t.venue, t.symbol)
        last = self._last.get(key)
        if last is not None and t.ts_event - last < self.every_ms:
            return False
        if last is None and len(self._last) >= self.max_pairs:  # bounded: forget the oldest pair
            del self._last[next(iter(self._last))]
        self._last[key] = t.ts_event
        return True
