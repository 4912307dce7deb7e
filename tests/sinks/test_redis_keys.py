"""The event -> command mapping and the pending buffer, without Redis."""

from __future__ import annotations

import json

import pytest
from redis_events import T0, account, depth, kline, mark, mini, order, ticker

from cryptoscan.events import Trade
from cryptoscan.sinks.redis.buffer import PendingBuffer
from cryptoscan.sinks.redis.keys import (
    ANNOUNCE_MAX_SYMBOLS,
    Append,
    KeySpace,
    Put,
    announcement,
)


def one_put(cmds: list[Put | Append]) -> Put:
    assert len(cmds) == 1 and isinstance(cmds[0], Put)
    return cmds[0]


def test_mark_price_key_value_and_ttl() -> None:
    p = one_put(KeySpace().commands(mark(price=123.25)))
    assert (p.key, p.ttl_ms, p.kind, p.symbol) == ("websocket:mark_price:btcusdt", 60_000, "mark_price", "BTCUSDT")
    assert json.loads(p.value) == {"mark_price": 123.25, "timestamp": T0, "source": "websocket"}


def test_depth_is_cut_to_20_levels_as_pairs_and_spot_gets_its_segment() -> None:
    ks = KeySpace("ws2")
    p = one_put(ks.commands(depth(levels=25)))
    assert p.key == "ws2:orderbook:btcusdt:20" and p.ttl_ms == 60_000
    v = json.loads(p.value)
    assert set(v) == {"bids", "asks", "timestamp", "source"}
    assert len(v["bids"]) == len(v["asks"]) == 20
    assert v["bids"][0] == [100.0, 1.0] and v["asks"][19] == [pytest.approx(102.0), 21.0]
    assert one_put(ks.commands(depth(venue="spot"))).key == "ws2:spot:orderbook:btcusdt:20"


def test_tickers_share_one_shape_per_venue_and_window() -> None:
    ks = KeySpace()
    fut = one_put(ks.commands(mini(close=110.0)))
    assert fut.key == "websocket:ticker:btcusdt" and fut.ttl_ms == 60_000 and fut.kind == "ticker"
    v = json.loads(fut.value)
    assert v["last_price"] == 110.0 and v["price_change_percent"] == pytest.approx(10.0) and v["window"] == "24h"
    spot = one_put(ks.commands(ticker()))
    assert spot.key == "websocket:spot:ticker:btcusdt" and spot.kind == "spot:ticker"
    assert json.loads(spot.value)["best_bid"] == 104.9
    assert one_put(ks.commands(ticker(window="1h"))).key == "websocket:spot:ticker:btcusdt:1h"


def test_a_closed_kline_is_a_latest_value_and_a_stream_entry_with_its_open_time_as_id() -> None:
    ks = KeySpace()
    forming = ks.commands(kline(closed=False))
    assert [type(c) for c in forming] == [Put]
    put, entry = ks.commands(kline(closed=True))
    assert isinstance(put, Put) and isinstance(entry, Append)
    assert put.key == "websocket:kline:btcusdt:1m" and put.ttl_ms == 180_000
    assert json.loads(put.value)["closed"] is True
    assert entry.key == "websocket:klines:btcusdt:1m" and entry.entry_id == f"{T0}-0" and entry.maxlen == 1000
    assert entry.fields["open_time"] == str(T0) and float(entry.fields["close"]) == 100.5
    spot = ks.commands(kline(venue="spot", interval="4h"))
    assert [c.key for c in spot] == ["websocket:spot:kline:btcusdt:4h", "websocket:spot:klines:btcusdt:4h"]
    assert spot[0].ttl_ms == 3 * 4 * 3_600_000


def test_a_late_closed_kline_does_not_overwrite_the_newer_latest_value() -> None:
    ks = KeySpace()
    ks.commands(kline(open_time=T0 + 120_000, closed=False))
    late = ks.commands(kline(open_time=T0, closed=True))
    assert [type(c) for c in late] == [Append]  # only its stream entry


def test_orders_are_stream_entries_with_the_event_as_json() -> None:
    (entry,) = KeySpace().commands(order(order_id=77, status="FILLED"))
    assert isinstance(entry, Append)
    assert entry.key == "websocket:orders:btcusdt" and entry.entry_id == "*" and entry.maxlen == 1000
    assert entry.fields["order_id"] == "77" and entry.fields["status"] == "FILLED"
    data = json.loads(entry.fields["data"])
    assert data["order_id"] == 77 and data["client_order_id"] == "c77"


