"""The composition root: the only module that wires config, clock, feed and market together.

The CLI calls these functions; nothing below ``app`` imports it. What lives here:

- :func:`feed_settings` / :func:`build_aggregator`: typed config (``data_aggregator``, ``bot``, ``scanner``,
  ``exchange``) mapped onto the aggregator's :class:`FeedSettings`, in one place so every key has one meaning;
- :func:`run_feed`: start the aggregator, run until SIGINT/SIGTERM (or a duration, or a body that ends), then
  stop it gracefully: sockets closed, queued never-drop events delivered, consumers drained;
- :func:`sim_feed_overrides`: watchdog margins for an accelerated ``cryptoscan sim``, which thins its snapshot
  streams to one message per ``snapshot_min_real_ms`` of real time.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from cryptoscan.alerts.delivery import AlertDispatcher
from cryptoscan.alerts.records import AlertRecord, Record
from cryptoscan.alerts.service import AlertService
from cryptoscan.backtest.alert_replay import rules_from
from cryptoscan.backtest.tracking import Tracker
from cryptoscan.clock import Clock, LiveClock
from cryptoscan.config import ConfigError, Settings
from cryptoscan.config_scanner import ScannerConfig
from cryptoscan.events import Kline
from cryptoscan.feed.aggregator import BinanceWebSocketAggregator, FeedSettings
from cryptoscan.feed.status import FeedStatus
from cryptoscan.log import get_logger
from cryptoscan.scanner.live import LiveScanner
from cryptoscan.scanner.probability import ProbabilityModel
from cryptoscan.scanner.result import ScanResult
from cryptoscan.sinks.redis.sink import RedisSink
from cryptoscan.sinks.store.backend import open_backend
from cryptoscan.sinks.store.sink import StoreSink

if TYPE_CHECKING:
    from cryptoscan.web.options import DashboardOptions
    from cryptoscan.web.server import Dashboard

log = get_logger(__name__)

STOP_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM)

Body = Callable[[BinanceWebSocketAggregator], Awaitable[None]]


def feed_settings(settings: Settings, exchange_url: str | None = None) -> FeedSettings:
    """Config -> FeedSettings. ``exchange_url`` (a CLI flag) wins over ``exchange.url``.

    Not mapped (no aggregator knob uses them yet): ``use_websockets``, ``ping_interval`` (the connection's
    ping cadence follows Binance's rules), ``update_interval``, ``ticker_cache_duration``.
    """
    agg = settings.data_aggregator
    return FeedSettings(
        exchange_url=exchange_url if exchange_url is not None else settings.exchange.url,
        max_workers=agg.max_workers,
        chunk_size=agg.chunk_size,
        min_volume_24h=agg.min_volume_24h,
        min_price_change=agg.min_price_change,
        max_pairs=agg.max_pairs,
        klines_buffer_size=agg.klines_buffer_size,
        max_reconnections=agg.max_reconnections,
        analyze_all_usdt_pairs=settings.bot.analyze_all_usdt_pairs,
        trading_pairs=tuple(settings.bot.trading_pairs),
        intervals=(settings.scanner.interval,),
        api_key=settings.exchange.api_key,
    )


def build_aggregator(
    settings: Settings,
    exchange_url: str | None = None,
    clock: Clock | None = None,
    **overrides: Any,
) -> BinanceWebSocketAggregator:
    """The aggregator as the config describes it; ``overrides`` set any other FeedSettings field."""
    fs = feed_settings(settings, exchange_url)
    for key, value in overrides.items():
        if not hasattr(fs, key):
            raise TypeError(f"unknown feed setting {key!r}")
        setattr(fs, key, value)
    return BinanceWebSocketAggregator(
        fs.max_workers, fs.chunk_size, fs.min_volume_24h, fs.max_pairs, settings=fs, clock=clock
    )


def build_scanner(
    agg: BinanceWebSocketAggregator,
    settings: Settings,
    clock: Clock | None = None,
    probability: ProbabilityModel | None = None,
) -> LiveScanner:
    """The scanner on ``agg`` as the config describes it, attached (call before ``agg.start()``)."""
    if probability is None:
        probability = fitted_probability(settings.scanner)
    scanner = LiveScanner(
        agg, settings.scanner, update_interval_s=settings.data_aggregator.update_interval, clock=clock or agg.clock,
        probability=probability,
    )  # fmt: skip
    scanner.attach()
    return scanner


def fitted_probability(cfg: ScannerConfig) -> ProbabilityModel | None:
    """The model of ``scanner.probability.model``, or None (the heuristic): none configured, or a model whose
    file says it did not beat the heuristic out of sample. A file that cannot be used is a config error."""
    path = cfg.probability.model
    if path is None:
        return None
    from cryptoscan.backtest.fitted import ModelError, load_model

    try:
        model = load_model(path, cfg.probability, interval=cfg.interval)
    except ModelError as exc:
        raise ConfigError(f"scanner.probability.model: {exc}") from None
    if model.spec.get("default") != "fitted":
        log.warning("fitted probability not used: it did not beat the heuristic out of sample", model=str(path))
        return None
    log.info("probability: fitted model", model=str(path), kind=model.spec.get("kind"))
    return model


def build_alerts(settings: Settings, scanner: LiveScanner) -> AlertService | None:
    """The alert service on ``scanner`` as the ``alerts`` section describes it, or None when disabled.

    Rules follow the scanner's clock (market time against an accelerated sim); delivery keeps real time so
    rate limits and retries stay real. Raises ConfigError naming ``alerts.urls[i]`` for a URL apprise rejects.
    """
    a = settings.alerts
    if not a.enabled:
        return None
    dashboard = a.dashboard_url or f"http://{settings.dashboard.host}:{settings.dashboard.port}"
    rules = rules_from(a, settings.scanner.interval)
    try:
        dispatcher = AlertDispatcher(a.urls, LiveClock(), rate_per_min=a.rate_per_min, burst=a.burst,
                                     retries=a.retries, queue_size=a.queue_size, timeout_s=a.timeout_s)  # fmt: skip
    except ValueError as exc:  # a URL apprise does not accept, already phrased without its secret
        raise ConfigError(str(exc)) from None
    service = AlertService(rules, dispatcher, clock=scanner.clock, dashboard_url=dashboard,
                           target_pct=settings.scanner.probability.target_pct)  # fmt: skip
    scanner.add_listener(service.listener)
    return service


def build_store(settings: Settings, agg: BinanceWebSocketAggregator, scanner: LiveScanner) -> StoreSink | None:
    """The store sink as the ``store`` section describes it, attached to ``agg`` (closed klines, sampled
    tickers) and ``scanner`` (the rows each pass shows); None when disabled. Not started."""
    st = settings.store
    if not st.enabled:
        return None
    sink = StoreSink(
        open_backend(st.url.get_secret_value(), pg_schema=st.pg_schema), clock=agg.clock,
        ticker_sample_s=st.ticker_sample_s, flush_interval_s=st.flush_interval_s, batch_rows=st.batch_rows,
        max_klines=st.max_klines, max_rows=st.max_rows,
    )  # fmt: skip
    sink.attach(agg)
    scanner.add_listener(lambda result: sink.offer_scan(result.snapshot()))
    return sink


async def run_scanner_with_store(
    agg: BinanceWebSocketAggregator, scanner: LiveScanner, alerts: AlertService | None, store: StoreSink | None
) -> None:
    """The body of a scanning run once ``agg`` started: the history the feed loaded (which it keeps in its
    state without publishing) goes to the store first, then the scanner runs."""
    if store is not None:
        await store.offer_market((await agg.get_market_snapshot()).values())
    await run_scanner(scanner, alerts)


def build_tracker(settings: Settings, agg: BinanceWebSocketAggregator, scanner: LiveScanner,
                  store: StoreSink | None) -> Tracker:  # fmt: skip
    """Live tracking: each alert's outcome (+target within 4 h and 24 h, from the closed klines the feed
    delivers), resolved at most once a market minute after a scan pass, into the store's ``outcomes`` table."""
    interval = settings.scanner.interval
    tracker = Tracker(interval, target_pct=settings.scanner.probability.target_pct)

    def on_kline(k: Kline) -> None:
        if k.closed and k.interval == interval:
            tracker.on_kline(k.venue, k.symbol, k.open_time, k.high, k.low, k.close)

    agg.register_kline_callback(on_kline)
    last = [0]

    def on_scan(result: ScanResult) -> None:
        if result.ts_ms - last[0] < 60_000 or not tracker.pending:
            return
        last[0] = result.ts_ms
        for o in tracker.resolve(result.ts_ms):
            if store is not None:
                store.offer_outcome((o.ts_ms, o.venue, o.symbol, o.level, o.horizon_h, o.entry, o.hit,
                                     o.max_gain_pct, o.max_drawdown_pct, o.time_to_hit_ms, o.resolved_ms))  # fmt: skip

    scanner.add_listener(on_scan)
    return tracker


