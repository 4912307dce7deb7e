"""Backfiller against the real simulator over loopback, with market time sped up.

The client reads the sim's own ScaledClock, so both sides agree on weight windows exactly; waits are
bounded polls of a condition, never fixed sleeps.
"""

from __future__ import annotations

import asyncio

import httpx

from cryptoscan.events import Kline
from cryptoscan.feed.backfill import Backfiller
from cryptoscan.feed.gaps import GapTracker, KlineRequest
from cryptoscan.feed.rest import BinanceRest
from cryptoscan.sim.options import SimOptions
from cryptoscan.sim.server import SimServer
from cryptoscan.venues.binance.spec import Venue
from helpers import until
from simfakes import SimFactory

MIN = 60_000


async def _sim(sim_factory: SimFactory, speed: float, **opts: object) -> SimServer:
    return await sim_factory(SimOptions(n_spot=20, n_futures=10, speed=speed, **opts), fake=False)  # type: ignore[arg-type]


class Sink:
    def __init__(self) -> None:
        self.batches: list[list[Kline]] = []

    def __call__(self, klines: list[Kline]) -> None:
        self.batches.append(klines)


async def test_a_2500_bar_gap_is_backfilled_exactly_within_budget(sim_factory: SimFactory) -> None:
    sim = await _sim(sim_factory, speed=60)
    clock = sim.ctx.clock
    tracker = GapTracker()
    now = clock.now_ms()
    newest_closed = now // MIN * MIN - MIN
    last_seen = newest_closed - 2500 * MIN
    tracker.seed(Venue.FUTURES, "BTCUSDT", "1m", last_seen)
    requests = tracker.on_reconnect(now)
    assert [r.limit for r in requests] == [1000, 1000, 500]
    got: list[Kline] = []

    def sink(klines: list[Kline]) -> None:
        for k in klines:
            if tracker.on_closed(Venue.FUTURES, k.symbol, k.interval, k.open_time).accept:
                got.append(k)

    async with BinanceRest(sim.url, clock=clock) as rest:
        bf = Backfiller(rest, clock, sink)
        bf.add(requests)
        runner = asyncio.create_task(bf.run())
        await until(lambda: bf.idle)
        await bf.close()
        await runner
        peak = rest.weights.venues[Venue.FUTURES].peak
    opens = [k.open_time for k in got]
    assert opens == list(range(last_seen + MIN, newest_closed + MIN, MIN))  # no holes, no duplicates, in order
    assert tracker.holes(Venue.FUTURES, "BTCUSDT", "1m") == [] and tracker.duplicates == 0
    assert (bf.counters.requests, bf.counters.klines, bf.counters.retries) == (3, 2500, 0)
    assert peak <= 2400 // 2  # within the backfill share of the futures budget
    rows = sim.ctx.market.rest_klines(Venue.FUTURES, "BTCUSDT", "1m", opens[1234], None, 3, clock.now_ms())
    assert [(k.open_time, k.close) for k in got[1234:1237]] == [(r[0], float(str(r[4]))) for r in rows]
    assert sim.ctx.stats.violation_counts() == {}


