"""One simulated Binance market-stream connection, sans-I/O.

The WebSocket layer feeds it what the client sent (text, ping, pong) with the market time ``now_ms``
and calls :meth:`Session.tick` on a schedule; the session answers with actions (send text, send a
ping or pong, close). It owns the subscription set, Binance's control-frame protocol with its exact
result and error shapes, the incoming-message rate limit, the ping schedule with its pong deadline
and the connection lifetime. Nothing here touches a socket or a clock.

Error replies carry the shape Binance sends on the wire: ``{"error":{"code":2,"msg":"..."},"id":7}``.
"""

from __future__ import annotations

import enum
import json
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from cryptoscan.venues.binance.spec import LIMITS, Category, Venue, parse_stream


class State(enum.Enum):
    OPEN = "open"
    CLOSING = "closing"  # a close action was issued; nothing more is sent
    CLOSED = "closed"  # the transport is gone


_TRANSITIONS: dict[State, frozenset[State]] = {
    State.OPEN: frozenset({State.CLOSING, State.CLOSED}),
    State.CLOSING: frozenset({State.CLOSED}),
    State.CLOSED: frozenset(),
}


class IllegalTransition(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class SendText:
    text: str


@dataclass(frozen=True, slots=True)
class SendPing:
    payload: bytes


@dataclass(frozen=True, slots=True)
class SendPong:
    payload: bytes


@dataclass(frozen=True, slots=True)
class Close:
    code: int
    reason: str


Action = SendText | SendPing | SendPong | Close

CLOSE_GOING_AWAY = 1001
CLOSE_POLICY = 1008

METHODS = ("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "SET_PROPERTY", "GET_PROPERTY")
_METHOD_LIST = ", ".join(f"`{m}`" for m in METHODS)
_RATE_WINDOW_MS = 1000
_MAX_ID_LEN = 36


@dataclass(frozen=True, slots=True)
class SessionLimits:
    """The limits one connection lives under; all times are market milliseconds."""

    messages_per_second: int
    streams_per_connection: int
    ping_interval_ms: int
    pong_timeout_ms: int
    lifetime_ms: int

    @classmethod
    def for_venue(
        cls, venue: Venue, *, streams_per_connection: int | None = None, lifetime_ms: int | None = None
    ) -> SessionLimits:
        lim = LIMITS[venue]
        return cls(
            messages_per_second=lim.messages_per_second,
            streams_per_connection=streams_per_connection or lim.streams_per_connection,
            ping_interval_ms=lim.ping_interval_ms,
            pong_timeout_ms=lim.pong_timeout_ms,
            lifetime_ms=lifetime_ms or lim.lifetime_ms,
        )


ViolationSink = Callable[[str, str, int], None]


def error_text(code: int, msg: str, req_id: object = None) -> str:
    """Binance's error reply for a control frame."""
    return json.dumps({"error": {"code": code, "msg": msg}, "id": req_id}, separators=(",", ":"))


def result_text(result: object, req_id: object) -> str:
    return json.dumps({"result": result, "id": req_id}, separators=(",", ":"))


def shutdown_payload(now_ms: int) -> str:
    return json.dumps({"e": "serverShutdown", "E": now_ms}, separators=(",", ":"))


def routes_to(venue: Venue, category: Category, stream: str) -> bool:
    """Does a stream's data reach a connection on this path? Futures routes by category (2026)."""
    if venue is Venue.SPOT:
        return True
    parsed = parse_stream(stream)
    if parsed is None:  # diff depth and other names the spec does not parse live on /public
        return category is Category.PUBLIC if "@depth" in stream else category is Category.MARKET
    return parsed.category is category


class _BadRequest(Exception):
    def __init__(self, code: int, msg: str) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg


def _valid_id(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -(2**63) <= value < 2**63
    return isinstance(value, str) and len(value) <= _MAX_ID_LEN and value.isalnum()


class Session:
    """The protocol state of one market-stream connection."""

    def __init__(
        self,
        venue: Venue,
        category: Category,
        limits: SessionLimits,
        now_ms: int,
        *,
        knows: Callable[[str], bool],
        combined: bool = False,
        streams: Iterable[str] = (),
        on_violation: ViolationSink | None = None,
        control_frames: bool = True,
    ) -> None:
        self.venue = venue
        self.category = category
        self.limits = limits
        self.combined = combined
        self.state = State.OPEN
        self.opened_ms = now_ms
        self.close_reason = ""
        self._knows = knows
        self._on_violation = on_violation
        self._control_frames = control_frames
        self._subs: dict[str, None] = dict.fromkeys(streams)
        self._incoming: deque[int] = deque()
        self._next_ping_ms = now_ms + limits.ping_interval_ms
        self._unanswered: dict[bytes, int] = {}  # ping payload -> sent at
        self._ping_seq = 0
        self.version = 0  # bumps whenever the set of delivered streams changes

    # --- lifecycle -----------------------------------------------------------------------------
    def _move(self, new: State) -> None:
        if new not in _TRANSITIONS[self.state]:
            raise IllegalTransition(f"{self.state.name} -> {new.name}")
        self.state = new

    def _close(self, code: int, reason: str) -> list[Action]:
        self._move(State.CLOSING)
        self.close_reason = reason
        return [Close(code, reason)]

    def transport_closed(self) -> None:
        """The socket is gone, whoever closed it."""
        if self.state is not State.CLOSED:
            self._move(State.CLOSED)

    @property
    def open(self) -> bool:
        return self.state is State.OPEN

    # --- subscriptions -------------------------------------------------------------------------
    @property
    def subscriptions(self) -> list[str]:
        return list(self._subs)

    def delivered(self) -> list[str]:
        """Subscribed streams whose data actually reach this path."""
        return [s for s in self._subs if routes_to(self.venue, self.category, s)]

    # --- incoming ------------------------------------------------------------------------------
    def _count_incoming(self, now_ms: int) -> list[Action]:
        q = self._incoming
        q.append(now_ms)
        while q and q[0] <= now_ms - _RATE_WINDOW_MS:
            q.popleft()
        if len(q) > self.limits.messages_per_second:
            detail = f"{len(q)} messages in 1 s on a {self.venue.value} connection"
            if self._on_violation is not None:
                self._on_violation("message_rate", detail, now_ms)
            return self._close(CLOSE_POLICY, "Too many messages")
        return []

    def receive_ping(self, payload: bytes, now_ms: int) -> list[Action]:
        if not self.open:
            return []
        return self._count_incoming(now_ms) or [SendPong(payload)]

    def receive_pong(self, payload: bytes, now_ms: int) -> list[Action]:
        if not self.open:
            return []
        closed = self._count_incoming(now_ms)
        if closed:
            return closed
        sent = self._unanswered.get(payload)
        if sent is not None:  # a matching pong answers this ping and every older one
            self._unanswered = {p: t for p, t in self._unanswered.items() if t > sent}
        return []

    def receive_text(self, text: str, now_ms: int) -> list[Action]:
        if not self.open:
            return []
        closed = self._count_incoming(now_ms)
        if closed:
            return closed
        if not self._control_frames:
            return []
        try:
            request = json.loads(text)
        except ValueError as exc:
            line, col = getattr(exc, "lineno", 1), getattr(exc, "colno", 1)
            return [SendText(error_text(3, f"Invalid JSON: expected value at line {line} column {col}"))]
        req_id = request.get("id") if isinstance(request, dict) else None
        if not _valid_id(req_id):
            return [SendText(error_text(2, "Invalid request: request ID must be an unsigned integer"))]
        try:
            result = self._control(request, len(text), now_ms)
        except _BadRequest as bad:
            return [SendText(error_text(bad.code, bad.msg, req_id))]
        return [SendText(result_text(result, req_id))]

    def _control(self, request: object, length: int, now_ms: int) -> object:
        if not isinstance(request, dict):
            raise _BadRequest(2, f"Invalid request: expected a JSON object at line 1 column {length}")
        method = request.get("method")
        if method is None:
            raise _BadRequest(2, f"Invalid request: missing field `method` at line 1 column {length}")
        if method not in METHODS:
            raise _BadRequest(
                2,
                f"Invalid request: unknown variant `{method}`, expected one of {_METHOD_LIST}"
                f" at line 1 column {length}",
            )
        params = request.get("params", [])
        if not isinstance(params, list):
            raise _BadRequest(2, "Invalid request: params must be an array")
        if method == "SUBSCRIBE":
            self._subscribe(params, now_ms)
            return None
        if method == "UNSUBSCRIBE":
            self._unsubscribe(params)
            return None
        if method == "LIST_SUBSCRIPTIONS":
            if params:
                raise _BadRequest(2, "Invalid request: too many parameters")
            return self.subscriptions
        return self._property(method, params)

    @staticmethod
    def _stream_names(params: list[object]) -> list[str]:
        if not params or not all(isinstance(p, str) for p in params):
            raise _BadRequest(2, "Invalid request: invalid stream")
        return [str(p) for p in params]

    def _subscribe(self, params: list[object], now_ms: int) -> None:
        names = self._stream_names(params)
        unknown = [n for n in names if not self._knows(n)]
        if unknown:
            raise _BadRequest(2, "Invalid request: invalid stream")
        new = [n for n in dict.fromkeys(names) if n not in self._subs]
        limit = self.limits.streams_per_connection
        if len(self._subs) + len(new) > limit:
            if self._on_violation is not None:
                detail = f"{len(self._subs) + len(new)} streams requested, limit {limit}"
                self._on_violation("streams_per_connection", detail, now_ms)
            raise _BadRequest(2, f"Invalid request: too many streams; current limit is {limit}")
        self._subs.update(dict.fromkeys(new))
        if new:
            self.version += 1

    def _unsubscribe(self, params: list[object]) -> None:
        names = self._stream_names(params)
        removed = [n for n in names if self._subs.pop(n, 0) is None]
        if removed:
            self.version += 1

    def _property(self, method: str, params: list[object]) -> object:
        if not params or not isinstance(params[0], str):
            raise _BadRequest(2, "Invalid request: property name must be a string")
        if params[0] != "combined":
            raise _BadRequest(0, "Unknown property")
        if method == "GET_PROPERTY":
            if len(params) > 1:
                raise _BadRequest(2, "Invalid request: too many parameters")
            return self.combined
        if len(params) != 2:
            raise _BadRequest(2, "Invalid request: too many parameters" if params else "missing value")
        if not isinstance(params[1], bool):
            raise _BadRequest(1, "Invalid value type: expected Boolean")
        self.combined = params[1]
        return None

    # --- timers --------------------------------------------------------------------------------
    def next_deadline(self) -> int:
        """The earliest market time at which :meth:`tick` has something to do."""
        deadlines = [self._next_ping_ms, self.opened_ms + self.limits.lifetime_ms]
        if self._unanswered:
            deadlines.append(min(self._unanswered.values()) + self.limits.pong_timeout_ms)
        return min(deadlines)

    def tick(self, now_ms: int, *, pings: bool = True) -> list[Action]:
        """Pings on schedule, the pong deadline and the lifetime. ``pings=False`` during a stall."""
        if not self.open:
            return []
        if now_ms >= self.opened_ms + self.limits.lifetime_ms:
            return self.shutdown(now_ms, "Connection lifetime reached")
        if self._unanswered and now_ms >= min(self._unanswered.values()) + self.limits.pong_timeout_ms:
            if self._on_violation is not None:
                self._on_violation("pong_timeout", f"no pong for {self.limits.pong_timeout_ms} ms", now_ms)
            return self._close(CLOSE_POLICY, "Pong timeout")
        actions: list[Action] = []
        if now_ms >= self._next_ping_ms:
            self._next_ping_ms = now_ms + self.limits.ping_interval_ms
            if pings:
                self._ping_seq += 1
                payload = str(self._ping_seq).encode()
                self._unanswered[payload] = now_ms
                actions.append(SendPing(payload))
        return actions

    def shutdown(self, now_ms: int, reason: str = "Server shutdown") -> list[Action]:
        """serverShutdown (wrapped as ``!serverShutdown`` when combined), then close with 1001."""
        if not self.open:
            return []
        payload = shutdown_payload(now_ms)
        if self.combined:
            payload = f'{{"stream":"!serverShutdown","data":{payload}}}'
        return [SendText(payload), *self._close(CLOSE_GOING_AWAY, reason)]

    def close(self, code: int, reason: str) -> list[Action]:
        """A close the server decides on (faults, graceful stop)."""
        return self._close(code, reason) if self.open else []
