"""aiohttp WebSocket handlers: the paths Binance serves, on one loopback base URL.

Spot: ``/ws``, ``/ws/<stream>[/<stream>...]`` (raw), ``/stream?streams=a/b/c`` (combined).
USD-M futures, routed by category: the same three forms under ``/public`` and ``/market``, and
``/private/ws?listenKey=<key>&events=ORDER_TRADE_UPDATE/ACCOUNT_UPDATE`` for user data.

A handshake over the connection-attempt limit gets HTTP 429; a handshake naming an unknown stream
or too many streams gets HTTP 400 with Binance's error body. Every incoming frame (text, binary,
ping, pong) goes to the connection's :class:`Session`, so each one counts toward the message rate.
Data frames are written by the hub straight to the transport.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable

from aiohttp import WSMsgType, web

from cryptoscan.sim.context import SimContext
from cryptoscan.sim.hub import Conn, Hub
from cryptoscan.sim.session import Session, SessionLimits
from cryptoscan.venues.binance.spec import Category, Venue

ATTEMPT_WINDOW_MS = 300_000
CLOSE_TIMEOUT_S = 5.0
MAX_INCOMING_BYTES = 1 << 20


class ConnectionAttempts:
    """Connection attempts per IP in a sliding 5-minute window of market time (sans-I/O)."""

    def __init__(self, limit: int, window_ms: int = ATTEMPT_WINDOW_MS) -> None:
        self.limit = limit
        self.window_ms = window_ms
        self._seen: dict[str, deque[int]] = {}

    def attempt(self, ip: str, now_ms: int) -> bool:
        """Record an attempt; False when it is over the limit."""
        q = self._seen.setdefault(ip, deque())
        while q and q[0] <= now_ms - self.window_ms:
            q.popleft()
        q.append(now_ms)
        while len(q) > self.limit + 1:  # keep the memory bounded; one over the limit is enough to know
            q.popleft()
        return len(q) <= self.limit


def _error(status: int, code: int, msg: str) -> web.Response:
    return web.json_response({"code": code, "msg": msg}, status=status)


class WsRoutes:
    """The WebSocket endpoints of one simulator run."""

    def __init__(self, ctx: SimContext, hub: Hub) -> None:
        self.ctx = ctx
        self.hub = hub
        self.attempts = ConnectionAttempts(ctx.options.connection_attempts_per_5m)

    def add_to(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/ws", self._raw(Venue.SPOT, Category.SPOT))
        r.add_get("/ws/{streams:.+}", self._raw(Venue.SPOT, Category.SPOT))
        r.add_get("/stream", self._combined(Venue.SPOT, Category.SPOT))
        for cat in (Category.PUBLIC, Category.MARKET):
            r.add_get(f"/{cat.value}/ws", self._raw(Venue.FUTURES, cat))
            r.add_get(f"/{cat.value}/ws/{{streams:.+}}", self._raw(Venue.FUTURES, cat))
            r.add_get(f"/{cat.value}/stream", self._combined(Venue.FUTURES, cat))
        r.add_get("/private/ws", self._private)

    # --- handshake -----------------------------------------------------------------------------
    def _raw(self, venue: Venue, cat: Category) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handler(request: web.Request) -> web.StreamResponse:
            text = request.match_info.get("streams", "")
            return await self._serve(request, venue, cat, False, [s for s in text.split("/") if s])

        return handler

    def _combined(self, venue: Venue, cat: Category) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handler(request: web.Request) -> web.StreamResponse:
            text = request.query.get("streams", "")
            return await self._serve(request, venue, cat, True, [s for s in text.split("/") if s])

        return handler

    def _admit(self, request: web.Request, now_ms: int) -> web.Response | None:
        ip = request.remote or "unknown"
        if not self.attempts.attempt(ip, now_ms):
            limit = self.attempts.limit
            self.ctx.stats.violation("connection_attempts", f"{ip}: over {limit} attempts in 5 min", now_ms)
            return _error(429, -1003, f"Too many connection attempts; current limit is {limit} per 5 minutes.")
        return None

    def _limits(self, venue: Venue) -> SessionLimits:
        o = self.ctx.options
        return SessionLimits.for_venue(
            venue, streams_per_connection=o.streams_per_connection, lifetime_ms=o.lifetime_ms
        )

    async def _serve(
        self, request: web.Request, venue: Venue, cat: Category, combined: bool, streams: list[str]
    ) -> web.StreamResponse:
        ctx = self.ctx
        now = ctx.clock.now_ms()
        refused = self._admit(request, now)
        if refused is not None:
            return refused
        streams = list(dict.fromkeys(streams))
        if any(not ctx.source.knows(venue, s) for s in streams):
            return _error(400, 2, "Invalid request: invalid stream")
        limits = self._limits(venue)
        if len(streams) > limits.streams_per_connection:
            detail = f"{len(streams)} streams in the URL, limit {limits.streams_per_connection}"
            ctx.stats.violation("streams_per_connection", detail, now)
            return _error(400, 2, f"Invalid request: too many streams; limit is {limits.streams_per_connection}")
        session = Session(
            venue,
            cat,
            limits,
            now,
            knows=lambda s: ctx.source.knows(venue, s),
            combined=combined,
            streams=streams,
            on_violation=ctx.stats.violation,
        )
        return await self._run(request, venue, session, None)

    async def _private(self, request: web.Request) -> web.StreamResponse:
        ctx = self.ctx
        now = ctx.clock.now_ms()
        refused = self._admit(request, now)
        if refused is not None:
            return refused
        key = request.query.get("listenKey", "")
        if not key or not ctx.account.is_valid(key, now):
            return _error(400, -1125, "This listenKey does not exist.")
        session = Session(
            Venue.FUTURES,
            Category.PRIVATE,
            self._limits(Venue.FUTURES),
            now,
            knows=lambda s: False,
            on_violation=ctx.stats.violation,
            control_frames=False,
        )
        return await self._run(request, Venue.FUTURES, session, key)

    # --- connection ----------------------------------------------------------------------------
    async def _run(
        self, request: web.Request, venue: Venue, session: Session, listen_key: str | None
    ) -> web.StreamResponse:
        ws = web.WebSocketResponse(
            autoping=False, compress=False, timeout=CLOSE_TIMEOUT_S, max_msg_size=MAX_INCOMING_BYTES
        )
        await ws.prepare(request)
        transport = request.transport
        if transport is None:
            return ws

        async def closer(code: int, reason: str) -> None:
            await ws.close(code=code, message=reason.encode())

        conn = Conn(self.hub.new_id(), request.path_qs, venue, session, transport, closer)
        self.hub.add(conn)
        detach = None
        if listen_key is not None:
            detach = self.ctx.account.attach(listen_key, lambda payload: self.hub.send_user_data(conn, payload))
        try:
            await self._read(ws, conn)
        finally:
            if detach is not None:
                detach()
            self.hub.remove(conn)
        return ws

    async def _read(self, ws: web.WebSocketResponse, conn: Conn) -> None:
        clock, session, hub = self.ctx.clock, conn.session, self.hub
        while True:
            msg = await ws.receive()
            now = clock.now_ms()
            if msg.type is WSMsgType.TEXT:
                actions = session.receive_text(msg.data, now)
            elif msg.type is WSMsgType.BINARY:
                actions = session.receive_text(msg.data.decode("utf-8", "replace"), now)
            elif msg.type is WSMsgType.PING:
                actions = session.receive_ping(bytes(msg.data), now)
            elif msg.type is WSMsgType.PONG:
                actions = session.receive_pong(bytes(msg.data), now)
            else:  # CLOSE, CLOSING, CLOSED, ERROR
                return
            if actions:
                hub.execute(conn, actions)