def test_positions_one_way_and_hedge_mode() -> None:
    ks = KeySpace()
    p = one_put(ks.commands(account()))
    assert p.key == "websocket:position:btcusdt" and p.ttl_ms == 300_000
    assert json.loads(p.value)["entry_price"] == 50_000.0
    hedge = ks.commands(account("LONG", "SHORT"))
    assert [c.key for c in hedge] == ["websocket:position:btcusdt:long", "websocket:position:btcusdt:short"]


def test_unstored_kinds_map_to_nothing_and_generic_commands() -> None:
    ks = KeySpace()
    assert ks.commands(Trade("spot", "BTCUSDT", 1, 1.0, 1.0, False, T0, 1, 1, True, T0, T0)) == []
    p = ks.put_json("scanner:top", {"rows": [1, 2]}, 10_000)
    assert (p.key, p.kind, p.ttl_ms) == ("websocket:scanner:top", "scanner", 10_000)
    assert json.loads(p.value) == {"rows": [1, 2]}
    a = ks.append("alerts", {"symbol": "BTCUSDT", "score": 0.5, "n": 3, "extra": {"a": 1}}, maxlen=500)
    assert a.key == "websocket:alerts" and a.entry_id == "*" and a.maxlen == 500
    assert a.fields == {"symbol": "BTCUSDT", "score": "0.5", "n": "3", "extra": '{"a":1}'}
    with pytest.raises(ValueError):
        ks.append("alerts", {}, maxlen=0)
    with pytest.raises(ValueError):
        KeySpace("bad:")


def test_announcement_is_bounded() -> None:
    ks = KeySpace()
    cmds = [c for i in range(100) for c in ks.commands(mark(f"S{i}USDT"))] + ks.commands(kline())
    msg = json.loads(announcement(cmds, 5))
    assert msg["ts"] == 5 and msg["n"] == 102
    assert len(msg["kinds"]["mark_price"]) == ANNOUNCE_MAX_SYMBOLS
    assert msg["more"] == {"mark_price": 100 - ANNOUNCE_MAX_SYMBOLS}
    assert msg["kinds"]["kline"] == ["BTCUSDT"] and msg["kinds"]["klines"] == ["BTCUSDT"]
    assert len(announcement(cmds * 50, 5)) < 4096


def test_buffer_coalesces_latest_values_and_bounds_entries_with_counted_drops() -> None:
    ks = KeySpace()
    buf = PendingBuffer(max_pending=3, max_keys=2)
    for price in (1.0, 2.0, 3.0):
        buf.add(one_put(ks.commands(mark(price=price))))
    assert len(buf.latest) == 1 and json.loads(buf.latest["websocket:mark_price:btcusdt"].value)["mark_price"] == 3.0
    buf.add(one_put(ks.commands(mark("ETHUSDT"))))
    buf.add(one_put(ks.commands(mark("SOLUSDT"))))  # a third key: the oldest key goes, counted
    assert list(buf.latest) == ["websocket:mark_price:ethusdt", "websocket:mark_price:solusdt"] and buf.dropped == 1
    for i in range(5):
        buf.add(ks.append("alerts", {"i": i}))
    assert [a.fields["i"] for a in buf.fifo] == ["2", "3", "4"] and buf.dropped == 3
    assert buf.pending == 5


def test_buffer_keeps_a_batch_until_it_is_acknowledged_and_restores_it_in_front() -> None:
    ks = KeySpace()
    buf = PendingBuffer(max_pending=4)
    for i in range(3):
        buf.add(ks.append("alerts", {"i": i}))
    buf.add(one_put(ks.commands(mark(price=1.0))))
    batch = buf.take(10)
    assert len(batch) == 4 and buf.pending == 4 and not buf.has_work
    buf.add(one_put(ks.commands(mark(price=2.0))))  # newer value while the batch is in flight
    buf.add(ks.append("alerts", {"i": 3}))
    buf.add(ks.append("alerts", {"i": 4}))
    buf.restore(batch)  # 5 entries for 4 places: the oldest goes, counted
    assert [a.fields["i"] for a in buf.fifo] == ["1", "2", "3", "4"] and buf.dropped == 1
    assert json.loads(buf.latest["websocket:mark_price:btcusdt"].value)["mark_price"] == 2.0
    assert buf.pending == 5
    again = buf.take(2)
    assert [a.fields["i"] for a in again.appends] == ["1", "2"] and again.puts == []
    buf.done(again)
    assert buf.pending == 3
