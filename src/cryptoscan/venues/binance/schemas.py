"""Binance wire payloads as msgspec Structs: readable attribute names, Binance's one-letter names on the wire.

The only module that knows ``E``, ``k``, ``x``. The simulator encodes with these Structs and the feed decodes
with them, so both sides agree on every field by construction. Prices and quantities stay decimal strings
here, exactly as Binance sends them; converting them is the parser's job.

Tagged Structs (``tag_field="e"``) carry Binance's event type, so one decoder over a Union picks the type
from ``e`` in a single pass. Payloads without ``e`` (spot bookTicker, spot partial depth) are untagged.
A field that only one venue sends is optional (``None``) and omitted from encoded output when unset.

Example (spot kline, recorded from Binance)::

    {"e":"kline","E":1653818762502,"s":"BTCUSDT","k":{"t":1653818760000,"T":1653818819999,"s":"BTCUSDT",
     "i":"1m","f":1384844002,"L":1384844032,"o":"29038.46000000","c":"29038.47000000","h":"29038.47000000",
     "l":"29038.46000000","v":"0.20926000","n":31,"x":false,"q":"6076.58918320","V":"0.10436000",
     "Q":"3030.45472920","B":"0"}}
"""

from __future__ import annotations

import msgspec
from msgspec import Struct, field

# --- market streams -------------------------------------------------------------------------------------


class _Event(Struct, tag_field="e", omit_defaults=True, frozen=True):
    """Base of every payload with an ``e`` field."""


class KlineBar(Struct, frozen=True):
    open_time: int = field(name="t")
    close_time: int = field(name="T")
    symbol: str = field(name="s")
    interval: str = field(name="i")
    first_trade_id: int = field(name="f")
    last_trade_id: int = field(name="L")
    open: str = field(name="o")
    close: str = field(name="c")
    high: str = field(name="h")
    low: str = field(name="l")
    volume: str = field(name="v")
    trades: int = field(name="n")
    closed: bool = field(name="x")
    quote_volume: str = field(name="q")
    taker_buy_volume: str = field(name="V")
    taker_buy_quote_volume: str = field(name="Q")
    ignore: str = field(name="B", default="0")


class KlineMsg(_Event, tag="kline", frozen=True):
    event_time: int = field(name="E")
    symbol: str = field(name="s")
    kline: KlineBar = field(name="k")


class TradeMsg(_Event, tag="trade", frozen=True):
    event_time: int = field(name="E")
    symbol: str = field(name="s")
    trade_id: int = field(name="t")
    price: str = field(name="p")
    quantity: str = field(name="q")
    trade_time: int = field(name="T")
    buyer_is_maker: bool = field(name="m")
    ignore_best_match: bool | None = field(name="M", default=None)
    buyer_order_id: int | None = field(name="b", default=None)  # retired by Binance; old recordings have it
    seller_order_id: int | None = field(name="a", default=None)
    order_type: str | None = field(name="X", default=None)  # futures: MARKET, LIQUIDATION, INSURANCE_FUND


class AggTradeMsg(_Event, tag="aggTrade", kw_only=True, frozen=True):
    event_time: int = field(name="E")
    symbol: str = field(name="s")
    agg_id: int | None = field(name="a", default=None)  # absent in Binance futures' 2019 payloads
    price: str = field(name="p")
    quantity: str = field(name="q")
    first_trade_id: int = field(name="f")
    last_trade_id: int = field(name="l")
    trade_time: int = field(name="T")
    buyer_is_maker: bool = field(name="m")
    ignore_best_match: bool | None = field(name="M", default=None)  # spot only


class TickerMsg(_Event, tag="24hrTicker", frozen=True):
    event_time: int = field(name="E")
    symbol: str = field(name="s")
    price_change: str = field(name="p")
    price_change_percent: str = field(name="P")
    weighted_avg_price: str = field(name="w")
    first_trade_price: str | None = field(name="x", default=None)  # spot only
    last_price: str = field(name="c", default="0")
    last_quantity: str = field(name="Q", default="0")
    best_bid: str | None = field(name="b", default=None)  # spot only
    best_bid_qty: str | None = field(name="B", default=None)
    best_ask: str | None = field(name="a", default=None)
    best_ask_qty: str | None = field(name="A", default=None)
    open: str = field(name="o", default="0")
    high: str = field(name="h", default="0")
    low: str = field(name="l", default="0")
    volume: str = field(name="v", default="0")
    quote_volume: str = field(name="q", default="0")
    open_time: int = field(name="O", default=0)
    close_time: int = field(name="C", default=0)
    first_trade_id: int = field(name="F", default=0)
    last_trade_id: int = field(name="L", default=0)
    trades: int = field(name="n", default=0)


