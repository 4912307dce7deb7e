"""Dispatcher: coalescing, never-drop backpressure, bounded drops, errors, draining. No timing sleeps."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import pytest

from cryptoscan.events import BookTop, ConnectionStatus, Kline, OrderUpdate, Ticker, Trade
from cryptoscan.feed.dispatch import (
    Channel,
    Dispatcher,
    DispatcherClosed,
    FeedError,
    ReliableEventError,
    channel_of,
    is_reliable,
)

MIN = 60_000


def ticker(symbol: str, n: int) -> Ticker:
    return Ticker("spot", symbol, "24h", float(n), 1, 1, 1, 1, 1, 0.0, 1, n, 0, 1, None, None, n, n)


def book(symbol: str, n: int) -> BookTop:
    return BookTop("spot", symbol, float(n), 1.0, n + 0.5, 1.0, n, n, n)


def trade(n: int) -> Trade:
    return Trade("spot", "BTCUSDT", n, 1.0, 1.0, False, n, n, n, True, n, n)


def kline(i: int, closed: bool, close: float = 1.0) -> Kline:
    t = i * MIN
    return Kline("spot", "BTCUSDT", "1m", t, t + MIN - 1, 1, 1, 1, close, 1, 1, 1, 1, 1, closed, 1, 1, t, t)


def order(n: int) -> OrderUpdate:
    return OrderUpdate("BTCUSDT", n, "c", "BUY", "LIMIT", "NEW", "NEW", 1, 0, 1, 0, 0, 0, 0, n, n, n)


async def until(cond: Callable[[], bool], rounds: int = 10_000) -> None:
    """Let other tasks run until ``cond`` holds (bounded, no clock)."""
    for _ in range(rounds):
        if cond():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


def gated(seen: list[Any], gate: asyncio.Event) -> Callable[[Any], Awaitable[None]]:
    async def slow(item: Any) -> None:
        seen.append(item)
        await gate.wait()

    return slow


def test_routing_helpers() -> None:
    assert channel_of(kline(0, True)) is Channel.KLINE
    assert channel_of(order(1)) is Channel.USER
    assert is_reliable(kline(0, True)) and is_reliable(order(1))
    assert not is_reliable(kline(0, False)) and not is_reliable(ticker("A", 1))


async def test_slow_consumer_does_not_delay_fast_one() -> None:
    d = Dispatcher()
    gate, got = asyncio.Event(), asyncio.Event()
    slow_seen: list[Ticker] = []
    fast_seen: list[Ticker] = []

    def fast(t: Ticker) -> None:
        fast_seen.append(t)
        got.set()

    slow = d.register("ticker", gated(slow_seen, gate), name="slow")
    d.register(Channel.TICKER, fast, name="fast")
    d.start()
    for n in range(100):
        d.publish_nowait(ticker(f"S{n % 3}USDT", n))
        await asyncio.wait_for(got.wait(), 5)  # the fast consumer gets each one while slow is stuck
        got.clear()
    assert [t.trades for t in fast_seen] == list(range(100))
    assert len(slow_seen) == 1 and slow.depth == 3  # one per symbol pending, the rest coalesced
    assert slow.stats().coalesced == 96
    gate.set()
    await d.stop()
    assert [t.trades for t in slow_seen] == [0, 97, 98, 99]  # the newest value per symbol


async def test_coalescing_keeps_latest_in_first_arrival_order() -> None:
    d = Dispatcher()
    seen: list[BookTop] = []
    c = d.register("book_top", seen.append)
    for n in range(10):
        d.publish_nowait(book("A", n))
        if n < 5:
            d.publish_nowait(book("B", 100 + n))
    assert c.depth == 2
    d.start()
    await d.stop()
    assert [(b.symbol, b.update_id) for b in seen] == [("A", 9), ("B", 104)]
    s = c.stats()
    assert (s.delivered, s.coalesced, s.dropped, s.queue_depth, s.max_depth) == (2, 13, 0, 0, 2)


async def test_closed_klines_never_dropped_in_order_under_slow_consumer() -> None:
    d = Dispatcher(capacity=4)
    gate = asyncio.Event()
    seen: list[Kline] = []
    c = d.register("kline", gated(seen, gate), name="slow")
    d.start()

    async def produce() -> None:
        for i in range(50):
            d.publish_nowait(kline(i, False, close=0.5))
            d.publish_nowait(kline(i, False, close=0.7))
            await d.publish(kline(i, True))

    producer = asyncio.create_task(produce())
    await until(lambda: c.stats().producer_waits > 0)  # backpressure: the producer is waiting for room
    assert not producer.done()
    gate.set()
    await asyncio.wait_for(producer, 5)
    await d.stop()
    closed = [k.open_time // MIN for k in seen if k.closed]
    assert closed == list(range(50))
    order_seen = [(k.open_time, k.closed) for k in seen]
    assert order_seen == sorted(order_seen)  # never a forming kline after its closed one
    assert all(k.close == 0.7 for k in seen if not k.closed)  # forming klines: newest value only
    assert c.stats().dropped == 0


async def test_forming_kline_superseded_by_its_closed_kline() -> None:
    d = Dispatcher()
    seen: list[Kline] = []
    c = d.register("kline", seen.append)
    d.publish_nowait(kline(0, False))
    d.publish_nowait(kline(0, False, close=2.0))
    await d.publish(kline(0, True))
    d.publish_nowait(kline(1, False))
    d.start()
    await d.stop()
    assert [(k.open_time // MIN, k.closed) for k in seen] == [(0, True), (1, False)]
    assert c.stats().coalesced == 2


async def test_sync_and_async_callbacks() -> None:
    d = Dispatcher()
    sync_seen: list[Trade] = []
    async_seen: list[Trade] = []

    async def on_trade(t: Trade) -> None:
        await asyncio.sleep(0)
        async_seen.append(t)

    d.register("trade", sync_seen.append)
    d.register("trade", on_trade)
    async with d:
        for n in range(5):
            d.publish_nowait(trade(n))
    assert [t.trade_id for t in sync_seen] == [t.trade_id for t in async_seen] == list(range(5))


async def test_trades_bounded_oldest_dropped_and_counted() -> None:
    d = Dispatcher()
    seen: list[Trade] = []
    c = d.register("trade", seen.append, capacity=3)
    for n in range(10):
        d.publish_nowait(trade(n))
    d.start()
    await d.stop()
    assert [t.trade_id for t in seen] == [7, 8, 9]
    assert (c.stats().dropped, c.stats().delivered) == (7, 3)


async def test_raising_callback_counted_and_reported() -> None:
    d = Dispatcher()
    errors: list[FeedError] = []
    ok: list[int] = []

    def flaky(t: Trade) -> None:
        if t.trade_id % 2:
            raise ValueError(f"bad {t.trade_id}")
        ok.append(t.trade_id)

    c = d.register("trade", flaky, name="flaky")
    d.register("error", errors.append)
    async with d:
        for n in range(10):
            d.publish_nowait(trade(n))
    assert ok == [0, 2, 4, 6, 8]
    assert (c.stats().errors, c.stats().delivered) == (5, 5)
    assert len(errors) == 5 and errors[0].source == "consumer:flaky"
    assert isinstance(errors[0].error, ValueError)


async def test_stop_drains_reliable_and_refuses_afterwards() -> None:
    d = Dispatcher()
    seen: list[OrderUpdate] = []
    status: list[ConnectionStatus] = []
    d.register("user", seen.append)
    d.register("status", status.append)
    for n in range(200):
        await d.publish(order(n))
    d.publish_nowait(ConnectionStatus("c1", "spot", "CONNECTED", "", 1, 1))
    d.start()
    await d.stop()
    assert [o.order_id for o in seen] == list(range(200))
    assert len(status) == 1
    with pytest.raises(DispatcherClosed):
        await d.publish(order(1))
    with pytest.raises(DispatcherClosed):
        d.publish_nowait(trade(1))


async def test_publish_nowait_refuses_never_drop_events() -> None:
    d = Dispatcher()
    with pytest.raises(ReliableEventError):
        d.publish_nowait(kline(0, True))
    with pytest.raises(ReliableEventError):
        d.publish_nowait(order(1))
    assert d.publish_nowait(trade(1)) == 0
    assert d.unrouted == 1


async def test_stop_without_drain_releases_waiting_producer() -> None:
    d = Dispatcher(capacity=1)
    gate = asyncio.Event()
    seen: list[OrderUpdate] = []
    c = d.register("user", gated(seen, gate))
    d.start()

    async def produce() -> None:
        for n in range(10):
            await d.publish(order(n))

    producer = asyncio.create_task(produce())
    await until(lambda: c.stats().producer_waits > 0)
    await d.stop(drain=False)
    with pytest.raises(DispatcherClosed):
        await asyncio.wait_for(producer, 5)
    assert len(seen) < 10


async def test_unregister_and_register_while_running() -> None:
    d = Dispatcher()
    seen: list[Trade] = []
    d.start()
    c = d.register("trade", seen.append)
    d.publish_nowait(trade(1))
    await until(lambda: len(seen) == 1)
    await d.unregister(c)
    d.publish_nowait(trade(2))
    await d.stop()
    assert [t.trade_id for t in seen] == [1]
    assert d.stats() == []


def kline_of(symbol: str, i: int, closed: bool, close: float = 1.0) -> Kline:
    k = kline(i, closed, close)
    return Kline("spot", symbol, *msgspec.structs.astuple(k)[2:])


async def test_publish_keyed_many_coalesces_like_one_publish_per_item() -> None:
    d = Dispatcher()
    seen: list[Kline] = []
    c = d.register("kline", seen.append)

    def batch(*ks: Kline) -> dict[tuple[str, str, str], Kline]:
        return {(k.venue, k.symbol, k.interval): k for k in ks}

    d.publish_keyed_many(Channel.KLINE, batch(kline_of("A", 0, False, 1.0), kline_of("B", 0, False, 1.0)))
    d.publish_keyed_many(Channel.KLINE, batch(kline_of("B", 0, False, 2.0), kline_of("C", 0, False, 1.0)))
    assert c.depth == 3 and d.published == 4
    await d.publish(kline_of("A", 0, True))  # supersedes A's pending forming kline
    d.publish_keyed_many(Channel.KLINE, batch(kline_of("A", 1, False, 3.0)))
    d.start()
    await d.stop()
    got = [(k.symbol, k.open_time // MIN, k.closed, k.close) for k in seen]
    assert got == [("B", 0, False, 2.0), ("C", 0, False, 1.0), ("A", 0, True, 1.0), ("A", 1, False, 3.0)]
    s = c.stats()
    assert (s.delivered, s.coalesced, s.queue_depth, s.max_depth) == (4, 2, 0, 4)


async def test_offer_reliable_hands_to_all_consumers_or_to_none() -> None:
    d = Dispatcher()
    gate = asyncio.Event()
    slow_seen: list[Kline] = []
    fast_seen: list[Kline] = []
    slow = d.register("kline", gated(slow_seen, gate), name="slow", capacity=1)
    fast = d.register("kline", fast_seen.append, name="fast")
    assert d.offer_reliable(kline(0, True))
    assert slow.depth == fast.depth == 1
    assert not d.offer_reliable(kline(1, True))  # the slow one is full: nobody gets it
    assert slow.depth == fast.depth == 1 and d.published == 1
    d.start()
    await until(lambda: len(fast_seen) == 1 and len(slow_seen) == 1)
    gate.set()
    await until(lambda: slow.depth == 0)
    assert d.offer_reliable(kline(1, True))
    await d.stop()
    assert not d.offer_reliable(kline(2, True))  # stopped: the caller's queue (and publish) must say so
    assert [k.open_time // MIN for k in slow_seen] == [k.open_time // MIN for k in fast_seen] == [0, 1]
