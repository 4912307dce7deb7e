"""What the feed reports about itself: ``get_connection_status()`` and the same figures as Prometheus metrics.

Built on demand from the live objects (connections, router, backfiller, dispatcher, parsers), so there is no
second copy of any counter to keep in sync.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from cryptoscan.feed.aggregator import BinanceWebSocketAggregator


@dataclass(frozen=True, slots=True)
class ConnectionReport:
    connection_id: str
    venue: str
    category: str
    state: str  # CONNECTED / RECONNECTING / DISCONNECTED / THROTTLED
    phase: str  # CONNECTING / SUBSCRIBING / LIVE / STALE / BACKOFF / CLOSED
    streams: int
    messages: int
    reconnects: int
    last_message_ms: int | None


@dataclass(frozen=True, slots=True)
class FeedStatus:
    now_ms: int
    uptime_s: float
    active_connections: int
    streaming_pairs: dict[str, int]  # venue -> selected pairs
    connections: tuple[ConnectionReport, ...]
    messages: int
    messages_per_s: float  # since start
    lag_ms_p50: float | None  # exchange event time -> our socket read, real ms
    lag_ms_p99: float | None
    reconnects: int
    duplicate_klines: int
    agg_trade_gaps: int
    open_kline_holes: int
    backfilled_klines: int
    backfill_requests: int
    parse_errors: dict[str, int]
    dropped: int  # coalesced or dropped by consumers' bounded queues
    consumer_errors: int
    coalesced_klines: int = 0  # forming klines superseded within one socket read (applied once, by design)


def build_status(agg: BinanceWebSocketAggregator) -> FeedStatus:
    now = agg.clock.now_ms()
    reports = []
    messages = reconnects = 0
    for cid, conn in agg.connections.items():
        st = conn.stats
        messages += st.messages
        reconnects += st.reconnects
        reports.append(
            ConnectionReport(
                cid,
                conn.venue.value,
                conn.category.value,
                str(st.link_state),
                str(st.phase),
                len(conn.streams),
                st.messages,
                st.reconnects,
                st.last_message_ms,
            )
        )
    # Lag is a real-time quantity: under a ScaledClock (the sim at --speed N) samples are market ms, N times
    # too large, so they are divided by the clock's speed.
    speed = float(getattr(agg.clock, "speed", 1.0))
    lags = np.fromiter(agg.router.stats.lag_samples, dtype=np.float64) / speed
    p50, p99 = (float(np.percentile(lags, 50)), float(np.percentile(lags, 99))) if lags.size else (None, None)
    errors: dict[str, int] = {}
    for parser in agg.parsers.values():
        for kind, n in parser.errors.counts.items():
            errors[kind] = errors.get(kind, 0) + n
    consumers = agg.dispatcher.stats()
    uptime = max((now - agg._started_ms) / 1000, 1e-9)
    rs = agg.router.stats
    holes = agg.gaps.open_holes()
    return FeedStatus(
        now_ms=now,
        uptime_s=uptime,
        active_connections=sum(1 for r in reports if r.state == "CONNECTED"),
        streaming_pairs={v.value: len(s.symbols) for v, s in agg.selections.items()},
        connections=tuple(reports),
        messages=messages,
        messages_per_s=messages / uptime,
        lag_ms_p50=p50,
        lag_ms_p99=p99,
        reconnects=reconnects,
        duplicate_klines=rs.duplicate_klines,
        coalesced_klines=rs.coalesced_klines,
        agg_trade_gaps=rs.agg_trade_gaps,
        open_kline_holes=holes,
        backfilled_klines=rs.backfilled_klines,
        backfill_requests=agg.backfiller.counters.requests,
        parse_errors=errors,
        dropped=sum(c.dropped + c.coalesced for c in consumers),
        consumer_errors=sum(c.errors for c in consumers),
    )


class FeedCollector(Collector):
    """Prometheus view of :func:`build_status`: register with a ``CollectorRegistry``."""

    def __init__(self, agg: BinanceWebSocketAggregator) -> None:
        self.agg = agg

    def collect(self) -> Iterator[Metric]:
        s = build_status(self.agg)
        g = GaugeMetricFamily("cryptoscan_feed_connections", "Connections by state", labels=["state"])
        for state in ("CONNECTED", "RECONNECTING", "DISCONNECTED", "THROTTLED"):
            g.add_metric([state], sum(1 for c in s.connections if c.state == state))
        yield g
        pairs = GaugeMetricFamily("cryptoscan_feed_pairs", "Pairs streaming", labels=["venue"])
        for venue, n in s.streaming_pairs.items():
            pairs.add_metric([venue], n)
        yield pairs
        yield CounterMetricFamily("cryptoscan_feed_messages", "Events routed", value=s.messages)
        yield CounterMetricFamily("cryptoscan_feed_reconnects", "Reconnections", value=s.reconnects)
        yield CounterMetricFamily("cryptoscan_feed_backfilled_klines", "Klines backfilled", value=s.backfilled_klines)
        yield CounterMetricFamily("cryptoscan_feed_duplicate_klines", "Duplicates dropped", value=s.duplicate_klines)
        yield CounterMetricFamily("cryptoscan_feed_coalesced_klines", "Forming klines superseded within a socket read",
                                  value=s.coalesced_klines)  # fmt: skip
        yield CounterMetricFamily("cryptoscan_feed_agg_trade_gaps", "aggTrade id gaps", value=s.agg_trade_gaps)
        yield CounterMetricFamily("cryptoscan_feed_dropped", "Dropped or coalesced by consumers", value=s.dropped)
        errors = CounterMetricFamily("cryptoscan_feed_parse_errors", "Bad frames by kind", labels=["kind"])
        for kind, n in s.parse_errors.items():
            errors.add_metric([kind], n)
        yield errors
        lag = GaugeMetricFamily("cryptoscan_feed_lag_ms", "Exchange-to-local lag", labels=["quantile"])
        if s.lag_ms_p50 is not None and s.lag_ms_p99 is not None:
            lag.add_metric(["0.5"], s.lag_ms_p50)
            lag.add_metric(["0.99"], s.lag_ms_p99)
        yield lag