async def test_a_tight_budget_slows_the_backfill_with_zero_violations(sim_factory: SimFactory) -> None:
    budget = 40  # 20 for the backfill share: 10 spot kline requests per market minute
    sim = await _sim(sim_factory, speed=120, spot_weight_per_minute=budget)
    clock = sim.ctx.clock
    symbols = sorted(s.symbol for s in sim.ctx.market.all_series(Venue.SPOT) if s.symbol.endswith("USDT"))[:10]
    start = clock.now_ms() // MIN * MIN - 10 * MIN
    requests = [
        KlineRequest(Venue.SPOT, sym, interval, start, start + 5 * MIN - 1, 5)
        for sym in symbols
        for interval in ("1m", "3m", "5m")
    ]
    assert len(requests) == 30
    sink = Sink()
    async with BinanceRest(sim.url, clock=clock) as rest:
        answered: list[int] = []
        rest.add_observer(lambda venue, status, headers: answered.append(clock.now_ms()))
        bf = Backfiller(rest, clock, sink, max_in_flight=2, budgets={Venue.SPOT: budget})
        bf.add(requests)
        assert bf.add(requests[:3]) == 0  # duplicates are ignored
        t0 = clock.now_ms()
        runner = asyncio.create_task(bf.run())
        await until(lambda: bf.idle, limit_s=20)
        elapsed = clock.now_ms() - t0
        await bf.close()
        await runner
        peak = rest.weights.venues[Venue.SPOT].peak
    assert sim.ctx.stats.violation_counts() == {}
    assert bf.counters.requests == 30 and bf.counters.throttles == 0
    assert len(sink.batches) == 30 and all(len(b) >= 1 for b in sink.batches)
    # 60 weight over a 20-per-minute share needs three weight windows, so over a minute of market time
    assert len({t // MIN for t in answered}) >= 3 and elapsed > MIN
    assert peak <= budget


async def test_an_injected_429_is_honoured_and_counted(sim_factory: SimFactory) -> None:
    sim = await _sim(sim_factory, speed=120)
    clock = sim.ctx.clock
    sent: list[tuple[int, int]] = []
    start = clock.now_ms() // MIN * MIN - 30 * MIN
    requests = [
        KlineRequest(Venue.SPOT, "BTCUSDT", "1m", start + i * 10 * MIN, start + (i + 1) * 10 * MIN - 1, 10)
        for i in range(3)
    ]
    sink = Sink()
    async with httpx.AsyncClient(base_url=sim.url) as control:
        r = await control.post("/sim/faults", json={"kind": "rest_429"})
        assert r.status_code == 200
    async with BinanceRest(sim.url, clock=clock) as rest:
        rest.add_observer(lambda venue, status, headers: sent.append((clock.now_ms(), status)))
        bf = Backfiller(rest, clock, sink, max_in_flight=1)
        bf.add(requests)
        runner = asyncio.create_task(bf.run())
        await until(lambda: bf.idle, limit_s=10)
        await bf.close()
        await runner
    assert bf.counters.throttles == 1 and bf.counters.retries == 0
    statuses = [s for _, s in sent]
    assert statuses == [429, 200, 200, 200]
    # Retry-After is real seconds (at least 1): the next request waited at least that long in market time
    assert sent[1][0] - sent[0][0] >= 1000 * 120
    # delivered in order, nothing lost
    opens = [k.open_time for batch in sink.batches for k in batch]
    assert opens == list(range(start, start + 30 * MIN, MIN))
    assert "rest_ban" not in sim.ctx.stats.violation_counts()


async def test_server_errors_are_retried(sim_factory: SimFactory) -> None:
    sim = await _sim(sim_factory, speed=60)
    clock = sim.ctx.clock
    start = clock.now_ms() // (5 * MIN) * (5 * MIN) - 20 * MIN
    sink = Sink()
    async with httpx.AsyncClient(base_url=sim.url) as control:
        r = await control.post("/sim/faults", json={"kind": "rest_5xx", "count": 2})
        assert r.status_code == 200
    async with BinanceRest(sim.url, clock=clock) as rest:
        bf = Backfiller(rest, clock, sink)
        bf.add([KlineRequest(Venue.FUTURES, "ETHUSDT", "5m", start, start + 4 * 5 * MIN - 1, 4)])
        bf.add([KlineRequest(Venue.FUTURES, "NOPEUSDT", "5m", start, start + 4 * 5 * MIN - 1, 4)])
        runner = asyncio.create_task(bf.run())
        await until(lambda: bf.idle, limit_s=10)
        await bf.close()
        await runner
    assert bf.counters.retries == 2 and bf.counters.dropped == 1  # the bad symbol is given up at once
    assert sorted(len(b) for b in sink.batches) == [0, 4]  # the refused request is delivered empty
    assert {k.symbol for b in sink.batches for k in b} == {"ETHUSDT"}


async def test_fetch_awaits_history_under_the_budget(sim_factory: SimFactory) -> None:
    sim = await _sim(sim_factory, speed=60)
    clock = sim.ctx.clock
    sink = Sink()
    async with BinanceRest(sim.url, clock=clock) as rest:
        bf = Backfiller(rest, clock, sink)
        runner = asyncio.create_task(bf.run())
        end = clock.now_ms() // MIN * MIN - 1
        spot, fut = await asyncio.gather(
            bf.fetch(Venue.SPOT, "btcusdt", "1m", end - 1500 * MIN + 1, end, 1500),
            bf.fetch(Venue.FUTURES, "ETHUSDT", "1m", end - 10 * MIN + 1, end, 10),
        )
        assert bf.idle
        await bf.close()
        await runner
        assert await bf.fetch(Venue.SPOT, "BTCUSDT", "1m", end - MIN + 1, end, 1) == []  # closed: nothing
    assert [k.open_time for k in spot] == list(range(end + 1 - 1500 * MIN, end + 1, MIN))  # two requests, joined
    assert [k.open_time for k in fut] == list(range(end + 1 - 10 * MIN, end + 1, MIN))
    assert bf.counters.klines == 1510
    assert bf.counters.requests == 3 and sink.batches == []  # fetched klines go to the caller only
    assert sim.ctx.stats.violation_counts() == {}
