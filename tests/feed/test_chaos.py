"""Chaos: the aggregator against the local exchange while the exchange and the network misbehave.

Hundreds of spot and futures pairs with kline, miniTicker, aggTrade, depth20 and markPrice streams, at high
speed, with a fault every few market seconds: dropped sockets, stalls (short ones that only lose frames and
long ones the silence watchdog must catch), malformed frames, duplicated frames, 429s on REST, early
``serverShutdown`` and forced rotation (a short connection lifetime). Afterwards every closed 1m kline the
aggregator delivered to a consumer is compared with the sim's truth file: none missing, none twice, equal
values; the sim reports no limit violation; every fault kind fired; no task of the feed died.

The sim runs in a child process (``SimProcess``): in one process it takes most of the only core the test
would get, and at 400 + 200 pairs the generator alone needs a full core from about 120x.
The long run (5 market hours, 400 + 200 pairs, about 3.5 minutes) needs ``CRYPTOSCAN_CHAOS=1``; a short run
with the same assertions is always on. Figures are printed at the end (run with ``-s`` to see them).
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing as mp
import os
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

import pytest

from cryptoscan.clock import LiveClock, ScaledClock
from cryptoscan.events import ConnectionStatus, Kline, Venue
from cryptoscan.feed.aggregator import BinanceWebSocketAggregator, FeedSettings
from cryptoscan.feed.dispatch import Channel
from cryptoscan.feed.lifecycle import Phase
from cryptoscan.sim.options import SimOptions
from cryptoscan.sim.server import SimServer
from cryptoscan.sim.truth import KlineTruth, read_truth
from helpers import until

MIN = 60_000
CONN_FAULTS = ("drop", "stall", "malformed", "duplicate", "shutdown")
REST_FAULTS = ("rest_429",)


@dataclass(frozen=True, slots=True)
class Plan:
    speed: float
    n_spot: int
    n_futures: int
    market_hours: float
    faults: tuple[str, ...]  # "kind:every_s[:duration_ms]", market seconds
    lifetime_ms: int  # forced rotation: the sim closes each connection after this much market time
    settle_s: float = 60.0  # real seconds allowed for the last holes to fill after the chaos window
    # p99 recovery bounds, real ms: without a 429 in the window (the issue asks < 2 s), and overall
    recovery_p99_ms: float = 2_000.0
    recovery_p99_with_429_ms: float = 5_000.0


def _faults(scale: float, speed: float) -> tuple[str, ...]:
    """A fault every few market seconds overall; ``scale`` stretches every period (short runs: denser).

    A 429's Retry-After is whole real seconds (at least 1), i.e. ``speed`` market seconds of blocked REST:
    429s come every 8 real seconds, or REST would be blocked most of the time and nothing could catch up.
    """
    s = scale
    return (
        f"drop:{120 * s:g}",
        f"stall:{150 * s:g}:30000",  # short: frames lost, the socket stays (holes seen in the kline sequence)
        f"stall:{400 * s:g}:900000",  # long: the silence watchdog reconnects
        f"malformed:{20 * s:g}",
        f"duplicate:{15 * s:g}",
        f"shutdown:{300 * s:g}",
        f"rest_429:{8 * speed:g}",
    )


# Speed: at 400 + 200 pairs the sim's generator is the bottleneck on this 2-core machine (one core at 100% from
# about 120x: aggTrade is never thinned); at 200x it falls behind, pings go late and it reports pong timeouts.
# 100x keeps both processes under one core each: 5 market hours take about 3 minutes of real time.
# Measured at full load, 100x: recovery p50 16 ms, p99 653 ms without a 429 in the window, 1.6 s with one.
FULL = Plan(
    speed=100.0,
    n_spot=400,
    n_futures=200,
    market_hours=5.0,
    faults=_faults(1.0, 100.0),
    lifetime_ms=10 * MIN,
)
SHORT = Plan(
    speed=120.0,
    n_spot=100,
    n_futures=50,
    market_hours=1.0,
    faults=_faults(0.5, 120.0),
    lifetime_ms=3 * MIN,
    settle_s=30.0,
)


@dataclass(slots=True)
class Recorder:
    """What a consumer saw: closed klines (with repeats counted) and link changes per connection."""

    klines: dict[tuple[str, str, int], tuple[float, float]] = field(default_factory=dict)
    repeats: list[tuple[str, str, int]] = field(default_factory=list)
    down_at: dict[str, int] = field(default_factory=dict)  # conn id -> clock ms of the failure
    live_again: list[tuple[str, int, int]] = field(default_factory=list)  # conn id, failed at, live at
    failures: int = 0

    def on_kline(self, k: Kline) -> None:
        if not k.closed:
            return
        key = (k.venue, k.symbol, k.open_time)
        if key in self.klines:
            self.repeats.append(key)
        self.klines[key] = (k.close, k.volume)

    def on_status(self, st: object) -> None:
        if not isinstance(st, ConnectionStatus):  # serverShutdown notices share the channel
            return
        if st.state == "CONNECTED":
            failed = self.down_at.pop(st.connection_id, None)
            if failed is not None:
                self.live_again.append((st.connection_id, failed, st.ts_event))
        elif st.connection_id not in self.down_at and st.detail not in ("connecting", "closed"):
            self.down_at[st.connection_id] = st.ts_event
            self.failures += 1


def _settings(url: str, plan: Plan) -> FeedSettings:
    s = plan.speed
    return FeedSettings(
        exchange_url=url,
        min_volume_24h=0.0,
        max_pairs=max(plan.n_spot, plan.n_futures),
        symbol_streams=("aggTrade", "depth20@100ms"),
        history_bars=60,
        klines_buffer_size=600,
        # The sim thins snapshot streams to one per 250 ms real: allow seconds of real time, in clock ms.
        stale_grace_ms=int(3 * s * 1000),
        silence_ms=int(2 * s * 1000),
        max_workers=8,
    )


async def _recoveries(
    agg: BinanceWebSocketAggregator, rec: Recorder, since_ms: int, out: list[tuple[int, bool]], stop: asyncio.Event
) -> None:
    """Failure -> LIVE again with no hole left in that connection's 1m series, polled every 10 ms real.

    Only failures after ``since_ms`` (start-up is over) count. Each result is (clock ms, throttled): whether a
    REST 429's Retry-After, which holds every backfill of the venue, overlapped the recovery.
    """
    pending: list[tuple[str, int, int]] = []
    seen = 0
    while not stop.is_set():
        while seen < len(rec.live_again):
            cid, failed, _ = rec.live_again[seen]
            seen += 1
            if failed >= since_ms:
                pending.append((cid, failed, agg.backfiller.counters.throttles))
        now = agg.clock.now_ms()
        still: list[tuple[str, int, int]] = []
        for cid, failed, throttles in pending:
            conn = agg.connections.get(cid)
            if conn is None:
                continue
            symbols = [s.split("@", 1)[0].upper() for s in conn.streams if s.endswith("@kline_1m")]
            if conn.phase is Phase.LIVE and not any(agg.gaps.holes(conn.venue, sym, "1m") for sym in symbols):
                blocked = agg.backfiller.schedulers[conn.venue].blocked_until > failed
                out.append((now - failed, blocked or agg.backfiller.counters.throttles != throttles))
            else:
                still.append((cid, failed, throttles))
        pending = still
        await asyncio.sleep(0.01)


def _truth(
    path: Path, wanted: dict[str, frozenset[str]], first: int, last: int
) -> dict[tuple[str, str, int], KlineTruth]:
    out: dict[tuple[str, str, int], KlineTruth] = {}
    for line in read_truth(path):
        if (
            isinstance(line, KlineTruth)
            and line.interval == "1m"
            and first <= line.open_time <= last
            and line.symbol in wanted.get(line.venue, frozenset())
        ):
            out[(line.venue, line.symbol, line.open_time)] = line
    return out


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _sim_process(options: SimOptions, pipe: Connection) -> None:
    """Child process: the sim on its own core. Reports (url, monotonic, market ms) once listening; on any
    message from the parent, answers with its counters and violation counts and stops."""

    async def serve() -> None:
        async with SimServer(options) as sim:
            pipe.send((sim.url, LiveClock().monotonic(), sim.ctx.clock.now_ms()))
            loop = asyncio.get_running_loop()
            asked = asyncio.Event()
            loop.add_reader(pipe.fileno(), asked.set)
            await asked.wait()
            loop.remove_reader(pipe.fileno())
            pipe.recv()
            pipe.send((dict(sim.ctx.stats.counters), sim.ctx.stats.violation_counts()))

    asyncio.run(serve())


class SimProcess:
    """The local exchange in a child process (the client gets the other core), with a clock in step with it.

    CLOCK_MONOTONIC is system-wide, so the child's (monotonic, market ms) pair pins the market clock here.
    """

    def __init__(self, options: SimOptions) -> None:
        self.options = options
        ctx = mp.get_context("spawn")
        self._pipe, child = ctx.Pipe()
        self._proc = ctx.Process(target=_sim_process, args=(options, child), name="chaos-sim", daemon=True)
        self.url = ""
        self.clock: ScaledClock | None = None

    async def start(self) -> None:
        self._proc.start()
        loop = asyncio.get_running_loop()
        ready = await loop.run_in_executor(None, self._pipe.poll, 30.0)
        assert ready, "the sim process did not start"
        self.url, mono, market_ms = self._pipe.recv()
        live = LiveClock()
        now_market = market_ms + int((live.monotonic() - mono) * 1000 * self.options.speed)
        self.clock = ScaledClock(live, self.options.speed, start_ms=now_market)

    async def stop(self) -> tuple[Counter[str], dict[str, int]]:
        """Counters and violation counts of the run; the child has exited when this returns."""
        loop = asyncio.get_running_loop()
        self._pipe.send("stop")
        ready = await loop.run_in_executor(None, self._pipe.poll, 30.0)
        counters, violations = self._pipe.recv() if ready else ({}, {"sim_process_unresponsive": 1})
        await loop.run_in_executor(None, self._proc.join, 10.0)
        if self._proc.is_alive():
            self._proc.kill()
            await loop.run_in_executor(None, self._proc.join, 5.0)
        return Counter(counters), violations


async def run_chaos(tmp_path: Path, plan: Plan) -> dict[str, object]:
    loop = asyncio.get_running_loop()
    t_real0 = loop.time()
    truth_path = tmp_path / "truth.jsonl"
    options = SimOptions(
        port=0,
        speed=plan.speed,
        n_spot=plan.n_spot,
        n_futures=plan.n_futures,
        seed=23,
        truth=truth_path,
        faults=list(plan.faults),
        lifetime_ms=plan.lifetime_ms,
    )
    sim = SimProcess(options)
    await sim.start()
    clock = sim.clock
    assert clock is not None
    try:
        settings = _settings(sim.url, plan)
        agg = BinanceWebSocketAggregator(
            settings.max_workers, settings.chunk_size, 0.0, settings.max_pairs, settings=settings, clock=clock
        )
        rec = Recorder()
        agg.register_kline_callback(rec.on_kline)
        agg.dispatcher.register(Channel.STATUS, rec.on_status, name="chaos-status", capacity=100_000)
        recoveries: list[tuple[int, bool]] = []
        stop_monitor = asyncio.Event()
        await agg.start()
        monitor = asyncio.create_task(_recoveries(agg, rec, clock.now_ms(), recoveries, stop_monitor))
        try:
            t_started = loop.time()
            first = clock.now_ms() // MIN * MIN  # closes after start() returned: only live or backfilled
            assert len(agg.selections[Venue.SPOT].names) == plan.n_spot
            assert len(agg.selections[Venue.FUTURES].names) == plan.n_futures
            end_market = first + int(plan.market_hours * 3_600_000)
            real_budget = plan.market_hours * 3600 / plan.speed * 3 + 30
            await until(lambda: clock.now_ms() >= end_market + MIN, real_budget, "the chaos window to pass")
            last = end_market - MIN  # every bar in [first, last] has closed; faults keep firing meanwhile
            wanted = {v.value: frozenset(sel.names) for v, sel in agg.selections.items()}
            expected = {(v, s, t) for v, names in wanted.items() for s in names for t in range(first, last + 1, MIN)}

            def complete() -> bool:
                return expected <= rec.klines.keys()

            with contextlib.suppress(AssertionError):  # reported below as missing bars, with the figures
                await until(complete, plan.settle_s, "every closed 1m kline of the window delivered")
            tasks_alive = all(not t.done() for t in (*agg._tasks.values(), *agg._bg))
            status = await agg.get_connection_status()
            conn_stats = [c.stats for c in agg.connections.values()]
            t_streaming = loop.time() - t_started
        finally:
            stop_monitor.set()
            await monitor
            await agg.stop()
    finally:
        counters, violations = await sim.stop()
    t_real = loop.time() - t_real0
    truth = _truth(truth_path, wanted, first, last)

    delivered = {k for k in rec.klines if first <= k[2] <= last}
    missing = sorted(truth.keys() - delivered)
    unknown = sorted(delivered - truth.keys())
    wrong = [k for k in delivered & truth.keys() if rec.klines[k] != (float(truth[k].close), float(truth[k].volume))]
    rec_real = [ms / plan.speed for ms, _ in recoveries]
    rec_clear = [ms / plan.speed for ms, throttled in recoveries if not throttled]
    lags = [x / plan.speed for c in conn_stats for x in c.lag_ms]
    figures: dict[str, object] = {
        "pairs": f"{plan.n_spot} spot + {plan.n_futures} futures",
        "speed": plan.speed,
        "market_hours": round((last + MIN - first) / 3_600_000, 2),
        "real_s_total": round(t_real, 1),
        "real_s_streaming": round(t_streaming, 1),
        "bars_expected": len(expected),
        "bars_in_truth": len(truth),
        "missing": len(missing),
        "duplicates_delivered": len(rec.repeats),
        "wrong_values": len(wrong),
        "unknown_bars": len(unknown),
        "faults": {k.removeprefix("fault."): v for k, v in sorted(counters.items()) if k.startswith("fault.")},
        "violations": violations,
        "connections": len(conn_stats),
        "link_failures_seen": rec.failures,
        "reconnects": status.reconnects,
        "rotations": sum(c.rotations for c in conn_stats),
        "backfilled_klines": status.backfilled_klines,
        "backfill_requests": status.backfill_requests,
        "duplicate_klines_dropped": status.duplicate_klines,
        "duplicates_dropped_in_rotation": sum(c.duplicates_dropped for c in conn_stats),
        "parse_errors": status.parse_errors,
        "callback_errors": sum(c.callback_errors for c in conn_stats) + status.consumer_errors,
        "slow_consumer_disconnects": counters.get("ws.slow_consumer_disconnects", 0),
        "sim_tick_errors": counters.get("hub.tick_errors", 0),
        "lag_real_ms_p50_p99_max": (
            round(_pct(lags, 0.5), 1),
            round(_pct(lags, 0.99), 1),
            round(max(lags, default=float("nan")), 1),
        ),
        "recoveries": len(rec_real),
        "recovery_real_ms_p50_p99_max": (
            round(_pct(rec_real, 0.5), 1),
            round(_pct(rec_real, 0.99), 1),
            round(max(rec_real, default=float("nan")), 1),
        ),
        "recoveries_without_429": len(rec_clear),
        "recovery_without_429_real_ms_p50_p99_max": (
            round(_pct(rec_clear, 0.5), 1),
            round(_pct(rec_clear, 0.99), 1),
            round(max(rec_clear, default=float("nan")), 1),
        ),
        "tasks_alive": tasks_alive,
        "first_missing": missing[:5],
        "first_wrong": wrong[:5],
    }
    print("\nchaos figures:")
    for k, v in figures.items():
        print(f"  {k}: {v}")
    return figures


def _assert(fig: dict[str, object], plan: Plan) -> None:
    assert fig["bars_in_truth"] == fig["bars_expected"], "the truth file lacks bars of the window"
    assert fig["missing"] == 0, f"missing closed klines, e.g. {fig['first_missing']}"
    assert fig["duplicates_delivered"] == 0
    assert fig["unknown_bars"] == 0
    assert fig["wrong_values"] == 0, f"values differ from the truth, e.g. {fig['first_wrong']}"
    assert fig["violations"] == {}
    faults = fig["faults"]
    assert isinstance(faults, dict)
    for kind in (*CONN_FAULTS, *REST_FAULTS):
        assert faults.get(kind, 0) > 0, f"fault {kind} never fired"
    assert fig["tasks_alive"] is True, "a feed task died"
    assert fig["callback_errors"] == 0
    assert fig["sim_tick_errors"] == 0
    parse_errors = fig["parse_errors"]
    assert isinstance(parse_errors, dict) and sum(parse_errors.values()) > 0  # the malformed frames were seen
    assert isinstance(fig["rotations"], int) and fig["rotations"] > 0
    assert isinstance(fig["reconnects"], int) and fig["reconnects"] > 0
    assert isinstance(fig["backfilled_klines"], int) and fig["backfilled_klines"] > 0
    faults_shutdown = faults["shutdown"]
    assert fig["rotations"] > faults_shutdown, "no rotation forced by the connection lifetime"
    recovery = fig["recovery_real_ms_p50_p99_max"]
    clear = fig["recovery_without_429_real_ms_p50_p99_max"]
    assert isinstance(recovery, tuple) and isinstance(clear, tuple)
    assert isinstance(fig["recoveries_without_429"], int) and fig["recoveries_without_429"] > 0
    # A 429's Retry-After (at least 1 real second from the sim) holds the venue's backfill: bounded apart.
    assert clear[1] < plan.recovery_p99_ms, "p99 recovery (failure -> LIVE, backfill done) too slow"
    assert recovery[1] < plan.recovery_p99_with_429_ms, "p99 recovery including REST 429 waits too slow"


@pytest.mark.chaos
@pytest.mark.timeout(90)
async def test_chaos_short(tmp_path: Path) -> None:
    _assert(await run_chaos(tmp_path, SHORT), SHORT)


@pytest.mark.chaos
@pytest.mark.timeout(600)
@pytest.mark.skipif(os.environ.get("CRYPTOSCAN_CHAOS") != "1", reason="long chaos run: set CRYPTOSCAN_CHAOS=1")
async def test_chaos_full(tmp_path: Path) -> None:
    _assert(await run_chaos(tmp_path, FULL), FULL)
