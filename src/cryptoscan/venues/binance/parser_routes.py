"""Routes: for each stream kind, a decoder pair built once and an ``emit`` that builds the event.

A ``Route`` is picked per message from a cache keyed by stream name (or by ``e`` for raw frames), so the
hot path never dispatches over a Union and never runs a regex. ``emit`` constructs the ``events.py``
Struct positionally (about 7x faster than keywords for msgspec Structs); ``tests/venues/test_parser.py``
pins the field order it relies on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import msgspec

from cryptoscan.events import BookTop, Depth, Kline, MarkPrice, MiniTicker, ServerShutdown, Ticker, Trade
from cryptoscan.venues.binance import parser_wire as w
from cryptoscan.venues.binance.parser_types import DepthDiff, Out
from cryptoscan.venues.binance.parser_user import (
    account_config,
    account_update,
    listen_key_expired,
    margin_call,
    order_update,
)

T = TypeVar("T")
WINDOWS = ("1h", "4h", "1d")  # rolling-window tickers: ``e`` is ``<w>Ticker``, the stream ``ticker_<w>``


@dataclass(frozen=True, slots=True)
class Route(Generic[T]):
    """How one kind of payload becomes events: ``env`` decodes a combined frame, ``raw`` a bare payload."""

    env: Callable[[bytes], w.Env[T]]  # a bound ``Decoder.decode``: one attribute lookup less per frame
    raw: Callable[[bytes | msgspec.Raw], T]
    emit: Callable[[T, int, Out], None]
    event: str | None  # the ``e`` this route expects (of each element, for arrays); None if the payload has none


# --- emitters -----------------------------------------------------------------------------------------------


def kline(venue: str) -> Callable[[w.KlineW, int, Out], None]:
    def emit(m: w.KlineW, ts_recv: int, out: Out) -> None:
        k = m.kline
        out.append(
            Kline(
                venue,
                m.symbol,
                k.interval,
                k.open_time,
                k.close_time,
                k.open,
                k.high,
                k.low,
                k.close,
                k.volume,
                k.quote_volume,
                k.trades,
                k.taker_buy_volume,
                k.taker_buy_quote_volume,
                k.closed,
                k.first_trade_id,
                k.last_trade_id,
                m.event_time,
                ts_recv,
            )
        )

    return emit


def trade(venue: str) -> Callable[[w.TradeW, int, Out], None]:
    def emit(m: w.TradeW, ts_recv: int, out: Out) -> None:
        t = m.trade_id
        out.append(
            Trade(
                venue,
                m.symbol,
                t,
                m.price,
                m.quantity,
                m.buyer_is_maker,
                m.trade_time,
                t,
                t,
                False,
                m.event_time,
                ts_recv,
            )
        )

    return emit


def agg_trade(venue: str) -> Callable[[w.AggTradeW, int, Out], None]:
    def emit(m: w.AggTradeW, ts_recv: int, out: Out) -> None:
        out.append(
            Trade(
                venue,
                m.symbol,
                m.agg_id,
                m.price,
                m.quantity,
                m.buyer_is_maker,
                m.trade_time,
                m.first_trade_id,
                m.last_trade_id,
                True,
                m.event_time,
                ts_recv,
            )
        )

    return emit


def _ticker(venue: str, window: str, m: w.TickerW, ts_recv: int) -> Ticker:
    return Ticker(
        venue,
        m.symbol,
        window,
        m.last_price,
        m.open,
        m.high,
        m.low,
        m.volume,
        m.quote_volume,
        m.price_change_percent,
        m.weighted_avg_price,
        m.trades,
        m.open_time,
        m.close_time,
        m.best_bid,
        m.best_ask,
        m.event_time,
        ts_recv,
    )


def ticker(venue: str, window: str) -> Callable[[w.TickerW, int, Out], None]:
    def emit(m: w.TickerW, ts_recv: int, out: Out) -> None:
        out.append(_ticker(venue, window, m, ts_recv))

    return emit


def tickers(venue: str, window: str) -> Callable[[list[w.TickerW], int, Out], None]:
    def emit(ms: list[w.TickerW], ts_recv: int, out: Out) -> None:
        out.extend([_ticker(venue, window, m, ts_recv) for m in ms])

    return emit


def _mini(venue: str, m: w.MiniTickerW, ts_recv: int) -> MiniTicker:
    return MiniTicker(venue, m.symbol, m.close, m.open, m.high, m.low, m.volume, m.quote_volume, m.event_time, ts_recv)


def mini_ticker(venue: str) -> Callable[[w.MiniTickerW, int, Out], None]:
    def emit(m: w.MiniTickerW, ts_recv: int, out: Out) -> None:
        out.append(_mini(venue, m, ts_recv))

    return emit


def mini_tickers(venue: str) -> Callable[[list[w.MiniTickerW], int, Out], None]:
    def emit(ms: list[w.MiniTickerW], ts_recv: int, out: Out) -> None:
        out.extend([_mini(venue, m, ts_recv) for m in ms])

    return emit


def book_ticker(venue: str) -> Callable[[w.BookTickerW, int, Out], None]:
    def emit(m: w.BookTickerW, ts_recv: int, out: Out) -> None:
        out.append(
            BookTop(venue, m.symbol, m.bid, m.bid_qty, m.ask, m.ask_qty, m.update_id, m.event_time or ts_recv, ts_recv)
        )

    return emit


def spot_depth(venue: str, symbol: str) -> Callable[[w.SpotDepthW, int, Out], None]:
    """Spot partial book: no symbol and no event time in the payload (symbol from the stream name)."""

    def emit(m: w.SpotDepthW, ts_recv: int, out: Out) -> None:
        out.append(Depth(venue, symbol, m.bids, m.asks, m.last_update_id, None, ts_recv, ts_recv))

    return emit


def depth_partial(venue: str) -> Callable[[w.DepthUpdateW, int, Out], None]:
    """Futures partial book (``<s>@depth<N>``): a ``depthUpdate`` holding the top N levels."""

    def emit(m: w.DepthUpdateW, ts_recv: int, out: Out) -> None:
        out.append(
            Depth(venue, m.symbol, m.bids, m.asks, m.final_update_id, m.prev_final_update_id, m.event_time, ts_recv)
        )

    return emit


def depth_diff(venue: str) -> Callable[[w.DepthUpdateW, int, Out], None]:
    def emit(m: w.DepthUpdateW, ts_recv: int, out: Out) -> None:
        out.append(
            DepthDiff(
                venue,
                m.symbol,
                m.bids,
                m.asks,
                m.first_update_id,
                m.final_update_id,
                m.prev_final_update_id,
                m.event_time,
                ts_recv,
            )
        )

    return emit


def _mark(m: w.MarkPriceW, ts_recv: int) -> MarkPrice:
    return MarkPrice(
        m.symbol,
        m.mark_price,
        m.index_price,
        m.estimated_settle_price,
        m.funding_rate,
        m.next_funding_time,
        m.event_time,
        ts_recv,
    )


def mark_price(m: w.MarkPriceW, ts_recv: int, out: Out) -> None:
    out.append(_mark(m, ts_recv))


def mark_prices(ms: list[w.MarkPriceW], ts_recv: int, out: Out) -> None:
    out.extend([_mark(m, ts_recv) for m in ms])


def server_shutdown(venue: str) -> Callable[[w.ServerShutdownW, int, Out], None]:
    def emit(m: w.ServerShutdownW, ts_recv: int, out: Out) -> None:
        out.append(ServerShutdown(venue, m.event_time or ts_recv, ts_recv))

    return emit


# --- route tables -------------------------------------------------------------------------------------------


class RouteBook:
    """Builds routes for one venue, sharing one decoder pair per wire type."""

    def __init__(self, venue: str, spot: bool) -> None:
        self.venue = venue
        self.spot = spot
        self._decoders: dict[Any, tuple[Any, Any]] = {}
        self.by_event: dict[str, Route[Any]] = self._event_routes()
        self.by_array_event: dict[str, Route[Any]] = self._array_routes()

    def route(self, wire: Any, emit: Callable[[Any, int, Out], None], event: str | None) -> Route[Any]:
        pair = self._decoders.get(wire)
        if pair is None:
            pair = (msgspec.json.Decoder(w.Env[wire], strict=False), msgspec.json.Decoder(wire, strict=False))
            self._decoders[wire] = pair
        return Route(pair[0].decode, pair[1].decode, emit, event)

    def _event_routes(self) -> dict[str, Route[Any]]:
        v = self.venue
        emitters: dict[str, tuple[Any, Callable[[Any, int, Out], None]]] = {
            "kline": (w.KlineW, kline(v)),
            "trade": (w.TradeW, trade(v)),
            "aggTrade": (w.AggTradeW, agg_trade(v)),
            "24hrTicker": (w.TickerW, ticker(v, "24h")),
            "24hrMiniTicker": (w.MiniTickerW, mini_ticker(v)),
            "bookTicker": (w.BookTickerW, book_ticker(v)),
            "depthUpdate": (w.DepthUpdateW, depth_diff(v)),  # without a stream name: taken as a diff
            "markPriceUpdate": (w.MarkPriceW, mark_price),
            "serverShutdown": (w.ServerShutdownW, server_shutdown(v)),
            "ORDER_TRADE_UPDATE": (w.OrderTradeUpdateW, order_update),
            "ACCOUNT_UPDATE": (w.AccountUpdateW, account_update),
            "MARGIN_CALL": (w.MarginCallW, margin_call),
            "ACCOUNT_CONFIG_UPDATE": (w.AccountConfigUpdateW, account_config),
            "listenKeyExpired": (w.ListenKeyExpiredW, listen_key_expired),
        }
        for window in WINDOWS:
            emitters[f"{window}Ticker"] = (w.TickerW, ticker(v, window))
        return {e: self.route(wire, emit, e) for e, (wire, emit) in emitters.items()}

    def _array_routes(self) -> dict[str, Route[Any]]:
        v = self.venue
        emitters: dict[str, tuple[Any, Callable[[Any, int, Out], None]]] = {
            "24hrMiniTicker": (list[w.MiniTickerW], mini_tickers(v)),
            "24hrTicker": (list[w.TickerW], tickers(v, "24h")),
            "markPriceUpdate": (list[w.MarkPriceW], mark_prices),
        }
        for window in WINDOWS:
            emitters[f"{window}Ticker"] = (list[w.TickerW], tickers(v, window))
        return {e: self.route(wire, emit, e) for e, (wire, emit) in emitters.items()}

    def for_stream(self, name: str) -> Route[Any] | None:
        """The route a stream name implies, or None if we do not know the stream.

        Looser than ``spec.parse_stream`` on purpose: it must also route delivery symbols
        (``btcusdt_210625``), every kline interval, diff depth and the ``!`` streams we do not subscribe to.
        """
        ev, arr = self.by_event, self.by_array_event
        if name.startswith("!"):
            head, _, tail = name[1:].partition("@")
            if tail.startswith("arr"):
                if head == "miniTicker":
                    return arr["24hrMiniTicker"]
                if head == "ticker":
                    return arr["24hrTicker"]
                if head == "markPrice":
                    return arr["markPriceUpdate"]
                if head.startswith("ticker_") and head[7:] in WINDOWS:
                    return arr[f"{head[7:]}Ticker"]
            elif head == "bookTicker":
                return ev["bookTicker"]
            elif head == "serverShutdown":
                return ev["serverShutdown"]
            return None
        symbol, sep, rest = name.partition("@")
        if not symbol or not sep:
            return None
        kind = rest.partition("@")[0]
        if kind.startswith("kline_"):
            return ev["kline"]
        if kind.startswith("depth"):
            levels = kind[5:]
            if not levels:
                return ev["depthUpdate"]
            if not levels.isdigit():
                return None
            if self.spot:
                return self.route(w.SpotDepthW, spot_depth(self.venue, symbol.upper()), None)
            return self.route(w.DepthUpdateW, depth_partial(self.venue), "depthUpdate")
        if kind.startswith("ticker_") and kind[7:] in WINDOWS:
            return ev[f"{kind[7:]}Ticker"]
        event = _SIMPLE_KINDS.get(kind)
        return None if event is None else ev[event]


_SIMPLE_KINDS = {
    "trade": "trade",
    "aggTrade": "aggTrade",
    "ticker": "24hrTicker",
    "miniTicker": "24hrMiniTicker",
    "bookTicker": "bookTicker",
    "markPrice": "markPriceUpdate",
}
