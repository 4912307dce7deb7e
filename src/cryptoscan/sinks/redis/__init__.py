"""Redis fan-out: the feed's latest values and closed bars, for other processes (scanner, bots, dashboards).

Keys (``P`` = the prefix, default ``websocket``; symbols lowercase; values JSON; ``timestamp`` is the exchange
event time in epoch ms; ``source`` is ``"websocket"``). Spot data gets a ``spot:`` segment after the prefix;
mark prices, orders and positions exist on futures only.

======================================  ======  =========  ====================================================
key                                     type    TTL        value / fields (from)
======================================  ======  =========  ====================================================
P:mark_price:{sym}                      string  60 s       mark_price, timestamp, source (MarkPrice)
P:orderbook:{sym}:20                    string  60 s       bids, asks ([[price, qty], ...], best first, <= 20
                                                           levels), timestamp, source (Depth)
P:spot:orderbook:{sym}:20               string  60 s       same, spot Depth
P:ticker:{sym}                          string  60 s       symbol, window, last_price, open, high, low, volume,
                                                           quote_volume, price_change_percent, timestamp,
                                                           source (+ weighted_avg_price, trades, best_bid,
                                                           best_ask from a full ticker) (Ticker 24h, MiniTicker)
P:ticker:{sym}:{window}                 string  60 s       same, rolling 1h/4h/1d tickers
P:spot:ticker:{sym}[:{window}]          string  60 s       same, spot
P:kline:{sym}:{interval}                string  3 bars     the newest kline, forming or closed: symbol,
                                                (>= 60 s)  interval, open_time, close_time, open, high, low,
                                                           close, volume, quote_volume, trades,
                                                           taker_buy_volume, taker_buy_quote_volume, closed,
                                                           timestamp, source (Kline; a late bar never
                                                           overwrites a newer one)
P:spot:kline:{sym}:{interval}           string  3 bars     same, spot
P:klines:{sym}:{interval}               stream  MAXLEN~1000 closed klines, id ``{open_time}-0``, ordered by
                                                           open time (late bars inserted in place, repeats
                                                           counted as duplicates); fields open_time,
                                                           close_time, open, high, low, close, volume,
                                                           quote_volume, trades, taker_buy_volume,
                                                           taker_buy_quote_volume
P:spot:klines:{sym}:{interval}          stream  MAXLEN~1000 same, spot
P:orders:{sym}                          stream  MAXLEN~1000 order_id, status, data (the OrderUpdate as JSON)
P:position:{sym}                        string  300 s      symbol, amount, entry_price, unrealized_pnl,
                                                           margin_type, side, reason, timestamp, source
                                                           (AccountUpdate, one-way mode: side BOTH)
P:position:{sym}:long|short             string  300 s      same, hedge mode (side LONG / SHORT)
P:rest_cache:mark_price:{sym}           string  3 s        written by MarketDataReader: mark_price, timestamp,
                                                           source "rest", fetched_at
P:rest_cache:orderbook:{sym}:20         string  3 s        written by MarketDataReader: bids, asks, ...
P:{suffix}                              string  caller     RedisSink.put_json (e.g. P:scanner:top)
P:{suffix}                              stream  MAXLEN~n   RedisSink.append (e.g. P:alerts)
P:updates                               pub/sub            one message per written batch:
                                                           {"ts", "n", "kinds": {kind: [SYMBOL, ...]},
                                                           "more": {kind: count}} (<= 32 kinds x 32 symbols)
======================================  ======  =========  ====================================================

Trades, book tops, margin calls and account config events are not stored (counted as ``ignored``).
"""

from cryptoscan.sinks.redis.keys import KeySpace
from cryptoscan.sinks.redis.reader import MarketDataReader, ReaderStats
from cryptoscan.sinks.redis.sink import RedisSink, SinkStats

__all__ = ["KeySpace", "MarketDataReader", "ReaderStats", "RedisSink", "SinkStats"]
