"""Recovery time: from a dropped connection to LIVE with backfill done, on loopback (not a test).

A running BinanceWebSocketAggregator (90 pairs, 1m klines, against ``cryptoscan sim`` at --speed 60) has all
its connections dropped by the sim's control API, N times. For each drop we time, in real ms, until every
connection is CONNECTED again, the backfiller is idle and no kline hole is open. Ceiling in the same run: a
bare websockets client that reconnects and re-subscribes after the same drop (no backfill, no checks): the
floor any client pays for a new TCP + WebSocket handshake and a SUBSCRIBE round trip. Also printed: the
connections' own failure-to-LIVE times, which leave out the backfill.

    .venv/bin/python bench/recovery.py [--drops 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time

import httpx
from websockets.asyncio.client import connect

from cryptoscan.clock import LiveClock, ScaledClock
from cryptoscan.feed.aggregator import BinanceWebSocketAggregator, FeedSettings
from cryptoscan.sim.options import SimOptions
from cryptoscan.sim.server import SimServer

SPEED = 60.0


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def wait(cond: object, bound_s: float = 30.0) -> None:
    deadline = time.perf_counter() + bound_s
    while not cond():  # type: ignore[operator]
        if time.perf_counter() > deadline:
            raise TimeoutError("not recovered in time")
        await asyncio.sleep(0.002)


async def aggregator_recoveries(
    sim: SimServer, http: httpx.AsyncClient, drops: int
) -> tuple[list[float], list[float]]:
    clock = ScaledClock(LiveClock(), SPEED, start_ms=sim.ctx.clock.now_ms())
    settings = FeedSettings(exchange_url=sim.url, history_bars=60, stale_grace_ms=60_000, silence_ms=120_000)
    agg = BinanceWebSocketAggregator(min_volume_24h=0.0, max_pairs=60, chunk_size=40, settings=settings, clock=clock)
    await agg.start()
    conns = agg.connections.values

    def recovered() -> bool:
        return (
            all(c.stats.link_state == "CONNECTED" for c in conns())
            and agg.backfiller.idle
            and agg.gaps.open_holes() == 0
        )

    out: list[float] = []
    try:
        await wait(recovered)
        for _ in range(drops):
            before = sum(c.stats.reconnects for c in conns())
            t0 = time.perf_counter()
            await http.post("/sim/faults", json={"kind": "drop", "target": "all"})
            await wait(lambda b=before: sum(c.stats.reconnects for c in conns()) > b)  # the drop was seen
            await wait(recovered)
            out.append((time.perf_counter() - t0) * 1000)
            # stay LIVE past the backoff's 60 s (market) stability window, as a real, rare drop would: a link
            # dropped every few market seconds is flapping, and its growing backoff is by design
            await asyncio.sleep(1.2)
        # the connections' own failure -> LIVE times, in clock (market) ms: convert to real ms
        links = [ms / SPEED for c in conns() for ms in c.stats.recoveries_ms]
    finally:
        await agg.stop()
    return out, links


async def bare_recoveries(sim: SimServer, http: httpx.AsyncClient, drops: int) -> list[float]:
    streams = ["btcusdt@kline_1m", "ethusdt@kline_1m"]
    url = sim.url.replace("http://", "ws://") + "/stream"
    out: list[float] = []
    for i in range(drops):
        async with connect(url) as ws:
            await ws.send(json.dumps({"method": "SUBSCRIBE", "params": streams, "id": 1}))
            await ws.recv()
            t0 = time.perf_counter()
            await http.post("/sim/faults", json={"kind": "drop", "target": "all"})
            try:
                while True:
                    await ws.recv()
            except Exception:
                pass
        async with connect(url) as ws:  # the floor: reconnect, subscribe, acknowledged
            await ws.send(json.dumps({"method": "SUBSCRIBE", "params": streams, "id": 2 + i}))
            while json.loads(await ws.recv()).get("id") != 2 + i:
                pass
            out.append((time.perf_counter() - t0) * 1000)
    return out


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--drops", type=int, default=20)
    args = ap.parse_args()
    async with (
        SimServer(SimOptions(port=0, speed=SPEED, n_spot=80, n_futures=40, seed=3)) as sim,
        httpx.AsyncClient(base_url=sim.url) as http,
    ):
        agg, links = await aggregator_recoveries(sim, http, args.drops)
        bare = await bare_recoveries(sim, http, args.drops)
    print(f"recovery after a mass drop, {args.drops} drops, real ms (sim at --speed {SPEED:.0f}, loopback)")
    print(f"  cryptoscan (all connections LIVE, backfill done, no hole): "
          f"p50 {statistics.median(agg):.0f}  p99 {pct(agg, 0.99):.0f}  max {max(agg):.0f}")
    print(f"  of which reconnect to LIVE (per connection): "
          f"p50 {statistics.median(links):.0f}  p99 {pct(links, 0.99):.0f}  max {max(links):.0f}")
    print(f"  ceiling: bare websockets reconnect + SUBSCRIBE acknowledged: "
          f"p50 {statistics.median(bare):.0f}  p99 {pct(bare, 0.99):.0f}  max {max(bare):.0f}")
    print(f"  ratio p50 cryptoscan / bare: {statistics.median(agg) / statistics.median(bare):.1f}x")


if __name__ == "__main__":
    asyncio.run(main())
