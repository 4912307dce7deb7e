"""Event -> Redis commands, sans-I/O: which key, which JSON value, which TTL, which stream entry.

:class:`KeySpace` maps one event to a list of :class:`Put` (``SET key value PX ttl``: a latest value that
coalesces per key) and :class:`Append` (``XADD key MAXLEN ~ n id fields``: an entry that must not be lost).
No socket, no clock: values carry the event's own time (``timestamp``, epoch ms of the exchange event).
A Put's JSON is rendered only when it is written, since most latest values are superseded first; key strings
are cached per instrument. The key table is in the package docstring (:mod:`cryptoscan.sinks.redis`).

The one piece of state: the newest kline open time per series, so a late (backfilled) closed bar never
overwrites the ``kline`` latest-value key with an older bar. Its stream entry is still written (and put in
order by the sink, see :mod:`cryptoscan.sinks.redis.ordered`). Bounded by the number of series.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

import msgspec

from cryptoscan.events import AccountUpdate, Depth, Kline, MarkPrice, MiniTicker, OrderUpdate, Position, Ticker
from cryptoscan.venues.binance.spec import INTERVAL_MS

DEFAULT_PREFIX = "websocket"
SOURCE = "websocket"
LATEST_TTL_MS = 60_000
POSITION_TTL_MS = 300_000
KLINE_TTL_INTERVALS = 3  # the latest kline outlives its series by three bars (at least LATEST_TTL_MS)
STREAM_MAXLEN = 1000
DEPTH_LEVELS = 20
UPDATES = "updates"  # the pub/sub channel suffix
ANNOUNCE_MAX_KINDS = 32
ANNOUNCE_MAX_SYMBOLS = 32  # per kind; more are summarised by a count

_encode = msgspec.json.Encoder().encode


class Put(NamedTuple):
    """``SET key value [PX ttl_ms]``; coalesces with any pending Put of the same key.

    The value is rendered only when written (``render(source)``): most latest values are superseded before
    the next flush, and their JSON would be wasted work. Sources are immutable events (or ready bytes)."""

    key: str
    ttl_ms: int | None
    kind: str  # for the announcement: "ticker", "spot:kline", "scanner", ...
    symbol: str
    render: Callable[[Any], bytes]
    source: Any

    @property
    def value(self) -> bytes:
        return self.render(self.source)


class Append(NamedTuple):
    """``XADD key MAXLEN ~ maxlen entry_id fields``; an explicit ``entry_id`` makes a replay idempotent."""

    key: str
    fields: Mapping[str, str | bytes]
    maxlen: int
    entry_id: str  # "*": Redis picks it
    kind: str
    symbol: str


Command = Put | Append


def _venue_kind(venue: str, kind: str) -> str:
    return kind if venue == "futures" else f"{venue}:{kind}"


def _same(b: bytes) -> bytes:
    return b


class KeySpace:
    """Keys under one prefix, and the mapping of every supported event to commands."""

    def __init__(self, prefix: str = DEFAULT_PREFIX) -> None:
        if not prefix or prefix.endswith(":"):
            raise ValueError("prefix must be non-empty and must not end with ':'")
        self.prefix = prefix
        self.channel = f"{prefix}:{UPDATES}"
        self._kline_high: dict[tuple[str, str, str], int] = {}
        self._slots: dict[tuple[str, str, str, str], tuple[str, str]] = {}  # bounded by instruments x kinds
        self._handlers: dict[type, Callable[[Any], list[Command]]] = {
            MarkPrice: self._mark_price,
            Depth: self._depth,
            Ticker: self._ticker,
            MiniTicker: self._mini_ticker,
            Kline: self._kline,
            OrderUpdate: self._order,
            AccountUpdate: self._account,
        }

    # --- key names (symbols lowercase) ---------------------------------------------------------------------
    def key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def mark_price(self, symbol: str) -> str:
        return self.key("mark_price", symbol.lower())

    def orderbook(self, symbol: str, venue: str = "futures") -> str:
        return self.key(_venue_kind(venue, "orderbook"), symbol.lower(), str(DEPTH_LEVELS))

    def ticker(self, symbol: str, venue: str = "futures", window: str = "24h") -> str:
        base = self.key(_venue_kind(venue, "ticker"), symbol.lower())
        return base if window == "24h" else f"{base}:{window}"

    def kline(self, symbol: str, interval: str, venue: str = "futures") -> str:
        return self.key(_venue_kind(venue, "kline"), symbol.lower(), interval)

    def klines(self, symbol: str, interval: str, venue: str = "futures") -> str:
        return self.key(_venue_kind(venue, "klines"), symbol.lower(), interval)

    def orders(self, symbol: str) -> str:
        return self.key("orders", symbol.lower())

    def position(self, symbol: str, side: str = "BOTH") -> str:
        base = self.key("position", symbol.lower())
        return base if side == "BOTH" else f"{base}:{side.lower()}"

    def rest_cache(self, *parts: str) -> str:
        return self.key("rest_cache", *parts)

    def _slot(self, kind: str, venue: str, symbol: str, extra: str = "") -> tuple[str, str]:
        """(key, announced kind), cached: building key strings per event would cost more than the rest."""
        slot = (kind, venue, symbol, extra)
        hit = self._slots.get(slot)
        if hit is None:
            vk = _venue_kind(venue, kind)
            parts = [vk, symbol.lower()]
            if extra:
                parts.append(extra)
            hit = self._slots[slot] = (self.key(*parts), vk)
        return hit

    # --- mapping ---------------------------------------------------------------------------------------------
    def commands(self, event: object) -> list[Command]:
        """The commands for one event; ``[]`` for kinds the sink does not store (trades, book tops, ...)."""
        handler = self._handlers.get(type(event))
        return handler(event) if handler is not None else []

    def put_json(self, key_suffix: str, value: object, ttl_ms: int | None) -> Put:
        """A generic latest value, e.g. ``scanner:top``; kind = the suffix's first segment. Encoded now: the
        caller may change ``value`` afterwards."""
        if ttl_ms is not None and ttl_ms <= 0:
            raise ValueError("ttl must be positive (or None for no expiry)")
        return Put(self.key(key_suffix), ttl_ms, key_suffix.split(":", 1)[0], "", _same, _encode(value))

    def append(self, stream_suffix: str, fields: Mapping[str, object], maxlen: int = STREAM_MAXLEN) -> Append:
        """A generic stream entry (Redis-chosen id), e.g. ``alerts``; values become strings."""
        if maxlen <= 0:
            raise ValueError("maxlen must be positive: a stream without MAXLEN grows forever")
        flat: dict[str, str | bytes] = {k: v if isinstance(v, (str, bytes)) else _text(v) for k, v in fields.items()}
        return Append(self.key(stream_suffix), flat, maxlen, "*", stream_suffix.split(":", 1)[0], "")

    def _mark_price(self, ev: MarkPrice) -> list[Command]:
        key, kind = self._slot("mark_price", "futures", ev.symbol)
        return [Put(key, LATEST_TTL_MS, kind, ev.symbol, _mark_value, ev)]

    def _depth(self, ev: Depth) -> list[Command]:
        key, kind = self._slot("orderbook", ev.venue, ev.symbol, _LEVELS)
        return [Put(key, LATEST_TTL_MS, kind, ev.symbol, _depth_value, ev)]

    def _ticker(self, ev: Ticker) -> list[Command]:
        key, kind = self._slot("ticker", ev.venue, ev.symbol, "" if ev.window == "24h" else ev.window)
        return [Put(key, LATEST_TTL_MS, kind, ev.symbol, _ticker_value, ev)]

    def _mini_ticker(self, ev: MiniTicker) -> list[Command]:
        key, kind = self._slot("ticker", ev.venue, ev.symbol)
        return [Put(key, LATEST_TTL_MS, kind, ev.symbol, _mini_value, ev)]

    def _kline(self, k: Kline) -> list[Command]:
        out: list[Command] = []
        series = (k.venue, k.symbol, k.interval)
        high = self._kline_high.get(series)
        if high is None or k.open_time >= high:
            self._kline_high[series] = k.open_time
            key, kind = self._slot("kline", k.venue, k.symbol, k.interval)
            ttl = max(LATEST_TTL_MS, KLINE_TTL_INTERVALS * INTERVAL_MS.get(k.interval, 60_000))
            out.append(Put(key, ttl, kind, k.symbol, _kline_value, k))
        if k.closed:
            fields = {
                "open_time": str(k.open_time), "close_time": str(k.close_time), "open": repr(k.open),
                "high": repr(k.high), "low": repr(k.low), "close": repr(k.close), "volume": repr(k.volume),
                "quote_volume": repr(k.quote_volume), "trades": str(k.trades),
                "taker_buy_volume": repr(k.taker_buy_volume), "taker_buy_quote_volume": repr(k.taker_buy_quote_volume),
            }  # fmt: skip
            key, kind = self._slot("klines", k.venue, k.symbol, k.interval)
            out.append(Append(key, fields, STREAM_MAXLEN, f"{k.open_time}-0", kind, k.symbol))
        return out

    def _order(self, ev: OrderUpdate) -> list[Command]:
        fields: dict[str, str | bytes] = {"order_id": str(ev.order_id), "status": ev.status, "data": _encode(ev)}
        key, kind = self._slot("orders", "futures", ev.symbol)
        return [Append(key, fields, STREAM_MAXLEN, "*", kind, ev.symbol)]

    def _account(self, ev: AccountUpdate) -> list[Command]:
        out: list[Command] = []
        for p in ev.positions:
            key, kind = self._slot("position", "futures", p.symbol, "" if p.side == "BOTH" else p.side.lower())
            out.append(Put(key, POSITION_TTL_MS, kind, p.symbol, _position_value, (ev, p)))
        return out


_LEVELS = str(DEPTH_LEVELS)


def _mark_value(ev: MarkPrice) -> bytes:
    return _encode({"mark_price": ev.mark, "timestamp": ev.ts_event, "source": SOURCE})


def _depth_value(ev: Depth) -> bytes:
    return _encode({"bids": ev.bids[:DEPTH_LEVELS], "asks": ev.asks[:DEPTH_LEVELS], "timestamp": ev.ts_event,
                    "source": SOURCE})  # fmt: skip


def _ticker_value(ev: Ticker) -> bytes:
    return _encode({
        "symbol": ev.symbol, "window": ev.window, "last_price": ev.last, "open": ev.open, "high": ev.high,
        "low": ev.low, "volume": ev.volume, "quote_volume": ev.quote_volume,
        "price_change_percent": ev.price_change_percent, "weighted_avg_price": ev.weighted_avg_price,
        "trades": ev.trades, "best_bid": ev.best_bid, "best_ask": ev.best_ask, "timestamp": ev.ts_event,
        "source": SOURCE,
    })  # fmt: skip


def _mini_value(ev: MiniTicker) -> bytes:
    change = (ev.close - ev.open) / ev.open * 100.0 if ev.open else 0.0
    return _encode({
        "symbol": ev.symbol, "window": "24h", "last_price": ev.close, "open": ev.open, "high": ev.high,
        "low": ev.low, "volume": ev.volume, "quote_volume": ev.quote_volume, "price_change_percent": change,
        "timestamp": ev.ts_event, "source": SOURCE,
    })  # fmt: skip


def _kline_value(k: Kline) -> bytes:
    return _encode({
        "symbol": k.symbol, "interval": k.interval, "open_time": k.open_time, "close_time": k.close_time,
        "open": k.open, "high": k.high, "low": k.low, "close": k.close, "volume": k.volume,
        "quote_volume": k.quote_volume, "trades": k.trades, "taker_buy_volume": k.taker_buy_volume,
        "taker_buy_quote_volume": k.taker_buy_quote_volume, "closed": k.closed, "timestamp": k.ts_event,
        "source": SOURCE,
    })  # fmt: skip


def _position_value(src: tuple[AccountUpdate, Position]) -> bytes:
    ev, p = src
    return _encode({
        "symbol": p.symbol, "amount": p.amount, "entry_price": p.entry_price, "unrealized_pnl": p.unrealized_pnl,
        "margin_type": p.margin_type, "side": p.side, "reason": ev.reason, "timestamp": ev.ts_event,
        "source": SOURCE,
    })  # fmt: skip


def _text(v: object) -> str:
    return repr(v) if isinstance(v, float) else str(v) if isinstance(v, (int, bool)) else _encode(v).decode()


def announcement(commands: Iterable[Command], now_ms: int) -> bytes:
    """One bounded JSON message per flushed batch: the kinds touched and, per kind, up to
    ``ANNOUNCE_MAX_SYMBOLS`` symbols; ``more`` counts, per kind, the commands whose symbol is not listed
    (``"*"``: commands of kinds beyond ``ANNOUNCE_MAX_KINDS``); ``n`` is the number of commands."""
    kinds: dict[str, dict[str, None]] = {}
    more: dict[str, int] = {}
    n = 0
    for c in commands:
        n += 1
        symbols = kinds.get(c.kind)
        if symbols is None:
            if len(kinds) >= ANNOUNCE_MAX_KINDS:
                more["*"] = more.get("*", 0) + 1
                continue
            symbols = kinds[c.kind] = {}
        if c.symbol and c.symbol not in symbols:
            if len(symbols) < ANNOUNCE_MAX_SYMBOLS:
                symbols[c.symbol] = None
            else:
                more[c.kind] = more.get(c.kind, 0) + 1
    body: dict[str, object] = {"ts": now_ms, "n": n, "kinds": {k: list(s) for k, s in kinds.items()}}
    if more:
        body["more"] = more
    return _encode(body)
