"""Binance described by data: endpoints, limits, stream names, futures path routing, REST weights.

Pure: no I/O. The simulator and the feed both read these facts, so the two cannot drift apart.
Sources: Binance spot ``web-socket-streams.md`` / ``rest-api.md`` and the USD-M futures docs
(see ``shared/BINANCE.md``).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from cryptoscan.events import Venue as Venue  # re-exported: one Venue for every layer


class Category(enum.StrEnum):
    """Which WebSocket path a stream lives on. Spot has one; futures routes by category."""

    SPOT = "spot"
    PUBLIC = "public"  # futures order book: bookTicker, depth
    MARKET = "market"  # futures market data: aggTrade, kline, markPrice, tickers
    PRIVATE = "private"  # futures user data (listenKey)


INTERVAL_MS: dict[str, int] = {
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "1h": 3_600_000,
    "4h": 14_400_000,
    "1d": 86_400_000,
}


@dataclass(frozen=True, slots=True)
class VenueLimits:
    """Per-venue limits, as Binance enforces them. Times are in milliseconds."""

    messages_per_second: int
    streams_per_connection: int
    connection_attempts_per_5m: int
    ping_interval_ms: int
    pong_timeout_ms: int
    lifetime_ms: int
    rest_weight_per_minute: int


SPOT_LIMITS = VenueLimits(
    messages_per_second=5,
    streams_per_connection=1024,
    connection_attempts_per_5m=300,
    ping_interval_ms=20_000,
    pong_timeout_ms=60_000,
    lifetime_ms=86_400_000,
    rest_weight_per_minute=6000,
)
FUTURES_LIMITS = VenueLimits(
    messages_per_second=10,
    streams_per_connection=1024,
    connection_attempts_per_5m=300,
    ping_interval_ms=180_000,
    pong_timeout_ms=600_000,
    lifetime_ms=86_400_000,
    rest_weight_per_minute=2400,
)
LIMITS: dict[Venue, VenueLimits] = {Venue.SPOT: SPOT_LIMITS, Venue.FUTURES: FUTURES_LIMITS}

# Live endpoints. A local exchange (``cryptoscan sim``) serves every path below on one base URL.
SPOT_REST = "https://api.binance.com"
FUTURES_REST = "https://fapi.binance.com"
SPOT_WS = "wss://stream.binance.com:9443"
FUTURES_WS = "wss://fstream.binance.com"


class Kind(enum.StrEnum):
    """Stream kinds. Per-symbol kinds are named ``<symbol>@<kind>``; ALL_* kinds stand alone."""

    KLINE = "kline"
    TRADE = "trade"
    AGG_TRADE = "aggTrade"
    TICKER = "ticker"
    MINI_TICKER = "miniTicker"
    BOOK_TICKER = "bookTicker"
    DEPTH = "depth"  # partial book: depth5/10/20, optionally @100ms etc.
    MARK_PRICE = "markPrice"
    ALL_MINI_TICKER = "!miniTicker@arr"
    ALL_ROLLING_TICKER = "!ticker_<w>@arr"
    ALL_MARK_PRICE = "!markPrice@arr"


@dataclass(frozen=True, slots=True)
class StreamName:
    """A parsed stream name. ``symbol`` is lowercase, or None for all-market streams."""

    raw: str
    kind: Kind
    symbol: str | None = None
    interval: str | None = None  # kline interval, or rolling-ticker window ("1h", "4h", "1d")
    levels: int | None = None  # depth levels
    speed_ms: int | None = None  # "@100ms", "@1s" suffix

    @property
    def category(self) -> Category:
        return FUTURES_CATEGORY[self.kind]


_SYMBOL = r"[a-z0-9]{2,30}"
_PER_SYMBOL = re.compile(
    rf"^(?P<symbol>{_SYMBOL})@(?:"
    r"kline_(?P<interval>1m|3m|5m|15m|1h|4h|1d)"
    r"|(?P<simple>trade|aggTrade|ticker|miniTicker|bookTicker)"
    r"|depth(?P<levels>5|10|20)(?:@(?P<dspeed>100ms|250ms|500ms|1000ms))?"
    r"|markPrice(?:@(?P<mspeed>1s))?"
    r")$"
)
_ALL = re.compile(
    r"^!(?:(?P<mini>miniTicker@arr)|ticker_(?P<window>1h|4h|1d)@arr|(?P<mark>markPrice@arr)(?:@(?P<mspeed>1s))?)$"
)


def _speed(text: str | None) -> int | None:
    if text is None:
        return None
    return int(text[:-2]) if text.endswith("ms") else int(text[:-1]) * 1000


def parse_stream(name: str) -> StreamName | None:
    """Parse a stream name as Binance spells it; None if it is not one we know."""
    m = _PER_SYMBOL.match(name)
    if m is not None:
        symbol = m["symbol"]
        if m["interval"]:
            return StreamName(name, Kind.KLINE, symbol, interval=m["interval"])
        if m["simple"]:
            return StreamName(name, Kind(m["simple"]), symbol)
        if m["levels"]:
            return StreamName(name, Kind.DEPTH, symbol, levels=int(m["levels"]), speed_ms=_speed(m["dspeed"]))
        return StreamName(name, Kind.MARK_PRICE, symbol, speed_ms=_speed(m["mspeed"]))
    m = _ALL.match(name)
    if m is not None:
        if m["mini"]:
            return StreamName(name, Kind.ALL_MINI_TICKER)
        if m["window"]:
            return StreamName(name, Kind.ALL_ROLLING_TICKER, interval=m["window"])
        return StreamName(name, Kind.ALL_MARK_PRICE, speed_ms=_speed(m["mspeed"]))
    return None


# Futures routed paths (2026): a stream on the wrong path is acknowledged and then gets nothing.
FUTURES_CATEGORY: dict[Kind, Category] = {
    Kind.BOOK_TICKER: Category.PUBLIC,
    Kind.DEPTH: Category.PUBLIC,
    Kind.KLINE: Category.MARKET,
    Kind.TRADE: Category.MARKET,
    Kind.AGG_TRADE: Category.MARKET,
    Kind.TICKER: Category.MARKET,
    Kind.MINI_TICKER: Category.MARKET,
    Kind.MARK_PRICE: Category.MARKET,
    Kind.ALL_MINI_TICKER: Category.MARKET,
    Kind.ALL_ROLLING_TICKER: Category.MARKET,
    Kind.ALL_MARK_PRICE: Category.MARKET,
}

# Which kinds each venue offers at all.
SPOT_KINDS = frozenset(
    {
        Kind.KLINE,
        Kind.TRADE,
        Kind.AGG_TRADE,
        Kind.TICKER,
        Kind.MINI_TICKER,
        Kind.BOOK_TICKER,
        Kind.DEPTH,
        Kind.ALL_MINI_TICKER,
        Kind.ALL_ROLLING_TICKER,
    }
)
FUTURES_KINDS = frozenset(
    {
        Kind.KLINE,
        Kind.AGG_TRADE,
        Kind.TICKER,
        Kind.MINI_TICKER,
        Kind.BOOK_TICKER,
        Kind.DEPTH,
        Kind.MARK_PRICE,
        Kind.ALL_MINI_TICKER,
        Kind.ALL_MARK_PRICE,
    }
)
VENUE_KINDS: dict[Venue, frozenset[Kind]] = {Venue.SPOT: SPOT_KINDS, Venue.FUTURES: FUTURES_KINDS}


def stream_cadence_ms(venue: Venue, stream: StreamName) -> int:
    """How often Binance pushes a stream (market time); 0 means 'as trades happen'."""
    kind = stream.kind
    if kind in (Kind.TRADE, Kind.AGG_TRADE, Kind.BOOK_TICKER):
        return 0 if venue is Venue.SPOT or kind is not Kind.AGG_TRADE else 100
    if kind is Kind.KLINE:
        return 2000 if venue is Venue.SPOT else 250
    if kind is Kind.DEPTH:
        return stream.speed_ms or (1000 if venue is Venue.SPOT else 250)
    if kind in (Kind.MARK_PRICE, Kind.ALL_MARK_PRICE):
        return stream.speed_ms or 3000
    return 1000


def futures_ws_path(category: Category) -> str:
    """The routed path prefix for a futures category: ``/public``, ``/market`` or ``/private``."""
    if category is Category.SPOT:
        raise ValueError("spot streams have no futures path")
    return f"/{category.value}"


# REST request weights (spot rest-api.md, futures "General Info"), as functions of the query.
def spot_rest_weight(path: str, params: dict[str, str]) -> int:
    if path == "/api/v3/exchangeInfo":
        return 20
    if path == "/api/v3/ticker/24hr":
        if "symbol" in params:
            return 2
        if "symbols" in params:
            n = params["symbols"].count(",") + 1
            return 2 if n <= 20 else 40 if n <= 100 else 80
        return 80
    if path == "/api/v3/klines":
        return 2
    if path == "/api/v3/depth":
        limit = int(params.get("limit", "100") or 100)
        return 5 if limit <= 100 else 25 if limit <= 500 else 50 if limit <= 1000 else 250
    return 1  # ping, time


def futures_rest_weight(path: str, params: dict[str, str]) -> int:
    if path == "/fapi/v1/ticker/24hr":
        return 1 if "symbol" in params else 40
    if path == "/fapi/v1/klines":
        limit = int(params.get("limit", "500") or 500)
        return 1 if limit < 100 else 2 if limit < 500 else 5 if limit <= 1000 else 10
    if path == "/fapi/v1/premiumIndex":
        return 1 if "symbol" in params else 10
    if path == "/fapi/v1/depth":
        limit = int(params.get("limit", "500") or 500)
        return 2 if limit <= 50 else 5 if limit <= 100 else 10 if limit <= 500 else 20
    return 1  # exchangeInfo, ping, time, listenKey


LEVERAGED_SUFFIXES = ("UP", "DOWN", "BULL", "BEAR")


def is_leveraged_token(base_asset: str) -> bool:
    """Binance leveraged tokens (BTCUP, ETHDOWN, BNBBULL, ...) are not ordinary spot pairs."""
    return len(base_asset) > 4 and base_asset.endswith(LEVERAGED_SUFFIXES)