def keep_alert_records(alerts: AlertService | None, store: StoreSink | None, redis: RedisSink | None = None,
                       tracker: Tracker | None = None) -> None:  # fmt: skip
    """Every alert and every delivery result into the store (table ``alerts``: an alert under its kind, a
    delivery under ``delivery:{channel}``) and onto the Redis stream ``alerts``, as they are recorded; each
    alert also into live tracking."""
    if alerts is None or (store is None and redis is None and tracker is None):
        return
    pairs: dict[str, tuple[str, str]] = {}  # alert id -> (venue, symbol), for the deliveries that follow

    def on_record(record: Record) -> None:
        doc = msgspec.to_builtins(record)
        if isinstance(record, AlertRecord):
            if len(pairs) > 10_000:
                pairs.clear()
            pair = (record.venue, record.symbol)
            # A digest carries several pairs under one notification id: its deliveries belong to no one pair.
            pairs[record.notification_id] = pair if pairs.get(record.notification_id, pair) == pair else ("", "")
            venue, symbol, level, kind, text = record.venue, record.symbol, record.level, record.kind, record.message
            if tracker is not None:
                tracker.on_alert(record.ts_ms, venue, symbol, level, record.price)
        else:
            venue, symbol = pairs.get(record.alert_id, ("", ""))
            level, kind = "", f"delivery:{record.channel}"
            text = "delivered" if record.ok else f"failed: {record.error}"
        if store is not None:
            store.offer_alert(record.ts_ms, venue, symbol, level, kind, text, doc)
        if redis is not None:
            redis.append("alerts", {"type": "alert" if isinstance(record, AlertRecord) else "delivery",
                                    "data": msgspec.json.encode(doc).decode()})  # fmt: skip

    alerts.log.on_record = on_record


