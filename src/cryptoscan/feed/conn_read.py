"""The read path of :class:`~cryptoscan.feed.connection.StreamConnection`: every frame of every socket.

The transport hands over the messages of one socket read at a time (a burst: hundreds under load, one when
quiet), and everything per-call is paid once per burst: one clock reading stamps ``ts_recv`` (the frames were
read together), the parser fills one reused list, and ``on_events`` gets the whole burst synchronously.

Per burst, besides parsing:

- control replies and ``serverShutdown`` notices only come off the parser's cold path, so the burst is searched
  for them only when the parser's ``cold`` count moved;
- the watchdog learns which streams spoke from the frames' first bytes (``{"stream":"<name>"``): the keys are
  gathered in a set and handed over as names at most every ``WATCH_EVERY_MS`` (and before every check or
  restart), stamped with the newest read's time: a stream may look up to that much fresher than it is,
  never staler, against limits of seconds;
- lag samples (``ts_recv - ts_event``) are taken from one event in 16; doubles are filtered during a rotation.

Nothing here awaits or raises: a bad frame is counted by the parser, an exception in ``on_events`` is counted
and logged (rate limited).
"""

from __future__ import annotations

from collections.abc import Callable
from operator import itemgetter
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
_KEY = len(_COMBINED) + 40  # a stream name shorter than 40 bytes ends inside the key: the key names it
_key_of = itemgetter(slice(0, _KEY))
_NAME_MAX = 200  # longer "stream names" are garbage
WATCH_EVERY_MS = 250


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
        self._parse_many = parser.parse_many
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
        self._names: dict[bytes, str] = {}  # frame key -> stream name ("": the key names no stream)
        self._heard: set[bytes] = set()  # frame keys of data frames since the watchdog was last told
        self._long_keys: set[bytes] = set()  # keys too short for their stream's name (none at Binance today)
        self._long: set[str] = set()  # names of such streams heard since the watchdog was last told
        self._heard_at = 0  # when the newest of them was read
        self._told_at = -WATCH_EVERY_MS

    def on_text(self, leg: Leg, data: bytes) -> None:
        self.on_texts(leg, [data])

    def on_texts(self, leg: Leg, frames: list[bytes]) -> None:
        """The messages of one socket read, in order."""
        if leg.dead or not frames:
            return
        now = self._clock.now_ms()
        st = self._stats
        st.frames += len(frames)
        st.bytes += sum(map(len, frames))
        out = self._buf
        parser = self._parser
        errors = self._errors
        bad, cold = errors.total, parser.cold
        self._parse_many(frames, now, out)  # ``out`` is empty here: what it holds came from this burst
        try:
            if errors.total != bad:
                st.parse_errors += errors.total - bad
            if parser.cold != cold:  # only the cold path yields control replies and shutdown notices
                self._cold(leg, out, now)
            if not out:
                return
            leg.last_data_ms = now
            st.last_message_ms = now
            self._watchdog.on_message(self.conn_id, None, now)
            self._heard.update(map(_key_of, frames))
            self._heard_at = now
            if self._long_keys:
                self._note_long(frames)
            if now - self._told_at >= WATCH_EVERY_MS:
                self.tell_watchdog(now)
            self._lags.add_events(out, now)
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

    def _cold(self, leg: Leg, out: list[Parsed], now: int) -> None:
        replies: list[Parsed] = [e for e in out if isinstance(e, ControlReply)]
        if replies:
            out[:] = [e for e in out if not isinstance(e, ControlReply)]
            self._on_replies(leg, replies, now)
        if any(isinstance(e, ServerShutdown) for e in out):
            self._on_shutdown(leg, now)

    def tell_watchdog(self, now: int) -> None:
        """Hand the streams heard since the last call to the watchdog, stamped with the newest read's time
        (so a stream may look fresher than it is by up to ``WATCH_EVERY_MS``, never staler)."""
        self._told_at = now
        dog, conn_id, names = self._watchdog, self.conn_id, self._names
        at = self._heard_at
        if len(names) > self._max_names():
            names.clear()  # names come from our subscriptions: only churn gets here
            self._long_keys.clear()
        for key in self._heard:
            name = names.get(key)
            if name is None:
                name = names[key] = self._learn(key)
            if name:
                dog.on_message(conn_id, name, at)
        self._heard.clear()
        for name in self._long:
            dog.on_message(conn_id, name, at)
        self._long.clear()

    def _learn(self, key: bytes) -> str:
        if not key.startswith(_COMBINED):
            return ""
        end = key.find(b'"', len(_COMBINED))
        if end < 0:
            self._long_keys.add(key)  # from now on its frames are read whole: _note_long
            return ""
        return key[len(_COMBINED) : end].decode("utf-8", "replace")

    def _note_long(self, frames: list[bytes]) -> None:
        start = len(_COMBINED)
        for f in frames:
            if f[:_KEY] in self._long_keys:
                end = f.find(b'"', start, start + _NAME_MAX)
                if end > 0:
                    self._long.add(f[start:end].decode("utf-8", "replace"))

    def on_ping(self, leg: Leg, payload: bytes) -> None:
        link = leg.link
        if link is None or leg.closed:
            return
        link.send_pong(payload)  # echo the payload: Binance matches pongs to pings
        leg.pacer.note_sent(self._clock.now_ms())  # pongs count toward the incoming-message limit
        self._stats.pongs += 1