class MiniTickerMsg(_Event, tag="24hrMiniTicker", frozen=True):
    event_time: int = field(name="E")
    symbol: str = field(name="s")
    close: str = field(name="c")
    open: str = field(name="o")
    high: str = field(name="h")
    low: str = field(name="l")
    volume: str = field(name="v")
    quote_volume: str = field(name="q")


class _RollingTicker(_Event, frozen=True):
    event_time: int = field(name="E")
    symbol: str = field(name="s")
    price_change: str = field(name="p")
    price_change_percent: str = field(name="P")
    open: str = field(name="o")
    high: str = field(name="h")
    low: str = field(name="l")
    close: str = field(name="c")
    weighted_avg_price: str = field(name="w")
    volume: str = field(name="v")
    quote_volume: str = field(name="q")
    open_time: int = field(name="O")
    close_time: int = field(name="C")
    first_trade_id: int = field(name="F")
    last_trade_id: int = field(name="L")
    trades: int = field(name="n")


class Ticker1hMsg(_RollingTicker, tag="1hTicker", frozen=True):
    """``!ticker_1h@arr`` element."""


class Ticker4hMsg(_RollingTicker, tag="4hTicker", frozen=True):
    """``!ticker_4h@arr`` element."""


class Ticker1dMsg(_RollingTicker, tag="1dTicker", frozen=True):
    """``!ticker_1d@arr`` element."""


ROLLING_TICKER_BY_WINDOW: dict[str, type[_RollingTicker]] = {
    "1h": Ticker1hMsg,
    "4h": Ticker4hMsg,
    "1d": Ticker1dMsg,
}


class SpotBookTickerMsg(Struct, frozen=True):
    """Spot ``<s>@bookTicker``: no ``e``, no event time."""

    update_id: int = field(name="u")
    symbol: str = field(name="s")
    bid: str = field(name="b")
    bid_qty: str = field(name="B")
    ask: str = field(name="a")
    ask_qty: str = field(name="A")


class FuturesBookTickerMsg(_Event, tag="bookTicker", frozen=True):
    update_id: int = field(name="u")
    symbol: str = field(name="s")
    bid: str = field(name="b")
    bid_qty: str = field(name="B")
    ask: str = field(name="a")
    ask_qty: str = field(name="A")
    transaction_time: int = field(name="T")
    event_time: int = field(name="E")


class SpotDepthMsg(Struct, frozen=True):
    """Spot ``<s>@depth<N>[@100ms]`` partial book: no symbol (take it from the stream name)."""

    last_update_id: int = field(name="lastUpdateId")
    bids: list[tuple[str, str]]
    asks: list[tuple[str, str]]


class DepthUpdateMsg(_Event, tag="depthUpdate", kw_only=True, frozen=True):
    """Futures partial book and every diff-depth stream. Futures adds ``T`` and ``pu`` (previous ``u``)."""

    event_time: int = field(name="E")
    transaction_time: int | None = field(name="T", default=None)
    symbol: str = field(name="s")
    first_update_id: int = field(name="U")
    final_update_id: int = field(name="u")
    prev_final_update_id: int | None = field(name="pu", default=None)
    bids: list[tuple[str, str]] = field(name="b")
    asks: list[tuple[str, str]] = field(name="a")


class MarkPriceMsg(_Event, tag="markPriceUpdate", frozen=True):
    event_time: int = field(name="E")
    symbol: str = field(name="s")
    mark_price: str = field(name="p")
    index_price: str | None = field(name="i", default=None)
    estimated_settle_price: str = field(name="P", default="0")
    funding_rate: str = field(name="r", default="0")
    next_funding_time: int = field(name="T", default=0)


class ServerShutdownMsg(_Event, tag="serverShutdown", frozen=True):
    event_time: int = field(name="E", default=0)


# --- futures user data ----------------------------------------------------------------------------------


class OrderData(Struct, frozen=True, kw_only=True):
    """``ORDER_TRADE_UPDATE``'s ``o``. Binance sends every field every time, so none is omitted."""

    symbol: str = field(name="s")
    client_order_id: str = field(name="c")
    side: str = field(name="S")
    order_type: str = field(name="o")
    time_in_force: str = field(name="f")
    quantity: str = field(name="q")
    price: str = field(name="p")
    avg_price: str = field(name="ap")
    stop_price: str = field(name="sp")
    execution_type: str = field(name="x")
    status: str = field(name="X")
    order_id: int = field(name="i")
    last_filled_qty: str = field(name="l")
    cum_filled_qty: str = field(name="z")
    last_filled_price: str = field(name="L")
    commission_asset: str = field(name="N", default="USDT")
    commission: str = field(name="n", default="0")
    trade_time: int = field(name="T", default=0)
    trade_id: int = field(name="t", default=0)
    bids_notional: str = field(name="b", default="0")
    asks_notional: str = field(name="a", default="0")
    is_maker: bool = field(name="m", default=False)
    reduce_only: bool = field(name="R", default=False)
    working_type: str = field(name="wt", default="CONTRACT_PRICE")
    original_type: str = field(name="ot", default="")
    position_side: str = field(name="ps", default="BOTH")
    close_position: bool = field(name="cp", default=False)
    realized_profit: str = field(name="rp", default="0")
    price_protect: bool = field(name="pP", default=False)
    ignore_si: int = field(name="si", default=0)
    ignore_ss: int = field(name="ss", default=0)
    self_trade_prevention: str = field(name="V", default="EXPIRE_MAKER")
    price_match: str = field(name="pm", default="NONE")
    good_till_date: int = field(name="gtd", default=0)


