"""Event factories for the Redis sink tests (readable defaults, override what matters)."""

from __future__ import annotations

from cryptoscan.events import AccountUpdate, Balance, Depth, Kline, MarkPrice, MiniTicker, OrderUpdate, Position, Ticker

T0 = 1_700_000_040_000  # a minute boundary


def kline(symbol: str = "BTCUSDT", open_time: int = T0, closed: bool = True, venue: str = "futures",
          interval: str = "1m", close: float = 100.5) -> Kline:
    return Kline(venue, symbol, interval, open_time, open_time + 59_999, 100.0, 101.0, 99.0, close, 12.5, 1250.0,
                 42, 6.0, 600.0, closed, 1, 42, open_time + 59_999, open_time + 60_000)


def mark(symbol: str = "BTCUSDT", price: float = 50_000.5, ts: int = T0) -> MarkPrice:
    return MarkPrice(symbol, price, 50_001.0, 50_000.0, 0.0001, T0 + 3_600_000, ts, ts + 5)


def depth(symbol: str = "BTCUSDT", levels: int = 25, venue: str = "futures", ts: int = T0) -> Depth:
    bids = tuple((100.0 - i / 10, 1.0 + i) for i in range(levels))
    asks = tuple((100.1 + i / 10, 2.0 + i) for i in range(levels))
    return Depth(venue, symbol, bids, asks, 99, 98, ts, ts + 5)


def mini(symbol: str = "BTCUSDT", venue: str = "futures", close: float = 105.0) -> MiniTicker:
    return MiniTicker(venue, symbol, close, 100.0, 106.0, 99.0, 1000.0, 100_000.0, T0, T0 + 5)


def ticker(symbol: str = "BTCUSDT", venue: str = "spot", window: str = "24h") -> Ticker:
    return Ticker(venue, symbol, window, 105.0, 100.0, 106.0, 99.0, 1000.0, 100_000.0, 5.0, 102.0, 77,
                  T0 - 86_400_000, T0, 104.9, 105.1, T0, T0 + 5)


def order(symbol: str = "BTCUSDT", order_id: int = 1, status: str = "NEW") -> OrderUpdate:
    return OrderUpdate(symbol, order_id, f"c{order_id}", "BUY", "LIMIT", status, "NEW", 50_000.0, 0.0, 0.01, 0.0,
                       0.0, 0.0, 0.0, T0, T0, T0 + 5)


def account(*sides: str) -> AccountUpdate:
    positions = tuple(Position("BTCUSDT", 0.01, 50_000.0, 1.5, "cross", side) for side in sides or ("BOTH",))
    return AccountUpdate("ORDER", (Balance("USDT", 1000.0, 1000.0, 0.0),), positions, T0, T0 + 5)
