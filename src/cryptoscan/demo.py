"""``cryptoscan demo``: ``cryptoscan scan`` against the in-process local exchange at high speed.

It starts ``cryptoscan sim`` in-process, then runs the very scan a real user runs (``scan.run_scan``: the
configured aggregator and scanner, the live terminal view); only the exchange URL, a scaled clock, the sim's
watchdog margins and a shorter history differ. Within a few market hours the sim's pumps show up as MEDIA,
ALTA and FUERTE pairs. The command also serves the web dashboard beside the terminal view.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rich.console import Console

from cryptoscan.app import sim_feed_overrides, stop_on_signals
from cryptoscan.clock import LiveClock, ScaledClock
from cryptoscan.config import Settings
from cryptoscan.scan import run_scan
from cryptoscan.scanner.live import Listener
from cryptoscan.scanner.result import ScanSnapshot
from cryptoscan.sim.options import SimOptions

if TYPE_CHECKING:
    from cryptoscan.sim.server import SimServer
    from cryptoscan.web.options import DashboardOptions
    from cryptoscan.web.server import Dashboard

DEMO_HISTORY_BARS = 300  # 5 market hours of 1m bars: past the MACD signal's 150-bar warm-up, quick to load


async def run_demo(
    settings: Settings | None = None,
    *,
    speed: float = 60.0,
    seed: int = 7,
    duration: float | None = None,
    history_bars: int = DEMO_HISTORY_BARS,
    sim_options: SimOptions | None = None,
    console: Console | None = None,
    stop: asyncio.Event | None = None,
    on_result: Listener | None = None,
    on_sim: Callable[[SimServer], None] | None = None,
    dashboard: DashboardOptions | None = None,
    on_dashboard: Callable[[Dashboard], None] | None = None,
) -> ScanSnapshot | None:
    """Sim in-process, the configured scan against it, the live view; until a signal or ``duration``.

    SIGINT/SIGTERM handlers are installed before the sim starts (unless ``stop`` is given), so a signal at
    any point ends the run the same graceful way. ``on_sim`` sees the running sim (tests drive its control
    API). ``dashboard``: the web UI beside the terminal view (``on_dashboard`` sees it running). Returns the
    last scan snapshot.
    """
    from cryptoscan.sim.server import SimServer

    settings = settings or Settings()
    options = sim_options or SimOptions()
    options.seed, options.speed = seed, speed
    guard: contextlib.AbstractContextManager[object] = contextlib.nullcontext()
    if stop is None:
        stop = asyncio.Event()
        guard = stop_on_signals(stop)
    margins: dict[str, Any] = dict(sim_feed_overrides(speed, options.snapshot_min_real_ms))
    with guard:
        async with SimServer(options) as sim:
            if on_sim is not None:
                on_sim(sim)
            clock = ScaledClock(LiveClock(), speed, start_ms=sim.ctx.clock.now_ms())
            return await run_scan(
                settings, exchange_url=sim.url, clock=clock, duration=duration, console=console, stop=stop,
                title=f"cryptoscan demo (local exchange, {speed:g}x)", on_result=on_result, dashboard=dashboard,
                on_dashboard=on_dashboard, history_bars=history_bars, **margins,
            )  # fmt: skip