class OrderTradeUpdateMsg(_Event, tag="ORDER_TRADE_UPDATE", frozen=True):
    event_time: int = field(name="E")
    transaction_time: int = field(name="T")
    order: OrderData = field(name="o")


class BalanceData(Struct, frozen=True):
    asset: str = field(name="a")
    wallet_balance: str = field(name="wb")
    cross_wallet_balance: str = field(name="cw")
    balance_change: str = field(name="bc")


class PositionData(Struct, frozen=True, kw_only=True):
    """``ACCOUNT_UPDATE`` position; every field is always sent."""

    symbol: str = field(name="s")
    position_amount: str = field(name="pa")
    entry_price: str = field(name="ep")
    breakeven_price: str = field(name="bep", default="0")
    accumulated_realized: str = field(name="cr", default="0")
    unrealized_pnl: str = field(name="up", default="0")
    margin_type: str = field(name="mt", default="cross")
    isolated_wallet: str = field(name="iw", default="0")
    position_side: str = field(name="ps", default="BOTH")
    margin_asset: str = field(name="ma", default="USDT")


class AccountData(Struct, frozen=True):
    reason: str = field(name="m")
    balances: list[BalanceData] = field(name="B")
    positions: list[PositionData] = field(name="P")


class AccountUpdateMsg(_Event, tag="ACCOUNT_UPDATE", frozen=True):
    event_time: int = field(name="E")
    transaction_time: int = field(name="T")
    account: AccountData = field(name="a")


class MarginCallPosition(Struct, frozen=True):
    symbol: str = field(name="s")
    position_side: str = field(name="ps")
    position_amount: str = field(name="pa")
    margin_type: str = field(name="mt")
    isolated_wallet: str = field(name="iw")
    mark_price: str = field(name="mp")
    unrealized_pnl: str = field(name="up")
    maintenance_margin: str = field(name="mm")


class MarginCallMsg(_Event, tag="MARGIN_CALL", frozen=True):
    event_time: int = field(name="E")
    cross_wallet_balance: str = field(name="cw")
    positions: list[MarginCallPosition] = field(name="p")


class LeverageConfig(Struct, frozen=True):
    symbol: str = field(name="s")
    leverage: int = field(name="l")


class AccountConfigUpdateMsg(_Event, tag="ACCOUNT_CONFIG_UPDATE", frozen=True):
    event_time: int = field(name="E")
    transaction_time: int = field(name="T")
    leverage: LeverageConfig | None = field(name="ac", default=None)


class ListenKeyExpiredMsg(_Event, tag="listenKeyExpired", frozen=True):
    event_time: int | str = field(name="E")  # USD-M docs and live traffic show a string; older payloads an int
    listen_key: str = field(name="listenKey")


# --- control frames, envelopes and errors ---------------------------------------------------------------


class CombinedMsg(Struct, frozen=True):
    """``/stream`` envelope. ``data`` stays raw so it is decoded once, by the type the stream name implies."""

    stream: str
    data: msgspec.Raw


class ControlRequest(Struct, frozen=True, omit_defaults=True):
    method: str
    id: int | str | None = None
    params: list[str] | list[object] | None = None


class ControlResult(Struct, frozen=True):
    result: object
    id: int | str | None


class ApiError(Struct, frozen=True):
    """Binance's REST (and WebSocket) error body."""

    code: int
    msg: str


EventMsg = (
    KlineMsg
    | TradeMsg
    | AggTradeMsg
    | TickerMsg
    | MiniTickerMsg
    | Ticker1hMsg
    | Ticker4hMsg
    | Ticker1dMsg
    | FuturesBookTickerMsg
    | DepthUpdateMsg
    | MarkPriceMsg
    | ServerShutdownMsg
    | OrderTradeUpdateMsg
    | AccountUpdateMsg
    | MarginCallMsg
    | AccountConfigUpdateMsg
    | ListenKeyExpiredMsg
)
"""Every payload that carries ``e``: decode with one ``msgspec.json.Decoder(EventMsg)``."""

ENCODER = msgspec.json.Encoder()


def encode(msg: Struct | list[Struct]) -> bytes:
    """JSON bytes in Binance's wire names."""
    return ENCODER.encode(msg)