@contextlib.asynccontextmanager
async def serving_dashboard(
    settings: Settings,
    agg: BinanceWebSocketAggregator,
    scanner: LiveScanner,
    alerts: AlertService | None,
    options: DashboardOptions | None,
    announce: Callable[[str], None] | None = None,
    *,
    tracker: Tracker | None = None,
) -> AsyncIterator[Dashboard | None]:
    """The web dashboard over this pipeline while inside the block (nothing when ``options`` is None).

    Started before the feed, so a page shows start-up too; ``announce`` gets its URL. Alert links point at it
    unless ``alerts.dashboard_url`` says otherwise. ``tracker``: live precision per level on the main page and
    at ``/api/tracking``, next to the backtest report's (``options.backtest_report``). Raises OSError when the
    port cannot be bound.
    """
    if options is None:
        yield None
        return
    from cryptoscan.web.server import Dashboard  # FastAPI and uvicorn load only when asked for
    from cryptoscan.web.source import PipelineSource

    source = PipelineSource(agg, scanner, alerts.log if alerts is not None else None,
                            settings.scanner.probability.target_pct, tracker=tracker,
                            backtest_report=options.backtest_report)  # fmt: skip
    dashboard = Dashboard(source, options)
    await dashboard.start()
    if alerts is not None and settings.alerts.dashboard_url is None:
        alerts.dashboard_url = dashboard.url
    if announce is not None:
        announce(dashboard.url)
    try:
        yield dashboard
    finally:
        await dashboard.stop()


def build_redis_sink(settings: Settings, clock: Clock | None = None) -> RedisSink:
    """The Redis sink as the ``redis`` section describes it (not started)."""
    r = settings.redis
    return RedisSink(
        r.url.get_secret_value(), r.prefix, clock=clock, max_pending=r.max_pending,
        flush_interval_s=r.flush_interval_ms / 1000, batch_max=r.batch_max, timeout_s=r.timeout_s,
    )  # fmt: skip


