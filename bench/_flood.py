"""The server side of ``bench/ingest.py``: the sim, in its own process, flooding kline frames (not a test).

It is the real simulator assembly (``build_context`` + ``build_app``: aiohttp WebSocket handshake, the
``Session`` answering SUBSCRIBE frames, pings on Binance's schedule) with one change, a :class:`FloodHub`:
once a combined-stream connection has subscribed to every tape stream, each publisher tick (1 ms) tops its
socket's write buffer up to ``target_bytes`` with pre-framed bytes from a :class:`~_common.KlineTape`.
The bytes are exactly what the sim's hub would write for those payloads (``hub.combined_frame``), but no
per-message Python runs on the server, so it can outrun any Python client; flow control replaces the
sim's slow-consumer disconnect, so the client always has data waiting and is never dropped.

``GET /bench/stats`` reports frames and bytes written, publisher ticks, ticks that found a flooded socket's
buffer empty (the client may have waited for the server: if that share is near zero, the server is not the
bottleneck) and the process CPU time, so the parent can print the server-side rates of each window.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, cast

from aiohttp import web

from _common import KlineTape, pin_to_cpu, symbols
from cryptoscan.sim.hub import Conn, Hub
from cryptoscan.sim.options import SimOptions
from cryptoscan.sim.server import build_app, build_context
from cryptoscan.venues.binance.spec import Venue

DEFAULT_TARGET_BYTES = 4 << 20


class Catalog:
    """A StreamSource that knows the tape's streams and emits nothing: the FloodHub sends the data."""

    def __init__(self, streams: list[str]) -> None:
        self.streams = frozenset(streams)

    def knows(self, venue: Venue, stream: str) -> bool:
        return venue is Venue.SPOT and stream in self.streams

    def poll(self, now_ms: int, wanted: object) -> list[tuple[Venue, str, bytes]]:
        return []


class _Flow:
    __slots__ = ("block", "chunk")

    def __init__(self) -> None:
        self.block = memoryview(b"")
        self.chunk = 0


class FloodHub(Hub):
    """The sim's hub plus a flow-controlled flood of tape frames to fully subscribed connections."""

    def __init__(self, ctx: Any, tape: KlineTape, target_bytes: int = DEFAULT_TARGET_BYTES) -> None:
        super().__init__(ctx)
        self.tape = tape
        self.target_bytes = target_bytes
        self._want = frozenset(tape.streams)
        self._flows: dict[str, _Flow] = {}
        self._checked: dict[str, int] = {}  # conn id -> session version already found incomplete
        self._bar = 0
        self.frames = 0
        self.bytes = 0
        self.ticks = 0
        self.starved = 0

    def remove(self, conn: Conn) -> None:
        self._flows.pop(conn.id, None)
        self._checked.pop(conn.id, None)
        super().remove(conn)

    def tick(self) -> int:
        n = super().tick()  # pings, faults, control replies: the sim as it is
        for conn in self.conns.values():
            if not conn.live:
                continue
            flow = self._flows.get(conn.id)
            if flow is None:
                version = conn.session.version
                if self._checked.get(conn.id) == version:
                    continue
                self._checked[conn.id] = version
                if not (conn.session.combined and self._want <= set(conn.session.delivered())):
                    continue
                flow = self._flows[conn.id] = _Flow()
            self._top_up(conn, flow)
        return n

    def _top_up(self, conn: Conn, flow: _Flow) -> None:
        tr = conn.transport
        size = tr.get_write_buffer_size()
        self.ticks += 1
        if size == 0:
            self.starved += 1
        chunks = self.tape.chunks
        while size < self.target_bytes and not tr.is_closing():
            if flow.chunk >= len(chunks) or not flow.block:
                flow.block = memoryview(self.tape.bar(self._bar))
                self._bar += 1
                flow.chunk = 0
            start, end, frames = chunks[flow.chunk]
            flow.chunk += 1
            tr.write(cast(bytes, flow.block[start:end]))  # a memoryview: no copy of the tape
            self.frames += frames
            self.bytes += end - start
            conn.sent += frames
            size = tr.get_write_buffer_size()

    async def stats(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "frames": self.frames,
                "bytes": self.bytes,
                "ticks": self.ticks,
                "starved": self.starved,
                "cpu_s": time.process_time(),
                "t": time.perf_counter(),
            }
        )


async def serve(n_symbols: int, updates: int, target_bytes: int) -> None:
    """Run the flooding sim until killed; prints its URL, then the CPU it is pinned to."""
    cpu = pin_to_cpu(1)
    tape = KlineTape(symbols(n_symbols), updates)
    options = SimOptions(tick_ms=1, streams_per_connection=1024)
    ctx = build_context(options, source=Catalog(tape.streams), market=cast(Any, object()))  # REST unused
    hub = FloodHub(ctx, tape, target_bytes)
    app = build_app(ctx, hub)
    app.router.add_get("/bench/stats", hub.stats)
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    print(f"http://127.0.0.1:{port} {cpu} {tape.mean_frame_bytes:.0f} {tape.frames_per_bar}", flush=True)
    publisher = asyncio.get_running_loop().create_task(hub.run())
    try:
        await asyncio.Event().wait()
    finally:
        publisher.cancel()
        await runner.cleanup()
