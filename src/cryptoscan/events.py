"""Typed, immutable market and account events: what every layer above the venue parsers sees.

Readable names and floats; Binance's wire names stay in ``venues/binance/schemas.py``. Every event carries
``ts_event`` (the exchange's event time, epoch ms) and ``ts_recv`` (when our socket read the frame, epoch ms,
from the injected clock), so lag is measurable everywhere. ``gc=False``: these hold no reference cycles, and
skipping the garbage collector's tracking makes millions of them cheap.
"""

from __future__ import annotations

import enum

from msgspec import Struct


class Venue(enum.StrEnum):
    SPOT = "spot"
    FUTURES = "futures"


class Kline(Struct, frozen=True, gc=False):
    """One candle; ``closed`` is False while it is still forming (Binance repeats it until it closes)."""

    venue: str
    symbol: str
    interval: str
    open_time: int
    close_time: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    quote_volume: float
    trades: int
    taker_buy_volume: float
    taker_buy_quote_volume: float
    closed: bool
    first_trade_id: int
    last_trade_id: int
    ts_event: int
    ts_recv: int


class Trade(Struct, frozen=True, gc=False):
    """A trade, or an aggregate trade (``aggregated``: ``trade_id`` is then the aggTrade id)."""

    venue: str
    symbol: str
    trade_id: int
    price: float
    quantity: float
    buyer_is_maker: bool
    trade_time: int
    first_trade_id: int
    last_trade_id: int
    aggregated: bool
    ts_event: int
    ts_recv: int


class Ticker(Struct, frozen=True, gc=False):
    """A rolling-window ticker: 24 h (``@ticker``) or 1 h / 4 h (``!ticker_<w>@arr``)."""

    venue: str
    symbol: str
    window: str  # "24h", "1h", "4h", "1d"
    last: float
    open: float
    high: float
    low: float
    volume: float
    quote_volume: float
    price_change_percent: float
    weighted_avg_price: float
    trades: int
    open_time: int
    close_time: int
    best_bid: float | None
    best_ask: float | None
    ts_event: int
    ts_recv: int


class MiniTicker(Struct, frozen=True, gc=False):
    venue: str
    symbol: str
    close: float
    open: float
    high: float
    low: float
    volume: float
    quote_volume: float
    ts_event: int
    ts_recv: int


class BookTop(Struct, frozen=True, gc=False):
    venue: str
    symbol: str
    bid: float
    bid_qty: float
    ask: float
    ask_qty: float
    update_id: int
    ts_event: int  # spot bookTicker has no event time: ts_recv is used
    ts_recv: int


class Depth(Struct, frozen=True, gc=False):
    """A partial order book (top N levels), best first."""

    venue: str
    symbol: str
    bids: tuple[tuple[float, float], ...]
    asks: tuple[tuple[float, float], ...]
    last_update_id: int
    prev_update_id: int | None  # futures ``pu``
    ts_event: int
    ts_recv: int


class MarkPrice(Struct, frozen=True, gc=False):
    symbol: str
    mark: float
    index: float | None
    estimated_settle: float
    funding_rate: float
    next_funding_time: int
    ts_event: int
    ts_recv: int


class ServerShutdown(Struct, frozen=True, gc=False):
    """The exchange announced it will close this connection soon: rotate now."""

    venue: str
    ts_event: int
    ts_recv: int


class OrderUpdate(Struct, frozen=True, gc=False):
    symbol: str
    order_id: int
    client_order_id: str
    side: str
    order_type: str
    status: str
    execution_type: str
    price: float
    avg_price: float
    quantity: float
    filled: float
    last_filled_qty: float
    last_filled_price: float
    realized_profit: float
    trade_time: int
    ts_event: int
    ts_recv: int


class Balance(Struct, frozen=True, gc=False):
    asset: str
    wallet: float
    cross_wallet: float
    change: float


class Position(Struct, frozen=True, gc=False):
    symbol: str
    amount: float
    entry_price: float
    unrealized_pnl: float
    margin_type: str
    side: str


class AccountUpdate(Struct, frozen=True, gc=False):
    reason: str
    balances: tuple[Balance, ...]
    positions: tuple[Position, ...]
    ts_event: int
    ts_recv: int


class MarginCall(Struct, frozen=True, gc=False):
    cross_wallet_balance: float
    positions: tuple[Position, ...]
    ts_event: int
    ts_recv: int


class AccountConfig(Struct, frozen=True, gc=False):
    symbol: str
    leverage: int
    ts_event: int
    ts_recv: int


class ListenKeyExpired(Struct, frozen=True, gc=False):
    ts_event: int
    ts_recv: int


class LinkState(enum.StrEnum):
    """What a user sees of a connection (the feed's finer lifecycle maps onto these)."""

    CONNECTED = "CONNECTED"
    RECONNECTING = "RECONNECTING"
    DISCONNECTED = "DISCONNECTED"
    THROTTLED = "THROTTLED"


class ConnectionStatus(Struct, frozen=True, gc=False):
    connection_id: str
    venue: str
    state: str  # a LinkState value
    detail: str
    ts_event: int
    ts_recv: int


MarketEvent = Kline | Trade | Ticker | MiniTicker | BookTop | Depth | MarkPrice | ServerShutdown
UserEvent = OrderUpdate | AccountUpdate | MarginCall | AccountConfig | ListenKeyExpired
USER_EVENTS: tuple[type, ...] = (OrderUpdate, AccountUpdate, MarginCall, AccountConfig, ListenKeyExpired)
"""The UserEvent types, for ``isinstance`` and type tables (account events are never dropped)."""
Event = MarketEvent | UserEvent | ConnectionStatus
