"""``cryptoscan serve`` end to end: the local exchange -> aggregator + scanner -> Redis, read back by a client."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis_proc import RedisFactory

from cryptoscan.app import sim_feed_overrides
from cryptoscan.clock import LiveClock, ScaledClock
from cryptoscan.config import Settings
from cryptoscan.serve import run_serve
from cryptoscan.sim.options import SimOptions
from cryptoscan.sim.server import SimServer
from helpers import until

SPEED = 120.0


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    async with SimServer(SimOptions(port=0, speed=SPEED, n_spot=20, n_futures=10, seed=3)) as s:
        yield s


async def test_serve_writes_market_data_and_scanner_results(
    sim: SimServer, redis_factory: RedisFactory, tmp_path: Path
) -> None:
    server = await redis_factory()
    settings = Settings.model_validate({
        "redis": {"url": server.url, "prefix": "cs"}, "store": {"url": str(tmp_path / "store.duckdb")},
        "data_aggregator": {"min_volume_24h": 0, "max_pairs": 6, "klines_buffer_size": 200},
    })  # fmt: skip
    clock = ScaledClock(LiveClock(), SPEED, start_ms=sim.ctx.clock.now_ms())
    stop = asyncio.Event()
    run = asyncio.ensure_future(run_serve(settings, exchange_url=sim.url, clock=clock, stop=stop,
                                          **sim_feed_overrides(SPEED)))  # fmt: skip
    client = server.client()
    try:
        async def ready() -> bool:
            keys = {k.decode() for k in await client.keys("cs:*")}
            return "cs:scanner:latest" in keys and any(k.startswith("cs:spot:klines:") for k in keys) and any(
                k.startswith("cs:mark_price:") for k in keys)

        done = [False]

        async def poll() -> None:
            while not done[0]:
                done[0] = await ready()
                await asyncio.sleep(0.05)  # polling Redis from outside, not a timing assumption

        poller = asyncio.ensure_future(poll())
        await until(lambda: done[0] or run.done(), limit_s=60, what="market data and scans in Redis")
        poller.cancel()
        assert not run.done(), run.exception()
        latest = json.loads(await client.get("cs:scanner:latest"))
        assert latest["tracked"] == 12 and list(latest["counts"]) == ["FUERTE", "ALTA", "MEDIA", "BAJA", "DESCARTADA"]
        assert 0 < await client.ttl("cs:scanner:latest") <= 150
        mark_key = next(k for k in await client.keys("cs:mark_price:*"))
        mark = json.loads(await client.get(mark_key))
        assert set(mark) == {"mark_price", "timestamp", "source"} and mark["source"] == "websocket"
        assert 0 < await client.ttl(mark_key) <= 60
        kline_key = next(k for k in await client.keys("cs:spot:klines:*"))
        assert await client.xlen(kline_key) >= 1
    finally:
        stop.set()
        stats = await run
        await client.aclose()
    assert stats.dropped == 0 and stats.pending == 0 and stats.written > 0
