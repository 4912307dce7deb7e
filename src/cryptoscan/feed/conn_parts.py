"""Small parts of :class:`~cryptoscan.feed.connection.StreamConnection`: its stats, one socket ("leg"),
the URL rule and a rate-limited logger. Split out so the driver module stays about its control flow.
"""

from __future__ import annotations

import dataclasses
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cryptoscan.feed.pacer import Pacer
from cryptoscan.feed.shards import ConnectGate
from cryptoscan.feed.transport import DEFAULT_CONNECT_TIMEOUT_S, DEFAULT_MAX_FRAME_BYTES, Link, LinkHandler
from cryptoscan.feed.watchdog import Watchdog
from cryptoscan.venues.binance.spec import Category, Venue, futures_ws_path

if TYPE_CHECKING:
    from cryptoscan.feed.conn_read import Reader
    from cryptoscan.feed.connection import StreamConnection


def stream_url(ws_base: str, venue: Venue, category: Category) -> str:
    """The combined-stream endpoint: spot ``<base>/stream``, futures ``<base>/public|/market/stream``.

    No stream names in the URL: every socket subscribes with SUBSCRIBE frames (see the connection docstring).
    """
    base = ws_base.rstrip("/")
    if venue is Venue.SPOT:
        if category is not Category.SPOT:
            raise ValueError(f"spot has no {category.value} path")
        return f"{base}/stream"
    if category not in (Category.PUBLIC, Category.MARKET):
        raise ValueError(f"futures market streams live on /public or /market, not {category.value}")
    return f"{base}{futures_ws_path(category)}/stream"


Connector = Callable[[str, LinkHandler], Awaitable[Link]]
"""Opens a socket: ``connect_picows`` by default; tests and other transports plug in here."""


@dataclass(frozen=True, slots=True)
class ConnOptions:
    """Tuning of a StreamConnection; the defaults suit live Binance. Times are clock ms."""

    watchdog: Watchdog | None = None  # None: Watchdog(venue) with its defaults (30 s connection silence)
    pacer_rate: int | None = None  # control frames per second; None: 3 spot, 7 futures (limits 5 and 10)
    subscribe_frame_bytes: int = 4096  # SUBSCRIBE batch size (about 150 stream names)
    list_check_every_ms: int = 300_000  # LIST_SUBSCRIPTIONS check period
    subscribe_timeout_ms: int = 30_000  # SUBSCRIBING longer than this: reconnect
    handover_timeout_ms: int = 30_000  # a rotation replacement not LIVE by then is abandoned
    connect_gate: ConnectGate | None = None  # shared attempt limiter (one per venue and process)
    always_dedup: bool = False  # filter duplicate trades / klines at all times, not only while rotating
    lag_samples: int = 1024
    max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S  # real seconds: TCP + TLS + upgrade
    connector: Connector | None = None


@dataclass(slots=True)
class ConnStats:
    """Counters of one logical connection (both sockets during a rotation). Times are clock ms."""

    messages: int = 0  # events handed to on_events (after de-duplication)
    frames: int = 0  # text frames read, control replies and bad frames included
    bytes: int = 0
    connect_attempts: int = 0
    reconnects: int = 0  # primary socket lost (rotations are not counted here)
    rotations: int = 0  # a replacement socket took over
    gaps: int = 0  # on_gap calls
    last_message_ms: int | None = None
    phase: str = "CONNECTING"
    link_state: str = "RECONNECTING"
    lag_ms: list[int] = field(default_factory=list)  # reservoir of ts_recv - ts_event samples
    parse_errors: int = 0
    callback_errors: int = 0
    stale_streams: int = 0  # watchdog reports of single silent streams
    lost_streams: int = 0  # LIST_SUBSCRIPTIONS found them missing: subscribed again
    rejected_streams: int = 0  # SUBSCRIBE answered with an error
    control_sent: int = 0  # SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS frames
    control_errors: int = 0
    pongs: int = 0
    duplicates_dropped: int = 0
    last_failure: str = ""
    throttled_until_ms: int | None = None
    recoveries_ms: list[int] = field(default_factory=list)  # failure -> LIVE again, most recent last (bounded)

    def snapshot(self) -> ConnStats:
        return dataclasses.replace(self, lag_ms=list(self.lag_ms), recoveries_ms=list(self.recoveries_ms))


