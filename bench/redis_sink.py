"""RedisSink sustained write rate against a bare redis-py pipeline loop, same throwaway server, same run.

A realistic mix per round (400 symbols): a forming kline and a mini ticker per symbol, 200 mark prices, 50
partial books, and every 10th round a closed kline per symbol (stream entries) and a few order updates. The
sink gets ``--events`` events (offered in rounds, yielding to the loop between rounds, as the aggregator's
consumer tasks do); the time runs until every command is acknowledged. The ceiling is a bare loop writing
the same number of SET and XADD commands (pre-encoded values of the same sizes) in pipelines of the same
size. Also ``redis-benchmark -P 64 -t set`` when the binary exists. Medians of ``--runs`` runs.

    .venv/bin/python bench/redis_sink.py [--events 200000] [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import socket
import statistics
import tempfile
import time
from collections.abc import Iterator

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from cryptoscan.events import Depth, Kline, MarkPrice, MiniTicker, OrderUpdate
from cryptoscan.sinks.redis import RedisSink
from cryptoscan.sinks.redis.keys import Append, KeySpace, Put

N_SYMBOLS = 400
T0 = 1_700_000_040_000
BATCH = 2_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def rounds() -> Iterator[list[object]]:
    """Endless rounds of the mix; bar times advance every 10 rounds, so closed klines never repeat."""
    syms = [f"S{i:03d}USDT" for i in range(N_SYMBOLS)]
    bids = tuple((100.0 - i / 10, 1.0 + i) for i in range(20))
    asks = tuple((100.1 + i / 10, 2.0 + i) for i in range(20))
    r = 0
    while True:
        t = T0 + (r // 10) * 60_000
        now = t + r * 10
        closed = r % 10 == 9
        out: list[object] = []
        for i, s in enumerate(syms):
            p = 100.0 + (r % 50) / 10 + i
            out.append(Kline("futures", s, "1m", t, t + 59_999, p, p + 1, p - 1, p + 0.5, 10.0 + r, 1000.0, 10 + r,
                             5.0, 500.0, closed, 1, 10 + r, now, now))  # fmt: skip
            out.append(MiniTicker("spot", s, p, p - 1, p + 2, p - 2, 1e4, 1e6, now, now))
        for s in syms[:200]:
            out.append(MarkPrice(s, 100.0 + r, 100.0, 100.0, 0.0001, t + 3_600_000, now, now))
        for s in syms[:50]:
            out.append(Depth("futures", s, bids, asks, r, r - 1, now, now))
        if closed:
            for k in range(5):
                out.append(OrderUpdate(syms[k], r * 10 + k, "c", "BUY", "LIMIT", "FILLED", "TRADE", 1.0, 1.0, 1.0,
                                       1.0, 1.0, 1.0, 0.0, now, now, now))  # fmt: skip
        yield out
        r += 1


async def run_sink(url: str, n_events: int) -> tuple[float, int, int, int, int]:
    """(seconds, events offered, commands written, of which stream entries, dropped)."""
    async with aioredis.Redis.from_url(url) as r:
        await r.flushall()
    sink = RedisSink(url, max_pending=1_000_000, batch_max=BATCH)
    await sink.start()
    gen = rounds()
    tape: list[list[object]] = []
    offered = entries = 0
    while offered < n_events:  # made before the clock starts: only the sink is timed
        tape.append(next(gen))
        offered += len(tape[-1])
        entries += sum(isinstance(ev, OrderUpdate) or (isinstance(ev, Kline) and ev.closed) for ev in tape[-1])
    t = time.perf_counter()
    for batch in tape:
        for ev in batch:
            sink.offer(ev)
        await asyncio.sleep(0)
    assert await sink.flush(60)
    dt = time.perf_counter() - t
    st = sink.stats
    await sink.stop()
    return dt, offered, st.written, entries, st.dropped


async def run_bare(url: str, n_set: int, n_xadd: int) -> float:
    """The same number of SET and XADD commands with pre-encoded values, pipelines of BATCH."""
    ks = KeySpace("bare")
    gen = rounds()
    sets: list[tuple[str, bytes, int | None]] = []  # rendered before the clock starts
    adds: list[Append] = []
    while len(sets) < 5_000 or len(adds) < 500:
        for ev in next(gen):
            for c in ks.commands(ev):
                if isinstance(c, Put):
                    sets.append((c.key, c.value, c.ttl_ms))
                else:
                    adds.append(c)
    async with aioredis.Redis.from_url(url) as r:
        await r.flushall()
        total = n_set + n_xadd
        xadd_every = total / max(1, n_xadd)
        t = time.perf_counter()
        done = si = ai = 0
        while done < total:
            pipe = r.pipeline(transaction=False)
            for j in range(min(BATCH, total - done)):
                if n_xadd and (done + j) % xadd_every < 1 and ai < n_xadd:
                    a = adds[ai % len(adds)]
                    pipe.xadd(a.key, dict(a.fields), maxlen=1000, approximate=True)
                    ai += 1
                else:
                    key, value, ttl = sets[si % len(sets)]
                    pipe.set(key, value, px=ttl)
                    si += 1
            await pipe.execute()
            done += BATCH
        return time.perf_counter() - t


async def redis_benchmark(port: int) -> float | None:
    exe = shutil.which("redis-benchmark")
    if exe is None:
        return None
    proc = await asyncio.create_subprocess_exec(exe, "-p", str(port), "-P", "64", "-t", "set", "-n", "500000", "-q",
                                                stdout=asyncio.subprocess.PIPE)  # fmt: skip
    out = (await proc.communicate())[0].decode()
    m = re.search(r"SET: ([\d.]+) requests per second", out)
    return float(m.group(1)) if m else None


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    exe = shutil.which("redis-server")
    if exe is None:
        raise SystemExit("redis-server not found: install it with `apt-get install redis-server`")
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        proc = await asyncio.create_subprocess_exec(
            exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", tmp,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        try:
            url = f"redis://127.0.0.1:{port}/0"
            for _ in range(500):
                try:
                    async with aioredis.Redis.from_url(url) as r:
                        await r.ping()
                    break
                except (OSError, RedisError):
                    await asyncio.sleep(0.01)
            sink_ev, sink_cmd, bare_cmd, ratios = [], [], [], []
            for _ in range(args.runs):
                dt, offered, written, n_xadd, dropped = await run_sink(url, args.events)
                assert dropped == 0
                n_set = written - n_xadd
                bare_dt = await run_bare(url, n_set, n_xadd)
                sink_ev.append(offered / dt)
                sink_cmd.append(written / dt)
                bare_cmd.append((n_set + n_xadd) / bare_dt)
                ratios.append(sink_cmd[-1] / bare_cmd[-1])
            bench = await redis_benchmark(port)
        finally:
            proc.terminate()
            await proc.wait()
    med = statistics.median
    print(f"RedisSink: {med(sink_ev):,.0f} events/s offered, {med(sink_cmd):,.0f} commands/s written "
          f"(SET+XADD acknowledged, after coalescing)")  # fmt: skip
    print(f"bare redis-py pipeline loop: {med(bare_cmd):,.0f} commands/s (same SET/XADD counts, pipelines of {BATCH})")
    print(f"ratio sink / bare (commands/s): median {med(ratios):.2f} (runs: {', '.join(f'{x:.2f}' for x in ratios)})")
    if bench is not None:
        print(f"redis-benchmark -P 64 -t set: {bench:,.0f} SET/s (the server's ceiling, C client)")


if __name__ == "__main__":
    asyncio.run(main())
