"""MarketDataReader's fallback chain with the clock in the test's hands: fresh WebSocket key, stale key -> REST
on the local exchange -> REST cache, the per-minute budget, and Redis being away."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis_events import T0, depth, mark
from redis_proc import RedisFactory, RedisProcess

from cryptoscan.clock import ManualClock
from cryptoscan.feed.rest import BinanceRest
from cryptoscan.sim.options import SimOptions
from cryptoscan.sim.server import SimServer
from cryptoscan.sinks.redis import MarketDataReader, RedisSink
from helpers import until


@pytest.fixture
async def rest() -> AsyncIterator[BinanceRest]:
    async with SimServer(SimOptions(port=0, n_spot=5, n_futures=5, seed=3)) as sim, BinanceRest(sim.url) as client:
        yield client


async def a_futures_symbol(rest: BinanceRest) -> str:
    return str((await rest.premium_index())[0]["symbol"])


async def write(server: RedisProcess, *events: object) -> None:
    async with RedisSink(server.url) as sink:
        for ev in events:
            sink.offer(ev)
        await until(lambda: sink.stats.pending == 0, 10, "written")


async def test_mark_price_ws_then_rest_then_cache_then_budget(redis_server: RedisProcess, rest: BinanceRest) -> None:
    symbol = await a_futures_symbol(rest)
    await write(redis_server, mark(symbol, price=42.5, ts=T0))
    clock = ManualClock(T0 + 1_000)
    async with MarketDataReader(redis_server.url, rest, clock=clock, api_calls_per_minute=2, cache_ttl_s=3) as rd:
        assert await rd.get_mark_price(symbol) == 42.5  # 1 s old: the WebSocket value
        clock.advance(4.5)  # 5.5 s old: stale
        from_rest = await rd.get_mark_price(symbol)
        assert from_rest is not None and from_rest > 0 and from_rest != 42.5
        clock.advance(1)
        assert await rd.get_mark_price(symbol) == from_rest  # the REST cache
        s = rd.stats
        assert (s.hits_ws, s.api_calls, s.hits_cache, s.misses) == (1, 1, 1, 1)
        assert await rd.get_mark_price(symbol, force_fresh=True) is not None  # skips both keys: second call
        clock.advance(5)  # the cache is stale too (and the budget is spent: 2 calls in this minute)
        assert await rd.get_mark_price(symbol) is None
        assert (rd.stats.api_calls, rd.stats.budget_refusals, rd.stats.misses) == (2, 1, 3)
        clock.advance(60)  # a new minute
        assert await rd.get_mark_price(symbol) is not None
        assert rd.stats.api_calls == 3 and rd.stats.api_errors == 0


async def test_orderbook_chain_reports_its_source(redis_server: RedisProcess, rest: BinanceRest) -> None:
    symbol = await a_futures_symbol(rest)
    await write(redis_server, depth(symbol, ts=T0))
    clock = ManualClock(T0 + 4_999)
    async with MarketDataReader(redis_server.url, rest, clock=clock, api_calls_per_minute=10) as rd:
        ws = await rd.get_orderbook(symbol)
        assert ws is not None and ws["source"] == "websocket" and ws["bids"][0] == [100.0, 1.0]
        clock.advance(0.001)  # exactly 5 s old: stale
        book = await rd.get_orderbook(symbol)
        assert book is not None and book["source"] == "rest" and book["timestamp"] > 0
        assert 0 < len(book["bids"]) <= 20 and len(book["asks"]) <= 20
        assert book["bids"][0][0] < book["asks"][0][0]
        cached = await rd.get_orderbook(symbol)
        assert cached is not None and cached["source"] == "rest_cache" and cached["bids"] == book["bids"]
        assert (rd.stats.hits_ws, rd.stats.api_calls, rd.stats.hits_cache) == (1, 1, 1)
        assert await rd.get_orderbook("NOPEUSDT", force_fresh=True) is None  # the exchange refuses: counted
        assert rd.stats.api_errors == 1


async def test_redis_away_falls_through_to_rest(redis_factory: RedisFactory, rest: BinanceRest) -> None:
    server = await redis_factory()
    await server.kill()
    symbol = await a_futures_symbol(rest)
    async with MarketDataReader(server.url, rest, clock=ManualClock(T0)) as rd:
        assert await rd.get_mark_price(symbol) is not None
        assert rd.stats.redis_errors == 2 and rd.stats.api_calls == 1  # the read and the cache write
