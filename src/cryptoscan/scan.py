"""``cryptoscan scan``: the aggregator and the scanner, in a live terminal view or as one JSON snapshot; with the
web dashboard instead of (``cryptoscan dashboard``) or beside (``cryptoscan demo``) the terminal view.

The feed is built exactly as any run builds it (``app.build_aggregator`` and ``app.build_scanner``); the view
starts before the aggregator so discovery and history loading show as progress bars.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rich import get_console
from rich.console import Console
from rich.live import Live

from cryptoscan.app import (
    build_aggregator,
    build_alerts,
    build_scanner,
    build_store,
    build_tracker,
    keep_alert_records,
    run_feed,
    run_scanner_with_store,
    serving_dashboard,
)
from cryptoscan.clock import Clock, LiveClock
from cryptoscan.config import Settings
from cryptoscan.feed.aggregator import BinanceWebSocketAggregator
from cryptoscan.scanner.live import Listener
from cryptoscan.scanner.result import ScanSnapshot
from cryptoscan.terminal import ScanView

if TYPE_CHECKING:
    from cryptoscan.web.options import DashboardOptions
    from cryptoscan.web.server import Dashboard


async def run_scan(
    settings: Settings,
    *,
    exchange_url: str | None = None,
    clock: Clock | None = None,
    duration: float | None = None,
    once: bool = False,
    console: Console | None = None,
    stop: asyncio.Event | None = None,
    title: str = "cryptoscan scan",
    on_result: Listener | None = None,
    dashboard: DashboardOptions | None = None,
    terminal: bool = True,
    announce: Callable[[str], None] | None = None,
    on_dashboard: Callable[[Dashboard], None] | None = None,
    **feed_overrides: Any,
) -> ScanSnapshot | None:
    """Scan until a signal or ``duration`` (live view), or once (no view); returns the last snapshot.

    ``dashboard``: the web UI too (not with ``once``), its URL handed to ``announce`` (default: printed on the
    console) and the running :class:`Dashboard` to ``on_dashboard``; ``terminal=False``: no terminal view (the
    ``dashboard`` command).
    """
    agg = build_aggregator(settings, exchange_url, clock, **feed_overrides)
    scanner = build_scanner(agg, settings, clock)
    alerts = None if once else build_alerts(settings, scanner)  # one pass alerts nobody: nothing held yet
    store = None if once else build_store(settings, agg, scanner)
    tracker = None if once else build_tracker(settings, agg, scanner, store)
    keep_alert_records(alerts, store, tracker=tracker)
    if on_result is not None:
        scanner.add_listener(on_result)
    if once:
        out: list[ScanSnapshot] = []

        async def one(_: BinanceWebSocketAggregator) -> None:
            await scanner.prime()
            out.append(scanner.scan_now().snapshot())

        await run_feed(agg, body=one, duration=duration, stop=stop)
        return out[0] if out else None

    async def body(_: BinanceWebSocketAggregator) -> None:
        await run_scanner_with_store(agg, scanner, alerts, store)

    say = announce or (lambda url: (console or get_console()).print(f"dashboard: {url}", highlight=False))
    async with serving_dashboard(settings, agg, scanner, alerts, dashboard, say, tracker=tracker) as web:
        if on_dashboard is not None and web is not None:
            on_dashboard(web)
        if store is not None:
            await store.start()
        if not terminal:
            try:
                await run_feed(agg, body=body, duration=duration, stop=stop)
            finally:
                if store is not None:
                    await store.stop()
        else:
            title = title if web is None else f"{title}  dashboard {web.url}"
            with Live(console=console, auto_refresh=False, transient=False) as live:
                view = ScanView(live, agg, scanner, LiveClock(), title)
                drawer = asyncio.ensure_future(view.loop())
                try:
                    await run_feed(agg, body=body, duration=duration, stop=stop)
                finally:
                    drawer.cancel()
                    await asyncio.gather(drawer, return_exceptions=True)
                    if store is not None:
                        await store.stop()  # after the aggregator: what it delivered while stopping is written too
                    await view.draw()  # the final picture, after the graceful stop
    return scanner.latest.snapshot() if scanner.latest is not None else None
