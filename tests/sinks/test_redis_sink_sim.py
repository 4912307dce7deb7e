"""End to end: the real aggregator on the local exchange (spot + futures, speed 120) feeding the Redis sink,
through a Redis outage (SIGKILL, restart on the same port) and a feed stall (backfilled bars arrive late).
Every closed kline the aggregator delivered must be in its ``klines`` stream, in open-time order."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator

import httpx
import pytest
import redis.asyncio as aioredis
from redis_proc import RedisFactory

from cryptoscan.clock import LiveClock, ScaledClock
from cryptoscan.events import Kline
from cryptoscan.feed.aggregator import BinanceWebSocketAggregator, FeedSettings
from cryptoscan.feed.backoff import BackoffPolicy
from cryptoscan.sim.options import SimOptions
from cryptoscan.sim.server import SimServer
from cryptoscan.sinks.redis import RedisSink
from helpers import until

SPEED = 120.0


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    async with SimServer(SimOptions(port=0, speed=SPEED, n_spot=20, n_futures=10, seed=5)) as s:
        yield s


async def test_no_closed_kline_is_lost_across_a_redis_outage_and_a_feed_stall(
    sim: SimServer, redis_factory: RedisFactory
) -> None:
    server = await redis_factory(durable=True)
    clock = ScaledClock(LiveClock(), SPEED, start_ms=sim.ctx.clock.now_ms())
    settings = FeedSettings(exchange_url=sim.url, history_bars=30, klines_buffer_size=200, stale_grace_ms=120_000,
                            silence_ms=240_000)
    agg = BinanceWebSocketAggregator(max_workers=4, chunk_size=20, min_volume_24h=0.0, max_pairs=4,
                                     settings=settings, clock=clock)
    sink = RedisSink(server.url, backoff=BackoffPolicy(initial_ms=20, factor=2.0, max_ms=300))
    delivered: list[Kline] = []
    agg.register_kline_callback(lambda k: delivered.append(k) if k.closed else None)
    sink.attach(agg)
    await sink.start()
    await agg.start()
    try:
        await until(lambda: len(delivered) >= 16 and sink.stats.written > 0, 30, "closed klines reach Redis")
        await server.kill()
        seen = len(delivered)
        await until(lambda: len(delivered) >= seen + 16 and sink.stats.failures >= 1, 30, "ingest during outage")
        # The feed stalls for three bars: the next live bar reveals the hole, its backfill arrives after it.
        async with httpx.AsyncClient(base_url=sim.url) as c:
            fault = {"kind": "stall", "target": "all", "duration_ms": 180_000}
            assert (await c.post("/sim/faults", json=fault)).status_code == 200
        seen = len(delivered)
        await until(lambda: len(delivered) >= seen + 32, 30, "ingest after the feed stall")
        assert not sink.stats.connected and sink.stats.pending > 0
        await server.start()
        await until(lambda: sink.stats.connected, 20, "sink reconnected")
        seen = len(delivered)
        await until(lambda: len(delivered) >= seen + 16 and agg.backfiller.idle and agg.gaps.open_holes() == 0, 30,
                    "live again and backfill done")
    finally:
        await agg.stop()  # consumers drained: every delivered kline has been offered
        await sink.stop(timeout_s=10)
    st = sink.stats
    assert st.pending == 0 and st.dropped == 0 and st.errors == 0 and st.stale == 0
    assert st.reconnects >= 1 and st.failures >= 1 and st.late_inserts >= 1
    expected: dict[tuple[str, str], set[int]] = defaultdict(set)
    for k in delivered:
        expected[(k.venue, k.symbol)].add(k.open_time)
    assert {v for v, _ in expected} == {"spot", "futures"}
    r: aioredis.Redis = server.client()
    try:
        for (venue, symbol), times in expected.items():
            seg = "spot:" if venue == "spot" else ""
            stream = await r.xrange(f"websocket:{seg}klines:{symbol.lower()}:1m")
            ids = [int(i.split(b"-")[0]) for i, _ in stream]
            assert ids == sorted(set(ids)), f"{venue} {symbol}: stream out of order"
            assert set(ids) == times, f"{venue} {symbol}: missing {sorted(times - set(ids))[:5]}"
            assert all(int(f[b"open_time"]) == i for i, (_, f) in zip(ids, stream, strict=True))
    finally:
        await r.aclose()
    print(f"\nredis sink e2e: {len(delivered)} closed klines, {st}")
