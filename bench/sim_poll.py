"""How much of one core the simulator's market generator needs to feed a full market.

400 spot + 200 futures USDT pairs, each subscribed to kline_1m, miniTicker, aggTrade, depth20@100ms (and
markPrice@1s on futures), polled every 20 ms of real time at --speed 60, as the server does. The load is the
generator's CPU time over the real time it simulates: it must stay well under one core, so that benchmarks
measure the client, not the server. Ceiling in the same run: the same poll loop with the snapshot floor off
(every poll sends every snapshot stream), which is what the floor saves.

Run: .venv/bin/python bench/sim_poll.py [polls]
"""

from __future__ import annotations

import io
import statistics
import sys
import time

from cryptoscan.sim.market import MarketModel
from cryptoscan.sim.streams import GeneratorSource
from cryptoscan.sim.truth import TruthWriter
from cryptoscan.venues.binance.spec import Venue

START = 1_700_000_000_000
SPEED = 60
TICK_S = 0.02


def run(floor_ms: int, polls: int) -> tuple[float, float, float]:
    """(load as a fraction of one core, messages per real second, worst poll in ms)."""
    m = MarketModel(7, START)
    src = GeneratorSource(m, START, TruthWriter(stream=io.BytesIO()), snapshot_floor_ms=floor_ms)
    spot = [i.symbol.lower() for i in m.symbols(Venue.SPOT) if i.quote == "USDT" and i.status == "TRADING"][:400]
    fut = [
        i.symbol.lower()
        for i in m.symbols(Venue.FUTURES)
        if i.quote == "USDT" and i.status == "TRADING" and i.contract_type == "PERPETUAL"
    ][:200]
    wanted = {
        Venue.SPOT: [f"{s}@{k}" for s in spot for k in ("kline_1m", "miniTicker", "aggTrade", "depth20@100ms")],
        Venue.FUTURES: [
            f"{s}@{k}" for s in fut for k in ("kline_1m", "miniTicker", "aggTrade", "depth20@100ms", "markPrice@1s")
        ],
    }
    step = int(TICK_S * 1000 * SPEED)
    now = START + step
    src.poll(now, wanted)  # warm-up: builds the day's blocks
    n, worst = 0, 0.0
    t0 = time.perf_counter()
    for _ in range(polls):
        now += step
        a = time.perf_counter()
        n += len(src.poll(now, wanted))
        worst = max(worst, time.perf_counter() - a)
    cpu = time.perf_counter() - t0
    return cpu / (polls * TICK_S), n / (polls * TICK_S), worst * 1000


def main() -> None:
    polls = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    floor = int(250 * SPEED)  # SimOptions.snapshot_min_real_ms × speed, as the server sets it
    runs = [run(floor, polls) for _ in range(3)]
    bare = [run(0, polls) for _ in range(3)]
    load = statistics.median(r[0] for r in runs)
    load0 = statistics.median(r[0] for r in bare)
    print(f"sim generator at --speed {SPEED}, 2600 streams, {polls} polls of {TICK_S * 1000:.0f} ms, median of 3")
    print(f"  with snapshot floor 250 ms real: load {load:.1%} of one core, "
          f"{statistics.median(r[1] for r in runs):,.0f} msg/s, worst poll {max(r[2] for r in runs):.0f} ms")
    print(f"  floor off (every poll):          load {load0:.1%} of one core, "
          f"{statistics.median(r[1] for r in bare):,.0f} msg/s, worst poll {max(r[2] for r in bare):.0f} ms")
    print(f"  ratio floor-off / floor: {load0 / load:.1f}x")


if __name__ == "__main__":
    main()
