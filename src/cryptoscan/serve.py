"""``cryptoscan serve``: the market-data service. One process owns the exchange sockets; the aggregator and
the scanner write through the Redis sink, and any number of consumers (analyzers, listeners, dashboards,
other bots) read Redis instead of opening their own connections to Binance.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cryptoscan.app import (
    build_aggregator,
    build_alerts,
    build_redis_sink,
    build_scanner,
    build_store,
    build_tracker,
    keep_alert_records,
    publish_scans,
    run_feed,
    run_scanner_with_store,
    serving_dashboard,
)
from cryptoscan.clock import Clock
from cryptoscan.config import Settings
from cryptoscan.feed.aggregator import BinanceWebSocketAggregator
from cryptoscan.log import get_logger
from cryptoscan.sinks.redis.sink import SinkStats

if TYPE_CHECKING:
    from cryptoscan.web.options import DashboardOptions

log = get_logger(__name__)


async def run_serve(
    settings: Settings,
    *,
    exchange_url: str | None = None,
    clock: Clock | None = None,
    duration: float | None = None,
    stop: asyncio.Event | None = None,
    dashboard: DashboardOptions | None = None,
    announce: Callable[[str], None] | None = None,
    **feed_overrides: Any,
) -> SinkStats:
    """Aggregator + scanner + Redis sink until a signal or ``duration``; returns the sink's final counters.

    The sink starts first (a Redis that is down is not an error: writes buffer and the sink reconnects)
    and stops last, so every event the aggregator delivered while stopping is still written. ``dashboard``:
    the web UI too, its URL handed to ``announce``.
    """
    agg = build_aggregator(settings, exchange_url, clock, **feed_overrides)
    scanner = build_scanner(agg, settings, clock)
    alerts = build_alerts(settings, scanner)
    store = build_store(settings, agg, scanner)
    sink = build_redis_sink(settings, agg.clock)
    sink.attach(agg)
    tracker = build_tracker(settings, agg, scanner, store)
    keep_alert_records(alerts, store, sink, tracker)
    scanner.add_listener(publish_scans(sink, ttl_s=max(60.0, 5 * settings.data_aggregator.update_interval)))

    async def body(_: BinanceWebSocketAggregator) -> None:
        await run_scanner_with_store(agg, scanner, alerts, store)

    await sink.start()
    if store is not None:
        await store.start()
    try:
        async with serving_dashboard(settings, agg, scanner, alerts, dashboard, announce, tracker=tracker):
            await run_feed(agg, body=body, duration=duration, stop=stop)
    finally:
        await sink.stop()
        if store is not None:
            await store.stop()
        s = sink.stats
        log.info("redis sink stopped", written=s.written, dropped=s.dropped, pending=s.pending,
                 reconnects=s.reconnects)  # fmt: skip
    return sink.stats