def publish_scans(sink: RedisSink, ttl_s: float) -> Callable[[ScanResult], None]:
    """A scanner listener writing each pass to Redis: ``scanner:latest`` (the whole snapshot) and
    ``scanner:{venue}:{symbol}`` (each row shown), both expiring after ``ttl_s``."""

    def publish(result: ScanResult) -> None:
        snap = result.snapshot()
        sink.put_json("scanner:latest", snap, ttl_s)
        for rows in snap.levels.values():
            for row in rows:
                sink.put_json(f"scanner:{row.venue}:{row.symbol.lower()}", row, ttl_s)

    return publish


def sim_feed_overrides(speed: float, snapshot_min_real_ms: int = 250) -> dict[str, int]:
    """Watchdog margins (clock ms) for a sim running at ``speed``.

    Above speed 1 the sim sends each snapshot stream (mini tickers, open klines, ...) at most once per
    ``snapshot_min_real_ms`` real ms, i.e. ``snapshot_min_real_ms * speed`` market ms apart: the grace and the
    connection silence limit must be a few of those gaps, or healthy streams would look stale.
    """
    gap = snapshot_min_real_ms * speed if speed > 1 else 0
    return {"stale_grace_ms": max(5_000, round(4 * gap)), "silence_ms": max(30_000, round(8 * gap))}


@contextlib.contextmanager
def stop_on_signals(stop: asyncio.Event, signals: Sequence[signal.Signals] = STOP_SIGNALS) -> Iterator[asyncio.Event]:
    """Set ``stop`` on SIGINT/SIGTERM while inside the block (the loop's handlers, removed on exit)."""
    loop = asyncio.get_running_loop()
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    try:
        yield stop
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)


async def run_scanner(scanner: LiveScanner, alerts: AlertService | None) -> None:
    """The scanner's loop, with the alert service (if any) started first and stopped (digest sent) last."""
    if alerts is None:
        await scanner.run()
        return
    await alerts.start()
    try:
        await scanner.run()
    finally:
        await alerts.stop()


async def run_feed(
    agg: BinanceWebSocketAggregator,
    *,
    body: Body | None = None,
    duration: float | None = None,
    stop: asyncio.Event | None = None,
) -> FeedStatus:
    """Start ``agg``, run until a stop, stop it gracefully; returns the final status.

    A stop is SIGINT/SIGTERM, ``duration`` real seconds passing, or ``body(agg)`` returning. Signal handlers
    are installed here unless the caller passes its own ``stop`` event (and then owns the signals).
    A stop during start-up (discovery, history) interrupts it; the aggregator is stopped all the same.
    """
    if stop is None:
        own = asyncio.Event()
        with stop_on_signals(own):
            return await _run(agg, body, duration, own)
    return await _run(agg, body, duration, stop)


async def _run(
    agg: BinanceWebSocketAggregator, body: Body | None, duration: float | None, stop: asyncio.Event
) -> FeedStatus:
    stopper = asyncio.ensure_future(stop.wait())
    work = asyncio.ensure_future(_start_then(agg, body))
    try:
        await asyncio.wait({stopper, work}, timeout=duration, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
        work.cancel()
        results = await asyncio.gather(stopper, work, return_exceptions=True)
        try:
            # Close the backfiller first: closed, its loop ends by itself, whatever a closing connection
            # adds meanwhile (it once waited with asyncio.wait_for, which on Python 3.11 swallows a
            # cancellation; every such wait now goes through aio.wait_event).
            await agg.backfiller.close()
            await agg.stop()
        finally:
            status = await agg.get_connection_status()
            log.info("feed stopped", messages=status.messages, reconnects=status.reconnects,
                     backfilled_klines=status.backfilled_klines)  # fmt: skip
    failure = results[1]
    if isinstance(failure, BaseException) and not isinstance(failure, asyncio.CancelledError):
        raise failure
    return status


async def _start_then(agg: BinanceWebSocketAggregator, body: Body | None) -> None:
    await agg.start()
    status = await agg.get_connection_status()
    log.info("feed started", pairs=status.streaming_pairs, connections=len(status.connections))
    if body is not None:
        await body(agg)
    else:
        await asyncio.Event().wait()  # until stopped


__all__ = [
    "STOP_SIGNALS",
    "build_aggregator",
    "build_alerts",
    "build_redis_sink",
    "build_scanner",
    "build_store",
    "build_tracker",
    "feed_settings",
    "keep_alert_records",
    "publish_scans",
    "run_feed",
    "run_scanner",
    "run_scanner_with_store",
    "serving_dashboard",
    "sim_feed_overrides",
    "stop_on_signals",
]
