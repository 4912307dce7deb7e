"""The read path of :class:`~cryptoscan.feed.connection.StreamConnection`: every frame of every socket.

Per frame: stamp ``ts_recv`` from the clock, parse into one reused list, hand control replies back to the
driver, feed the watchdog (stream name read from the combined envelope's first bytes), sample the lag, filter
doubles during a rotation, and call ``on_events`` synchronously. Nothing here awaits or raises: a bad frame is
counted by the parser, an exception in ``on_events`` is counted and logged (rate limited).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from cryptoscan.clock import Clock
from cryptoscan.events import ServerShutdown
from cryptoscan.feed.conn_parts import ConnStats, Reservoir
from cryptoscan.feed.conn_rotation import RotationState
from cryptoscan.feed.watchdog import Watchdog
from cryptoscan.venues.binance.parser import ControlReply, FrameParser, Parsed

if TYPE_CHECKING:
    from cryptoscan.feed.conn_parts import Leg

_COMBINED = b'{"stream":"'


class Reader:
    def __init__(
        self,
        conn_id: str,
        *,
        parser: FrameParser,
        clock: Clock,
        stats: ConnStats,
        lags: Reservoir,
        watchdog: Watchdog,
        rotation: RotationState,
        on_events: Callable[[list[Parsed]], None],
        on_replies: Callable[[Leg, list[Parsed], int], None],
        on_shutdown: Callable[[Leg, int], None],
        on_error: Callable[[str, Exception, int], None],
        max_names: Callable[[], int],
    ) -> None:
        self.conn_id = conn_id
        self._parser = parser
        self._errors = parser.errors
        self._clock = clock
        self._stats = stats
        self._lags = lags
        self._watchdog = watchdog
        self._rotation = rotation
        self._on_events = on_events
        self._on_replies = on_replies
        self._on_shutdown = on_shutdown
        self._on_error = on_error
        self._max_names = max_names
        self._buf: list[Parsed] = []
        self._names: dict[bytes, str] = {}

    def on_text(self, leg: Leg, data: bytes) -> None:
        if leg.dead:
            return
        now = self._clock.now_ms()
        st = self._stats
        st.frames += 1
        st.bytes += len(data)
        out = self._buf
        errors = self._errors
        before = errors.total
        self._parser.parse_into(data, now, out)  # ``out`` is empty here: what it holds came from this frame
        if not out:
            st.parse_errors += errors.total - before
            return
        try:
            first = out[0]
            if isinstance(first, ControlReply):
                self._on_replies(leg, out, now)
                return
            leg.last_data_ms = now
            st.last_message_ms = now
            if data.startswith(_COMBINED):
                key = data[11 : data.find(b'"', 11)]
                name = self._names.get(key)
                if name is None:
                    name = self._learn(key)
                self._watchdog.on_message(self.conn_id, name, now)
            else:
                self._watchdog.on_message(self.conn_id, None, now)
            self._lags.add(now - first.ts_event)
            if isinstance(first, ServerShutdown):
                self._on_shutdown(leg, now)
            if self._rotation.dedup is not None:
                self._rotation.filter(out)
                if not out:
                    return
            st.messages += len(out)
            try:
                self._on_events(out)
            except Exception as exc:
                self._on_error("on_events", exc, now)
        finally:
            out.clear()

    def _learn(self, key: bytes) -> str:
        if len(self._names) > self._max_names():
            self._names.clear()  # names come from our subscriptions: only churn gets here
        name = key.decode("utf-8", "replace")
        self._names[key] = name
        return name

    def on_ping(self, leg: Leg, payload: bytes) -> None:
        link = leg.link
        if link is None or leg.closed:
            return
        link.send_pong(payload)  # echo the payload: Binance matches pongs to pings
        leg.pacer.note_sent(self._clock.now_ms())  # pongs count toward the incoming-message limit
        self._stats.pongs += 1
