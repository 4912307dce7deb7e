"""Silence detection: per stream from its expected cadence, and per connection from any data at all.

Driven by: :meth:`Watchdog.watch` / :meth:`Watchdog.unwatch` as streams land on or leave a connection,
:meth:`Watchdog.on_message` for every data message (connection id, stream name, ``now`` in ms), and
:meth:`Watchdog.check` on a timer. Returns: a :class:`StaleReport` with the streams and connections that are
silent at ``now`` (the caller resubscribes a stale stream, or reconnects a stale connection);
:meth:`Watchdog.next_deadline` says when the answer can next change.

A stream with cadence ``c`` ms (``spec.stream_cadence_ms``: kline 2000 spot / 250 futures, tickers 1000...)
is stale after ``multiple * c + grace_ms`` without a message; Binance pushes klines every cadence while the
market trades, so silence there is a real stall. Real-time streams (cadence 0: trade, bookTicker) are only
watched if ``realtime_idle_ms`` is set, since a quiet symbol may legitimately trade rarely. A connection is
stale after ``silence_ms`` with no data message on any of its streams.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from cryptoscan.venues.binance.spec import Venue, parse_stream, stream_cadence_ms


@dataclass(frozen=True, slots=True)
class StaleReport:
    streams: tuple[str, ...]
    connections: tuple[str, ...]

    def __bool__(self) -> bool:
        return bool(self.streams or self.connections)


@dataclass(slots=True)
class _Watched:
    connection_id: str
    limit_ms: int | None  # None: not watched on its own
    last: int


class Watchdog:
    def __init__(
        self,
        venue: Venue,
        *,
        multiple: float = 3.0,
        grace_ms: int = 5_000,
        silence_ms: int = 30_000,
        realtime_idle_ms: int | None = None,
    ) -> None:
        self.venue = venue
        self.multiple = multiple
        self.grace_ms = grace_ms
        self.silence_ms = silence_ms
        self.realtime_idle_ms = realtime_idle_ms
        self._streams: dict[str, _Watched] = {}
        self._conn_last: dict[str, int] = {}

    def limit_ms(self, stream: str) -> int | None:
        """How long ``stream`` may stay silent before it counts as stale; None if it is not watched alone."""
        parsed = parse_stream(stream)
        if parsed is None:
            return None
        cadence = stream_cadence_ms(self.venue, parsed)
        if cadence == 0:
            return self.realtime_idle_ms
        return round(self.multiple * cadence) + self.grace_ms

    def watch(self, connection_id: str, streams: Iterable[str], now: int) -> None:
        """Start watching ``streams`` on ``connection_id`` (their clock starts at ``now``)."""
        self._conn_last.setdefault(connection_id, now)
        for s in streams:
            self._streams[s] = _Watched(connection_id, self.limit_ms(s), now)

    def unwatch(self, streams: Iterable[str]) -> None:
        for s in streams:
            self._streams.pop(s, None)

    def forget_connection(self, connection_id: str) -> None:
        self._conn_last.pop(connection_id, None)
        for s in [s for s, w in self._streams.items() if w.connection_id == connection_id]:
            del self._streams[s]

    def restart(self, connection_id: str, now: int) -> None:
        """A fresh socket for this connection: every clock starts again at ``now``."""
        self._conn_last[connection_id] = now
        for w in self._streams.values():
            if w.connection_id == connection_id:
                w.last = now

    def on_message(self, connection_id: str, stream: str | None, now: int) -> None:
        """A data message arrived (``stream`` None for raw, un-named payloads: only the connection is fed)."""
        self._conn_last[connection_id] = now
        if stream is not None:
            w = self._streams.get(stream)
            if w is not None and w.connection_id == connection_id:
                w.last = now

    def check(self, now: int) -> StaleReport:
        streams = sorted(s for s, w in self._streams.items() if w.limit_ms is not None and now - w.last > w.limit_ms)
        conns = sorted(c for c, last in self._conn_last.items() if now - last > self.silence_ms)
        return StaleReport(tuple(streams), tuple(conns))

    def next_deadline(self, now: int) -> int | None:
        """The earliest time after ``now`` a currently healthy stream or connection could turn stale."""
        times = [w.last + w.limit_ms + 1 for w in self._streams.values() if w.limit_ms is not None]
        times.extend(last + self.silence_ms + 1 for last in self._conn_last.values())
        future = [t for t in times if t > now]
        return min(future) if future else None
