"""``cryptoscan scan``: the aggregator and the scanner, in a live terminal view or as one JSON snapshot.

The feed is built exactly as any run builds it (``app.build_aggregator`` and ``app.build_scanner``); the view
starts before the aggregator so discovery and history loading show as progress bars.
"""

from __future__ import annotations

import asyncio
from typing import Any

from rich.console import Console
from rich.live import Live

from cryptoscan.app import (
    build_aggregator,
    build_alerts,
    build_scanner,
    build_store,
    keep_alert_records,
    run_feed,
    run_scanner_with_store,
)
from cryptoscan.clock import Clock, LiveClock
from cryptoscan.config import Settings
from cryptoscan.feed.aggregator import BinanceWebSocketAggregator
from cryptoscan.scanner.live import Listener
from cryptoscan.scanner.result import ScanSnapshot
from cryptoscan.terminal import ScanView


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
    **feed_overrides: Any,
) -> ScanSnapshot | None:
    """Scan until a signal or ``duration`` (live view), or once (no view); returns the last snapshot."""
    agg = build_aggregator(settings, exchange_url, clock, **feed_overrides)
    scanner = build_scanner(agg, settings, clock)
    alerts = None if once else build_alerts(settings, scanner)  # one pass alerts nobody: nothing held yet
    store = None if once else build_store(settings, agg, scanner)
    keep_alert_records(alerts, store)
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

    if store is not None:
        await store.start()
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
