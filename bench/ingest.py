"""End-to-end ingest on one core against two ceilings measured in the same run (not a test).

The sim runs in a child process pinned to its own CPU (``bench/_flood.py``) and floods ONE combined-stream
connection with realistic kline_1m frames for 400 symbols (round robin, 29 open updates then one closed
kline per symbol and bar; bars never repeat), as fast as the client reads. This process, pinned to another
CPU, runs three clients against that same stream, each subscribing with SUBSCRIBE frames:

* ``websockets``  bare ``websockets`` recv loop + ``msgspec.json.decode`` to dicts (ceiling 1),
* ``picows``      bare picows ``WSListener`` + ``msgspec.json.decode`` of each payload (ceiling 2),
* ``cryptoscan``  ``StreamConnection`` (picows transport, FrameParser) -> ``EventRouter`` -> ``MarketState``
  (kline rings) + ``Dispatcher`` with one counting kline callback, wired as in the aggregator; closed
  klines go straight to the consumer while it has room, else through the router's never-drop queue and pump.

For ``cryptoscan`` the reported figure is the router's rate: messages read from the socket, parsed into
typed events and routed. The connection hands the router all events of one socket read at once, and the
router coalesces forming klines per series within it: only the newest forming value of each series in that
read is applied to the market state and offered to the consumer (an older one would be overwritten in the
same instant); every closed kline is applied and offered. The dispatcher coalesces again per symbol for a
consumer that has not caught up (it gets the newest). So the callback sees fewer open klines than the
router counts, and every closed kline; the router's and the callback's rates and the share of messages
coalesced in the router are printed. Each client runs ``--runs`` windows of ``--seconds`` (interleaved: ws,
picows, cryptoscan, ws, ...), median reported, with the server's send rate, CPU use and the share of
publisher ticks that found the client's socket buffer empty in the same window.

    .venv/bin/python bench/ingest.py [--seconds 5] [--runs 3] [--symbols 400]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from importlib.metadata import version
from typing import Any

import aiohttp
import msgspec
import picows
from picows import WSFrame, WSListener, WSMsgType, WSTransport
from websockets.asyncio.client import connect

from _common import pin_to_cpu, symbols
from cryptoscan.clock import LiveClock
from cryptoscan.events import Kline
from cryptoscan.feed.connection import StreamConnection
from cryptoscan.feed.dispatch import Channel, Dispatcher
from cryptoscan.feed.gaps import GapTracker, KlineRequest
from cryptoscan.feed.lifecycle import Phase
from cryptoscan.feed.router import EventRouter
from cryptoscan.market.state import MarketState
from cryptoscan.venues.binance.parser import FrameParser
from cryptoscan.venues.binance.spec import Category, Venue

WARMUP_S = 0.5
NAMES_PER_FRAME = 150  # as the feed's pacer: SUBSCRIBE frames under 4 KiB


@dataclass
class Run:
    """One measured window of one client."""

    rate: float  # messages per second the client fully handled
    elapsed: float  # seconds the window lasted
    server_rate: float  # frames per second the server wrote in the same window
    server_cpu: float  # share of one CPU the server used
    starved: float  # share of publisher ticks that found the client's socket buffer empty
    extra: dict[str, float] = field(default_factory=dict)


class Server:
    """The flooding sim in a child process, and its stats endpoint."""

    def __init__(self, url: str, cpu: str, frame_bytes: str, session: aiohttp.ClientSession) -> None:
        self.url = url
        self.ws_url = url.replace("http://", "ws://", 1)
        self.cpu = cpu
        self.frame_bytes = frame_bytes
        self._session = session

    async def stats(self) -> dict[str, float]:
        async with self._session.get(self.url + "/bench/stats") as resp:
            data: dict[str, float] = await resp.json()
            return data


def subscribe_frames(streams: list[str]) -> list[bytes]:
    return [
        msgspec.json.encode({"method": "SUBSCRIBE", "params": streams[i : i + NAMES_PER_FRAME], "id": i + 1})
        for i in range(0, len(streams), NAMES_PER_FRAME)
    ]


async def measure(server: Server, seconds: float, count: Callable[[], int]) -> Run:
    """Wait for data, warm up, then count over one window while the server counts what it sent."""
    for _ in range(1000):  # bounded: 10 s for the first message
        if count() > 0:
            break
        await asyncio.sleep(0.01)
    else:
        raise RuntimeError("no data from the sim")
    await asyncio.sleep(WARMUP_S)
    s0 = await server.stats()
    c0, t0 = count(), time.perf_counter()
    await asyncio.sleep(seconds)
    c1, t1 = count(), time.perf_counter()
    s1 = await server.stats()
    dt = s1["t"] - s0["t"]
    ticks = max(1.0, s1["ticks"] - s0["ticks"])
    return Run(
        rate=(c1 - c0) / (t1 - t0),
        elapsed=t1 - t0,
        server_rate=(s1["frames"] - s0["frames"]) / dt,
        server_cpu=(s1["cpu_s"] - s0["cpu_s"]) / dt,
        starved=(s1["starved"] - s0["starved"]) / ticks,
    )


# --- ceiling 1: websockets ------------------------------------------------------------------------------


async def run_websockets(server: Server, streams: list[str], seconds: float) -> Run:
    decode = msgspec.json.Decoder().decode
    n = [0]
    async with connect(server.ws_url + "/stream", compression=None, ping_interval=None, max_size=None) as ws:
        for frame in subscribe_frames(streams):
            await ws.send(frame.decode())

        async def loop() -> None:
            recv = ws.recv
            while True:
                decode(await recv(decode=False))
                n[0] += 1

        task = asyncio.create_task(loop())
        try:
            return await measure(server, seconds, lambda: n[0])
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


# --- ceiling 2: picows ----------------------------------------------------------------------------------


class _Counting(WSListener):
    def __init__(self) -> None:
        self.n = 0
        self._decode = msgspec.json.Decoder().decode

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type is WSMsgType.TEXT:
            self._decode(frame.get_payload_as_memoryview())
            self.n += 1
        elif frame.msg_type is WSMsgType.CLOSE:
            transport.disconnect()


async def run_picows(server: Server, streams: list[str], seconds: float) -> Run:
    transport, listener = await picows.ws_connect(_Counting, server.ws_url + "/stream", max_frame_size=4 << 20)
    assert isinstance(listener, _Counting)
    try:
        for frame in subscribe_frames(streams):
            transport.send(WSMsgType.TEXT, frame)
        return await measure(server, seconds, lambda: listener.n)
    finally:
        transport.disconnect(graceful=False)
        await transport.wait_disconnected()


# --- cryptoscan end to end ------------------------------------------------------------------------------


async def run_cryptoscan(server: Server, streams: list[str], seconds: float) -> Run:
    markets = {Venue.SPOT: MarketState(Venue.SPOT, ("1m",), capacity=1000)}
    dispatcher = Dispatcher()
    wake = asyncio.Event()
    backfills: list[KlineRequest] = []
    holder: list[StreamConnection] = []

    def pause(paused: bool) -> None:  # the router's backpressure: stop reading while the consumer catches up
        for c in holder:
            c.pause_reading(paused)

    router = EventRouter(markets, dispatcher, GapTracker(), backfills.extend, pause, notify=wake.set)
    router.watch[Venue.SPOT] = frozenset(s.split("@")[0].upper() for s in streams)
    seen = [0, 0]  # open, closed klines the callback received

    def on_kline(k: Kline) -> None:
        seen[k.closed] += 1

    dispatcher.register(Channel.KLINE, on_kline, name="count")
    dispatcher.start()

    async def pump() -> None:  # the aggregator's pump: never-drop events into the dispatcher
        while True:
            await wake.wait()
            wake.clear()
            await router.pump()

    conn = StreamConnection(
        conn_id="bench",
        venue=Venue.SPOT,
        category=Category.SPOT,
        ws_base=server.ws_url,
        streams=streams,
        parser=FrameParser(Venue.SPOT),
        clock=LiveClock(),
        on_events=router.route,
        on_status=lambda status: None,
    )
    holder.append(conn)
    tasks = [asyncio.create_task(conn.run()), asyncio.create_task(pump())]
    stats = router.stats
    try:
        for _ in range(1000):
            if conn.phase is Phase.LIVE:
                break
            await asyncio.sleep(0.01)
        else:
            raise RuntimeError(f"connection not live: {conn.phase}")
        marks: list[tuple[int, int, int, int, int, int]] = []
        consumer = dispatcher.consumers()[0]

        def count() -> int:
            backlog = len(router.reliable) + consumer.depth
            marks.append((stats.events, seen[0], seen[1], stats.closed_klines, backlog, stats.coalesced_klines))
            return stats.events

        run = await measure(server, seconds, count)
        (e0, o0, k0, r0, b0, c0), (e1, o1, k1, r1, b1, c1) = marks[-2], marks[-1]  # the window's two readings
        dt = run.elapsed
        run.extra = {
            "callback": (o1 - o0 + k1 - k0) / dt,
            "closed_router": (r1 - r0) / dt,
            "closed_callback": (k1 - k0) / dt,
            "backlog_start": b0,
            "backlog_end": b1,
            "coalesced_share": (c1 - c0) / max(1, e1 - e0),
        }
        return run
    finally:
        await conn.close()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await dispatcher.stop(drain=False)
        if backfills or stats.duplicate_klines or router.markets[Venue.SPOT].rejected().get("gaps"):
            print(f"  note: {len(backfills)} backfill requests, {stats.duplicate_klines} duplicates", file=sys.stderr)


# --- main -----------------------------------------------------------------------------------------------

Client = Callable[[Server, list[str], float], Awaitable[Run]]
CLIENTS: dict[str, Client] = {"websockets": run_websockets, "picows": run_picows, "cryptoscan": run_cryptoscan}


def _k(x: float) -> str:
    return f"{x / 1e3:7.0f}k"


def _extra(x: dict[str, float]) -> str:
    if not x:
        return ""
    return (
        f"\n{'':14}callback {x['callback']:,.0f}/s; closed klines: router {x['closed_router']:,.0f}/s, "
        f"callback {x['closed_callback']:,.0f}/s; never-drop backlog {x['backlog_start']:,.0f} -> "
        f"{x['backlog_end']:,.0f}; forming klines coalesced within a read: {x['coalesced_share']:.0%} of messages"
    )


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--child",
        "--symbols",
        str(args.symbols),
        "--updates",
        str(args.updates),
        stdout=asyncio.subprocess.PIPE,
    )  # started before this process pins itself, so the child can take another CPU
    assert proc.stdout is not None
    line = (await proc.stdout.readline()).decode().split()
    cpu = pin_to_cpu(0)
    if not line:
        raise RuntimeError("the sim child did not start")
    streams = [f"{s.lower()}@kline_1m" for s in symbols(args.symbols)]
    results: dict[str, list[Run]] = {name: [] for name in CLIENTS}
    try:
        async with aiohttp.ClientSession() as session:
            server = Server(line[0], line[1], line[2], session)
            print(
                f"python {sys.version.split()[0]}, msgspec {version('msgspec')}, picows {version('picows')}, "
                f"websockets {version('websockets')}; client on CPU {cpu}, sim on CPU {server.cpu}"
            )
            print(
                f"{len(streams)} kline_1m streams on one connection, ~{server.frame_bytes}-byte frames, "
                f"{args.runs} x {args.seconds:g} s per client (median reported)"
            )
            for _ in range(args.runs):
                for name, client in CLIENTS.items():
                    run = await client(server, streams, args.seconds)
                    results[name].append(run)
                    more = _extra(run.extra)
                    print(
                        f"  {name:<11} {_k(run.rate)} msg/s   server sent {_k(run.server_rate)}/s, "
                        f"cpu {run.server_cpu:4.0%}, buffer empty {run.starved:5.1%} of ticks  {more}",
                        flush=True,
                    )
    finally:
        proc.terminate()
        await proc.wait()
    med = {name: statistics.median(r.rate for r in runs) for name, runs in results.items()}
    srv = {name: statistics.median(r.server_rate for r in runs) for name, runs in results.items()}
    cb = statistics.median(r.extra["callback"] for r in results["cryptoscan"])
    print()
    print(f"{'client':<12}{'msg/s (median)':>16}{'server sent/s':>16}")
    for name in CLIENTS:
        print(f"{name:<12}{med[name]:>16,.0f}{srv[name]:>16,.0f}")
    e2e = med["cryptoscan"]
    print(
        f"cryptoscan figure = messages through the router (socket -> typed event -> market state -> offered to "
        f"the callback;\nforming klines coalesced per series within each socket read, closed ones never);\n"
        f"callback deliveries {cb:,.0f}/s (forming klines coalesce per symbol by design)"
    )
    print(f"ceiling websockets {med['websockets']:,.0f} msg/s, ceiling picows {med['picows']:,.0f} msg/s")
    print(f"end-to-end / picows {e2e / med['picows']:.2f}   end-to-end / websockets {e2e / med['websockets']:.2f}")
    summary = {
        "websockets": round(med["websockets"]),
        "picows": round(med["picows"]),
        "cryptoscan": round(e2e),
        "cryptoscan_callback": round(cb),
        "e2e_over_picows": round(e2e / med["picows"], 3),
        "e2e_over_websockets": round(e2e / med["websockets"], 3),
    }
    print(json.dumps(summary))
    return summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--symbols", type=int, default=400)
    ap.add_argument("--updates", type=int, default=30, help="kline messages per symbol per bar (last one closed)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        from _flood import DEFAULT_TARGET_BYTES, serve

        asyncio.run(serve(args.symbols, args.updates, DEFAULT_TARGET_BYTES))
        return
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
