"""Assembly of ``cryptoscan sim``: clock, market, stream source, account, faults, stats and the app.

``async with SimServer(options) as sim:`` listens on ``sim.url`` (``http://127.0.0.1:PORT``) and
stops cleanly on exit, closing every WebSocket with 1001. ``serve(options, ready)`` runs until
cancelled (the CLI). Parts can be handed in ready-made (``source=``, ``market=``, ``account=``), so
tests and benchmarks can drive the servers with a source of their own.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from aiohttp import web

from cryptoscan.clock import Clock, LiveClock, ScaledClock
from cryptoscan.sim import control
from cryptoscan.sim.context import SimContext
from cryptoscan.sim.faults import FaultInjector
from cryptoscan.sim.hub import DEFAULT_MAX_BUFFER_BYTES, Hub
from cryptoscan.sim.options import SimOptions, StreamSource
from cryptoscan.sim.stats import SimStats
from cryptoscan.sim.ws import WsRoutes

if TYPE_CHECKING:
    from cryptoscan.sim.account import Account
    from cryptoscan.sim.market import MarketModel


def build_context(
    options: SimOptions,
    *,
    base_clock: Clock | None = None,
    source: StreamSource | None = None,
    market: MarketModel | None = None,
    account: Account | None = None,
) -> SimContext:
    """Build every shared part of one run; parts handed in are used as they are."""
    base = base_clock or LiveClock()
    start_ms = options.start_ms if options.start_ms is not None else base.now_ms()
    clock = ScaledClock(base, options.speed, start_ms)
    stats = SimStats()
    if market is None:
        from cryptoscan.sim.market import MarketModel

        market = MarketModel(options.seed, start_ms, options.n_spot, options.n_futures)
    if source is None:
        if options.replay is not None:
            from cryptoscan.sim.replay import ReplaySource

            source = ReplaySource(options.replay, options.replay_speed)
        else:
            from cryptoscan.sim.streams import GeneratorSource

            floor = int(options.snapshot_min_real_ms * options.speed) if options.speed > 1 else 0
            source = GeneratorSource(market, start_ms, options.truth, snapshot_floor_ms=floor)
    if account is None:
        from cryptoscan.sim.account import Account

        account = Account(stats)
    faults = FaultInjector(options.faults, options.fault_seed, stats, start_ms)
    return SimContext(options, clock, market, source, account, faults, stats)


def build_app(ctx: SimContext, hub: Hub) -> web.Application:
    from cryptoscan.sim import rest

    app = web.Application()
    rest.add_routes(app, ctx)
    WsRoutes(ctx, hub).add_to(app)
    control.add_routes(app, ctx, hub)
    return app


class SimServer:
    """The local exchange as an async context manager."""

    def __init__(
        self,
        options: SimOptions | None = None,
        *,
        max_buffer_bytes: int = DEFAULT_MAX_BUFFER_BYTES,
        **parts: Any,
    ) -> None:
        self.options = options or SimOptions()
        self.ctx = build_context(self.options, **parts)
        self.hub = Hub(self.ctx, max_buffer_bytes=max_buffer_bytes)
        self.app = build_app(self.ctx, self.hub)
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._publisher: asyncio.Task[None] | None = None

    async def start(self) -> str:
        self._runner = web.AppRunner(self.app, handle_signals=False, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.options.host, self.options.port, reuse_address=True)
        try:
            await site.start()
        except BaseException:  # e.g. the port is taken: leave nothing behind, let the caller report it
            await self._runner.cleanup()
            self._runner = None
            raise
        port = self._runner.addresses[0][1]
        self.url = f"http://{self.options.host}:{port}"
        self._publisher = asyncio.get_running_loop().create_task(self.hub.run(), name="sim-publisher")
        return self.url

    async def stop(self) -> None:
        if self._publisher is not None:
            self._publisher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._publisher
            self._publisher = None
        await self.hub.close_all(1001, "Server shutting down")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def ws_url(self) -> str:
        return "ws" + self.url.removeprefix("http")

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()


async def serve(options: SimOptions, ready: Callable[[str], None] | None = None) -> None:
    """Run the simulator until cancelled; ``ready(url)`` once it listens."""
    async with SimServer(options) as sim:
        if ready is not None:
            ready(sim.url)
        await asyncio.Event().wait()
