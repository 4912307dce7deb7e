"""The aggregator end to end against the local exchange over real sockets: discovery, history, sharded
streams, faults, backfill. Klines are checked bar by bar against the sim's REST history (which the sim's
truth agrees with exactly)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from itertools import pairwise

import httpx
import pytest

from cryptoscan.clock import LiveClock, ScaledClock
from cryptoscan.events import Kline, Venue
from cryptoscan.feed.aggregator import BinanceWebSocketAggregator, FeedSettings
from cryptoscan.sim.options import SimOptions
from cryptoscan.sim.server import SimServer
from helpers import until

SPEED = 60.0


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    async with SimServer(SimOptions(port=0, speed=SPEED, n_spot=60, n_futures=30, seed=11)) as s:
        yield s


def _aggregator(sim: SimServer, **kw: object) -> BinanceWebSocketAggregator:
    clock = ScaledClock(LiveClock(), SPEED, start_ms=sim.ctx.clock.now_ms())
    # The sim thins snapshot streams to one per 250 ms real (15 market seconds at speed 60): a wider grace.
    settings = FeedSettings(exchange_url=sim.url, history_bars=120, klines_buffer_size=400, stale_grace_ms=60_000,
                            silence_ms=120_000)
    return BinanceWebSocketAggregator(
        max_workers=4, chunk_size=20, min_volume_24h=0.0, max_pairs=15, settings=settings, clock=clock, **kw
    )


async def _rest_rows(sim: SimServer, venue: Venue, symbol: str, start: int, end: int) -> list[list[object]]:
    path = "/api/v3/klines" if venue is Venue.SPOT else "/fapi/v1/klines"
    async with httpx.AsyncClient(base_url=sim.url) as c:
        r = await c.get(path, params={"symbol": symbol, "interval": "1m", "startTime": start, "endTime": end,
                                      "limit": 1000})
        r.raise_for_status()
        rows: list[list[object]] = r.json()
        return rows


async def _check_series(sim: SimServer, agg: BinanceWebSocketAggregator, venue: Venue, symbol: str) -> int:
    """The held 1m series has no hole and no duplicate, and each bar equals the sim's REST row."""
    w = agg.closed_series(venue, symbol, "1m")
    times = [int(t) for t in w.open_time]
    assert times, f"{venue} {symbol}: no closed klines"
    assert all(b - a == 60_000 for a, b in pairwise(times)), f"{venue} {symbol}: gap or dup"
    rows = await _rest_rows(sim, venue, symbol, times[0], times[-1] + 59_999)
    closed = {int(r[0]): r for r in rows}  # type: ignore[call-overload]
    for i, t in enumerate(times):
        row = closed[t]
        assert float(w.close[i]) == float(row[4]), f"{symbol} close at {t}"  # type: ignore[arg-type]
        assert float(w.volume[i]) == float(row[5]), f"{symbol} volume at {t}"  # type: ignore[arg-type]
    return len(times)


async def test_streams_select_and_stay_gap_free_across_drops(sim: SimServer) -> None:
    agg = _aggregator(sim)
    closed: list[Kline] = []
    agg.register_kline_callback(lambda k: closed.append(k) if k.closed else None)
    await agg.start()
    try:
        status = await agg.get_connection_status()
        assert status.streaming_pairs == {"spot": 15, "futures": 15}
        await until(lambda: all(c.stats.link_state == "CONNECTED" for c in agg.connections.values()), 20,
                    "all connections live")
        # Let a few market minutes close, then drop every connection twice while bars keep closing.
        start_count = len(closed)
        await until(lambda: len(closed) >= start_count + 30, 30, "live closed klines arrive")
        async with httpx.AsyncClient(base_url=sim.url) as c:
            for _ in range(2):
                r = await c.post("/sim/faults", json={"kind": "drop", "target": "all"})
                assert r.status_code == 200
                await asyncio.sleep(1.5)  # two market minutes close while connections come back
        await until(lambda: agg.gaps.open_holes() == 0 and agg.backfiller.idle, 30, "backfill done")
        await asyncio.sleep(1.2)  # one more minute closes live after recovery
        await until(lambda: agg.gaps.open_holes() == 0 and agg.backfiller.idle, 30, "backfill done")
        for venue, sel in agg.selections.items():
            for symbol in sel.names[:5]:
                assert await _check_series(sim, agg, venue, symbol) >= 120
        status = await agg.get_connection_status()
        assert status.reconnects >= len(agg.connections) * 2
        assert status.duplicate_klines >= 0
        assert sim.ctx.stats.violation_counts() == {}
    finally:
        await agg.stop()


async def test_user_data_and_new_listings_reach_consumers(sim: SimServer) -> None:
    from pydantic import SecretStr

    from cryptoscan.events import AccountUpdate, OrderUpdate

    agg = _aggregator(sim, api_key=SecretStr("test-key"), discovery_interval_s=0.5)
    user: list[object] = []
    agg.register_user_data_callback(user.append)
    await agg.start()
    try:
        await until(lambda: agg.user_data is not None and agg.user_data.has_key, 10, "listenKey created")
        async with httpx.AsyncClient(base_url=sim.url) as c:
            r = await c.post("/sim/account/orders", json={"symbol": "BTCUSDT", "side": "BUY", "quantity": 0.01,
                                                          "price": 50000})
            assert r.status_code == 200
        await until(lambda: sum(isinstance(e, OrderUpdate) for e in user) >= 2, 10, "order updates")
        await until(lambda: any(isinstance(e, AccountUpdate) for e in user), 10, "account update")
        statuses = [e.status for e in user if isinstance(e, OrderUpdate)]
        assert statuses[:2] == ["NEW", "FILLED"]
        # A pair halted on the exchange is dropped by the next discovery round and unsubscribed.
        victim = agg.selections[Venue.SPOT].names[0]
        async with httpx.AsyncClient(base_url=sim.url) as c:
            r = await c.post("/sim/symbols/status", json={"venue": "spot", "symbol": victim, "status": "BREAK"})
            assert r.status_code == 200
        await until(lambda: victim not in agg.selections[Venue.SPOT].names, 20, "delisting seen")
        stream = f"{victim.lower()}@kline_1m"
        spot = [c for c in agg.connections.values() if c.venue is Venue.SPOT]
        await until(lambda: all(stream not in c.streams for c in spot), 20, "unsubscribed on spot")
        # The futures pair of the same name is another instrument and stays.
        if victim in agg.selections[Venue.FUTURES].names:
            assert any(stream in c.streams for c in agg.connections.values() if c.venue is Venue.FUTURES)
    finally:
        await agg.stop()


async def test_a_failed_discovery_round_is_reported_and_the_feed_keeps_going(sim: SimServer) -> None:
    from cryptoscan.feed.dispatch import FeedError

    agg = _aggregator(sim, discovery_interval_s=0.2)
    errors: list[FeedError] = []
    agg.register_error_callback(errors.append)
    await agg.start()
    try:
        names = agg.selections[Venue.SPOT].names
        async with httpx.AsyncClient(base_url=sim.url) as c:
            r = await c.post("/sim/faults", json={"kind": "rest_5xx", "count": 20})
            assert r.status_code == 200
        await until(lambda: any(e.source == "discovery" for e in errors), 10, "discovery error reported")
        assert agg.selections[Venue.SPOT].names == names  # the failed round kept the universe
        assert all(c.stats.link_state == "CONNECTED" for c in agg.connections.values())
    finally:
        await agg.stop()
