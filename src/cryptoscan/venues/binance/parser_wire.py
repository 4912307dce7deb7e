"""The parser's private wire Structs: Binance's field names, decimals typed as ``float``.

Decoded with ``msgspec.json.Decoder(T, strict=False)`` (lax mode), so msgspec turns the decimal strings
into floats inside the decoder: one pass, no dict, no ``float()`` calls. Each Struct holds only the fields
the parser uses (unknown fields are skipped cheaply), **in the order Binance sends them**: msgspec
predicts the next key from the field order, and a kline Struct declared out of order decodes 25% slower
(measured). Attribute and wire names are those of ``schemas.py``; a test checks every pair against it.
Books decode straight into ``tuple[tuple[float, float], ...]``, the type ``events.Depth`` holds, so levels
are never copied.
``gc=False``: short-lived, cycle-free objects.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from msgspec import UNSET, Raw, Struct, UnsetType, field

Levels = tuple[tuple[float, float], ...]
T = TypeVar("T")


class Env(Struct, Generic[T], gc=False):
    """Combined-stream envelope; ``stream`` is read before decoding (it picks ``T``) and skipped here."""

    data: T


class KlineBarW(Struct, gc=False):
    open_time: int = field(name="t")
    close_time: int = field(name="T")
    interval: str = field(name="i")
    first_trade_id: int = field(name="f")
    last_trade_id: int = field(name="L")
    open: float = field(name="o")
    close: float = field(name="c")
    high: float = field(name="h")
    low: float = field(name="l")
    volume: float = field(name="v")
    trades: int = field(name="n")
    closed: bool = field(name="x")
    quote_volume: float = field(name="q")
    taker_buy_volume: float = field(name="V")
    taker_buy_quote_volume: float = field(name="Q")


class KlineW(Struct, gc=False):
    event_time: int = field(name="E")
    symbol: str = field(name="s")
    kline: KlineBarW = field(name="k")


class TradeW(Struct, gc=False):
    event_time: int = field(name="E")
    symbol: str = field(name="s")
    trade_id: int = field(name="t")
    price: float = field(name="p")
    quantity: float = field(name="q")
    trade_time: int = field(name="T")
    buyer_is_maker: bool = field(name="m")


class AggTradeW(Struct, kw_only=True, gc=False):
    event_time: int = field(name="E")
    symbol: str = field(name="s")
    agg_id: int = field(name="a", default=-1)  # absent in Binance futures' 2019 payloads
    price: float = field(name="p")
    quantity: float = field(name="q")
    first_trade_id: int = field(name="f")
    last_trade_id: int = field(name="l")
    trade_time: int = field(name="T")
    buyer_is_maker: bool = field(name="m")


class TickerW(Struct, kw_only=True, gc=False):
    """24 h ticker (``24hrTicker``) and rolling-window ticker (``1hTicker``...): the same fields we use."""

    event_time: int = field(name="E")
    symbol: str = field(name="s")
    price_change_percent: float = field(name="P")
    weighted_avg_price: float = field(name="w")
    last_price: float = field(name="c")
    best_bid: float | None = field(name="b", default=None)  # spot 24 h only
    best_ask: float | None = field(name="a", default=None)
    open: float = field(name="o")
    high: float = field(name="h")
    low: float = field(name="l")
    volume: float = field(name="v")
    quote_volume: float = field(name="q")
    open_time: int = field(name="O")
    close_time: int = field(name="C")
    trades: int = field(name="n")


class MiniTickerW(Struct, gc=False):
    event_time: int = field(name="E")
    symbol: str = field(name="s")
    close: float = field(name="c")
    open: float = field(name="o")
    high: float = field(name="h")
    low: float = field(name="l")
    volume: float = field(name="v")
    quote_volume: float = field(name="q")


class BookTickerW(Struct, gc=False):
    """Spot (no ``E``) and futures book ticker in one Struct: ``event_time`` 0 means 'not sent'."""

    update_id: int = field(name="u")
    symbol: str = field(name="s")
    bid: float = field(name="b")
    bid_qty: float = field(name="B")
    ask: float = field(name="a")
    ask_qty: float = field(name="A")
    event_time: int = field(name="E", default=0)


class SpotDepthW(Struct, gc=False):
    last_update_id: int = field(name="lastUpdateId")
    bids: Levels
    asks: Levels


class DepthUpdateW(Struct, kw_only=True, gc=False):
    event_time: int = field(name="E")
    symbol: str = field(name="s")
    first_update_id: int = field(name="U")
    final_update_id: int = field(name="u")
    prev_final_update_id: int | None = field(name="pu", default=None)
    bids: Levels = field(name="b")
    asks: Levels = field(name="a")


class MarkPriceW(Struct, gc=False):
    event_time: int = field(name="E")
    symbol: str = field(name="s")
    mark_price: float = field(name="p")
    estimated_settle_price: float = field(name="P", default=0.0)
    index_price: float | None = field(name="i", default=None)
    funding_rate: float = field(name="r", default=0.0)
    next_funding_time: int = field(name="T", default=0)


class ServerShutdownW(Struct, gc=False):
    event_time: int = field(name="E", default=0)


# --- futures user data ----------------------------------------------------------------------------------


class OrderW(Struct, kw_only=True, gc=False):
    symbol: str = field(name="s")
    client_order_id: str = field(name="c")
    side: str = field(name="S")
    order_type: str = field(name="o")
    quantity: float = field(name="q")
    price: float = field(name="p")
    avg_price: float = field(name="ap")
    execution_type: str = field(name="x")
    status: str = field(name="X")
    order_id: int = field(name="i")
    last_filled_qty: float = field(name="l")
    cum_filled_qty: float = field(name="z")
    last_filled_price: float = field(name="L")
    trade_time: int = field(name="T", default=0)
    realized_profit: float = field(name="rp", default=0.0)


class OrderTradeUpdateW(Struct, gc=False):
    event_time: int = field(name="E")
    order: OrderW = field(name="o")


class BalanceW(Struct, gc=False):
    asset: str = field(name="a")
    wallet_balance: float = field(name="wb")
    cross_wallet_balance: float = field(name="cw")
    balance_change: float = field(name="bc", default=0.0)


class PositionW(Struct, kw_only=True, gc=False):
    symbol: str = field(name="s")
    position_amount: float = field(name="pa")
    entry_price: float = field(name="ep", default=float("nan"))  # MARGIN_CALL positions carry none
    unrealized_pnl: float = field(name="up", default=0.0)
    margin_type: str = field(name="mt", default="cross")
    position_side: str = field(name="ps", default="BOTH")


class AccountW(Struct, gc=False):
    reason: str = field(name="m")
    balances: list[BalanceW] = field(name="B", default_factory=list)
    positions: list[PositionW] = field(name="P", default_factory=list)


class AccountUpdateW(Struct, gc=False):
    event_time: int = field(name="E")
    account: AccountW = field(name="a")


class MarginCallW(Struct, gc=False):
    event_time: int = field(name="E")
    cross_wallet_balance: float = field(name="cw")
    positions: list[PositionW] = field(name="p", default_factory=list)


class LeverageW(Struct, gc=False):
    symbol: str = field(name="s")
    leverage: int = field(name="l")


class AccountConfigUpdateW(Struct, gc=False):
    event_time: int = field(name="E")
    leverage: LeverageW | None = field(name="ac", default=None)  # absent when only ``ai`` (multi-assets) changed


class ListenKeyExpiredW(Struct, gc=False):
    event_time: int = field(name="E")  # a string in current USD-M traffic: lax mode reads it as int


# --- what the slow path looks at --------------------------------------------------------------------------


class ErrorW(Struct, gc=False):
    code: int
    msg: str


class ProbeW(Struct, gc=False):
    """Every top-level key the slow path dispatches on; the rest of the frame is skipped, not built."""

    stream: str | None = None
    data: Raw = Raw()  # empty when absent (msgspec takes no Raw in a Union)
    e: str | None = None
    result: object | UnsetType = UNSET
    error: ErrorW | None = None
    code: int | None = None
    msg: str | None = None
    id: int | str | None = None
    u: int | None = None
    last_update_id: int | None = field(name="lastUpdateId", default=None)


class ElemProbeW(Struct, gc=False):
    """An element of a top-level array (``!miniTicker@arr`` on a raw ``/ws`` connection)."""

    e: str | None = None
