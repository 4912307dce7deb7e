"""get_connection_status() and its Prometheus view agree with the live objects."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from cryptoscan.clock import LiveClock, ScaledClock
from cryptoscan.feed.aggregator import BinanceWebSocketAggregator, FeedSettings
from cryptoscan.feed.status import FeedCollector
from cryptoscan.sim.options import SimOptions
from cryptoscan.sim.server import SimServer
from helpers import until

SPEED = 60.0


@pytest.fixture
async def agg() -> AsyncIterator[BinanceWebSocketAggregator]:
    async with SimServer(SimOptions(port=0, speed=SPEED, n_spot=40, n_futures=20, seed=5)) as sim:
        clock = ScaledClock(LiveClock(), SPEED, start_ms=sim.ctx.clock.now_ms())
        settings = FeedSettings(exchange_url=sim.url, history_bars=30, stale_grace_ms=60_000, silence_ms=120_000)
        a = BinanceWebSocketAggregator(min_volume_24h=0.0, max_pairs=10, chunk_size=5, settings=settings, clock=clock)
        await a.start()
        try:
            yield a
        finally:
            await a.stop()


async def test_status_and_metrics(agg: BinanceWebSocketAggregator) -> None:
    await until(lambda: all(c.stats.link_state == "CONNECTED" for c in agg.connections.values()), 20, "live")
    await until(lambda: agg.router.stats.closed_klines >= 40, 20, "closed klines")
    status = await agg.get_connection_status()
    assert status.streaming_pairs == {"spot": 10, "futures": 10}
    # chunk_size 5: 10 kline streams + 1 (or 2 on futures) all-market arrays per venue -> 3 connections each
    assert status.active_connections == len(agg.connections) == 6
    assert {c.state for c in status.connections} == {"CONNECTED"}
    assert status.messages > 0 and status.messages_per_s > 0
    assert status.lag_ms_p50 is not None and status.lag_ms_p99 is not None
    assert status.lag_ms_p50 <= status.lag_ms_p99
    assert status.parse_errors == {}
    assert status.coalesced_klines == agg.router.stats.coalesced_klines  # the router's count, as is

    registry = CollectorRegistry()
    registry.register(FeedCollector(agg))
    text = generate_latest(registry).decode()
    assert 'cryptoscan_feed_connections{state="CONNECTED"} 6.0' in text
    assert 'cryptoscan_feed_pairs{venue="spot"} 10.0' in text
    assert "cryptoscan_feed_messages_total" in text
    assert "cryptoscan_feed_coalesced_klines_total" in text
    assert 'cryptoscan_feed_lag_ms{quantile="0.99"}' in text