class Reservoir:
    """Uniform sample of a stream of ints in bounded memory (Vitter's algorithm R)."""

    def __init__(self, out: list[int], size: int, rand: random.Random) -> None:
        self.out = out
        self.size = size
        self.seen = 0
        self._rand = rand

    def add(self, value: int) -> None:
        self.seen += 1
        if self.seen & 15:  # one value in 16 is plenty for percentiles, and keeps randrange off the hot path
            return
        self._keep(value, self.seen >> 4)

    def add_events(self, events: Sequence[object], now: int) -> None:
        """``add(now - ts_event)`` for each event, with the same one-in-16 thinning, in one call per burst."""
        first = 15 - (self.seen & 15)  # the index of the next event ``add`` would keep
        k = (self.seen + first + 1) >> 4  # its rank among the kept ones
        self.seen += len(events)
        for ev in events[first::16]:
            self._keep(now - getattr(ev, "ts_event", now), k)
            k += 1

    def _keep(self, value: int, k: int) -> None:
        """Algorithm R for the ``k``-th thinned value (1-based)."""
        if len(self.out) < self.size:
            self.out.append(value)
            return
        j = self._rand.randrange(k)
        if j < self.size:
            self.out[j] = value


class RateLimitedLog:
    """Logs the first occurrence of each kind, then at most once per ``every_ms`` with a count."""

    def __init__(self, log: logging.Logger, every_ms: int = 60_000) -> None:
        self._log = log
        self.every_ms = every_ms
        self._last: dict[str, int] = {}
        self._suppressed: dict[str, int] = {}

    def __call__(self, kind: str, now: int, msg: str, *, exc: BaseException | None = None) -> None:
        last = self._last.get(kind)
        if last is not None and now - last < self.every_ms:
            self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
            return
        self._last[kind] = now
        n = self._suppressed.pop(kind, 0)
        suffix = f" ({n} more since last report)" if n else ""
        self._log.warning("%s%s", msg, suffix, exc_info=exc)


class Leg:
    """One socket of a logical connection, with its own Pacer (request ids and acknowledged streams are per
    socket). Implements :class:`~cryptoscan.feed.transport.LinkHandler` by forwarding to the connection."""

    __slots__ = (
        "closed",
        "conn",
        "dead",
        "label",
        "last_data_ms",
        "link",
        "live",
        "opened_at",
        "pacer",
        "reader",
        "retiring",
    )

    def __init__(self, conn: StreamConnection, reader: Reader, label: str, pacer: Pacer) -> None:
        self.conn = conn
        self.reader = reader
        self.label = label
        self.pacer = pacer
        self.link: Link | None = None
        self.opened_at: int | None = None
        self.last_data_ms: int | None = None
        self.live = False  # every SUBSCRIBE acknowledged once
        self.dead = False  # given up on: frames from it are ignored
        self.retiring = False  # closed on purpose (rotation done): its close is not a failure
        self.closed = False

    def on_open(self, link: Link) -> None:
        self.conn._on_open(self, link)

    def on_text(self, data: bytes) -> None:
        self.reader.on_texts(self, [data])

    def on_texts(self, batch: list[bytes]) -> None:
        self.reader.on_texts(self, batch)

    def on_ping(self, payload: bytes) -> None:
        self.reader.on_ping(self, payload)

    def on_closed(self, code: int | None, reason: str) -> None:
        self.closed = True
        self.conn._on_closed(self, code, reason)

    def __repr__(self) -> str:
        return f"Leg({self.label}, live={self.live}, dead={self.dead}, closed={self.closed})"
