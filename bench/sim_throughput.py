"""How many messages per second ``cryptoscan sim`` sustains to ONE connection (not a test).

The sim runs in a child process with a flood source (one aggTrade-sized message stream at a fixed
rate); this process reads with a bare ``websockets`` client and counts. Each offered rate runs for a
few seconds; the sim disconnects a client that cannot keep up (as Binance does), which shows as
"dropped". The raw loopback ceiling is measured the same way: a plain asyncio server writing the
same pre-framed bytes as fast as it can, read by a plain socket reader that only counts bytes.

    .venv/bin/python bench/sim_throughput.py [--seconds 3] [--rates 50000,100000,200000,400000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Collection, Mapping

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from cryptoscan.sim.faults import text_frame
from cryptoscan.sim.options import SimOptions
from cryptoscan.sim.server import SimServer
from cryptoscan.venues.binance.spec import Venue

STREAM = "btcusdt@aggTrade"
TEMPLATE = (
    '{{"e":"aggTrade","E":{E},"s":"BTCUSDT","a":{a},"p":"43210.12000000","q":"0.01500000",'
    '"f":{a},"l":{a},"T":{E},"m":false,"M":true}}'
)


class FloodSource:
    """One stream at ``rate`` messages per second of market time."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.seq = 0
        self.last: int | None = None

    def knows(self, venue: Venue, stream: str) -> bool:
        return stream == STREAM

    def poll(self, now_ms: int, wanted: Mapping[Venue, Collection[str]]) -> list[tuple[Venue, str, bytes]]:
        if STREAM not in wanted.get(Venue.SPOT, ()):
            self.last = None
            return []
        if self.last is None:
            self.last = now_ms
            return []
        n = (now_ms - self.last) * self.rate // 1000
        if n <= 0:
            return []
        self.last += n * 1000 // self.rate
        out = []
        for _ in range(n):
            self.seq += 1
            out.append((Venue.SPOT, STREAM, TEMPLATE.format(E=now_ms, a=self.seq).encode()))
        return out


class _NoMarket:
    pass


async def child(rate: int) -> None:
    options = SimOptions(tick_ms=10)
    async with SimServer(options, source=FloodSource(rate), market=_NoMarket()) as sim:
        print(sim.url, flush=True)
        await asyncio.Event().wait()


async def measure_sim(rate: int, seconds: float) -> tuple[float, bool]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--child", str(rate), stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None
    url = (await proc.stdout.readline()).decode().strip()
    dropped = False
    count = 0
    try:
        async with connect(
            url.replace("http", "ws", 1) + f"/ws/{STREAM}", ping_interval=None, compression=None, max_queue=None
        ) as ws:
            await ws.recv()  # warm up
            t0 = time.perf_counter()
            try:
                while time.perf_counter() - t0 < seconds:
                    await ws.recv()
                    count += 1
            except ConnectionClosed:
                dropped = True
            elapsed = time.perf_counter() - t0
    finally:
        proc.terminate()
        await proc.wait()
    return count / elapsed, dropped


async def measure_raw(seconds: float) -> float:
    frame = text_frame(TEMPLATE.format(E=1_700_000_000_000, a=123456789).encode())
    chunk = frame * 2000

    async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            writer.close()

    server = await asyncio.start_server(pump, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    total = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        total += len(await reader.read(1 << 20))
    elapsed = time.perf_counter() - t0
    writer.close()
    server.close()
    return total / len(frame) / elapsed


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--rates", default="50000,100000,200000,400000")
    ap.add_argument("--child", type=int, default=0)
    args = ap.parse_args()
    if args.child:
        await child(args.child)
        return
    frame_len = len(text_frame(TEMPLATE.format(E=1_700_000_000_000, a=123456789).encode()))
    print(f"one connection, {frame_len}-byte frames, {args.seconds:.0f} s per rate")
    best = 0.0
    for rate in (int(r) for r in args.rates.split(",")):
        got, dropped = await measure_sim(rate, args.seconds)
        best = max(best, got) if not dropped else best
        note = "  (client too slow: disconnected as a slow consumer)" if dropped else ""
        print(f"offered {rate:>8,} msg/s -> received {got:>10,.0f} msg/s{note}")
    raw = await measure_raw(args.seconds)
    print(f"sustained by the sim: {best:,.0f} msg/s")
    print(f"raw loopback ceiling (plain socket, bytes counted, no WebSocket parsing): {raw:,.0f} msg/s")
    print(json.dumps({"sim_msgs_per_s": round(best), "raw_msgs_per_s": round(raw)}))


if __name__ == "__main__":
    asyncio.run(main())
