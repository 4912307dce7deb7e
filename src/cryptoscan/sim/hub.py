"""The publisher: one loop that turns the stream source's messages into frames on every socket.

Every ``tick_ms`` of real time it asks the source for the messages due up to the market clock, for
the union of every connection's delivered streams. Each message is framed at most twice (raw and
combined envelope, each a complete server text frame) however many connections want it, and each
connection gets one ``transport.write`` per tick. A client whose socket buffer passes
``max_buffer_bytes`` is too slow to keep up and is disconnected, as Binance does, and counted.
The same tick drives the sessions' timers (pings, pong deadline, lifetime), the faults and the
futures account.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

from cryptoscan.sim.context import SimContext
from cryptoscan.sim.faults import FaultOrder, LinkFaults, text_frame
from cryptoscan.sim.session import Action, Close, SendPing, SendPong, SendText, Session
from cryptoscan.venues.binance.spec import Venue

log = logging.getLogger(__name__)

DEFAULT_MAX_BUFFER_BYTES = 16 * 1024 * 1024


class Transport(Protocol):
    """The part of asyncio's transport the hub uses."""

    def write(self, data: bytes) -> None: ...

    def abort(self) -> None: ...

    def is_closing(self) -> bool: ...

    def get_write_buffer_size(self) -> int: ...


def _control_frame(opcode: int, payload: bytes) -> bytes:
    return bytes((0x80 | opcode, len(payload))) + payload


def combined_frame(stream: str, payload: bytes) -> bytes:
    return text_frame(b'{"stream":"' + stream.encode() + b'","data":' + payload + b"}")


@dataclass(eq=False, slots=True)
class Conn:
    """One accepted WebSocket connection as the hub sees it."""

    id: str
    path: str
    venue: Venue
    session: Session
    transport: Transport
    closer: Callable[[int, str], Coroutine[Any, Any, None]]  # graceful close through the WebSocket library
    out: list[bytes] = field(default_factory=list)
    links: LinkFaults = field(default_factory=LinkFaults)
    sent: int = 0
    seen_version: int = -1
    closing: bool = False

    @property
    def live(self) -> bool:
        return not self.closing and not self.transport.is_closing()


class Hub:
    """Registry of connections plus the publishing loop."""

    def __init__(self, ctx: SimContext, *, max_buffer_bytes: int = DEFAULT_MAX_BUFFER_BYTES) -> None:
        self.ctx = ctx
        self.max_buffer_bytes = max_buffer_bytes
        self.conns: dict[str, Conn] = {}
        self._ids = itertools.count(1)
        self._index: dict[tuple[Venue, str], list[Conn]] = {}
        self._wanted: dict[Venue, set[str]] = {Venue.SPOT: set(), Venue.FUTURES: set()}
        self._dirty = True
        self._tasks: set[asyncio.Task[None]] = set()

    # --- registry ------------------------------------------------------------------------------
    def new_id(self) -> str:
        return f"c{next(self._ids)}"

    def add(self, conn: Conn) -> None:
        self.conns[conn.id] = conn
        self._dirty = True
        self.ctx.stats.count("ws.connections")

    def remove(self, conn: Conn) -> None:
        if self.conns.pop(conn.id, None) is not None:
            conn.session.transport_closed()
            self._dirty = True

    # --- actions -------------------------------------------------------------------------------
    def execute(self, conn: Conn, actions: list[Action]) -> None:
        """Carry out a session's actions. Frames go straight to the transport, in order."""
        for action in actions:
            if not conn.live:
                return
            if isinstance(action, SendText):
                conn.transport.write(text_frame(action.text.encode()))
            elif isinstance(action, SendPing):
                conn.transport.write(_control_frame(0x9, action.payload))
            elif isinstance(action, SendPong):
                conn.transport.write(_control_frame(0xA, action.payload))
            elif isinstance(action, Close):
                self._close(conn, action.code, action.reason)

    def _close(self, conn: Conn, code: int, reason: str) -> None:
        conn.closing = True
        self._dirty = True
        task = asyncio.get_running_loop().create_task(conn.closer(code, reason))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def drop(self, conn: Conn) -> None:
        """Close the TCP connection abruptly, no close frame."""
        conn.closing = True
        self._dirty = True
        conn.transport.abort()

    def send_user_data(self, conn: Conn, payload: bytes | str) -> None:
        """Queue one user-data event (the account calls this) for the next flush."""
        data = payload.encode() if isinstance(payload, str) else payload
        conn.out.append(text_frame(data))

    # --- faults --------------------------------------------------------------------------------
    def apply_fault(self, order: FaultOrder, now_ms: int) -> list[str]:
        """Carry out one connection fault; returns the ids it hit."""
        faults = self.ctx.faults
        ids = faults.pick(order, [c.id for c in self.conns.values() if c.live])
        for cid in ids:
            conn = self.conns[cid]
            if order.kind == "drop":
                self.drop(conn)
            elif order.kind == "shutdown":
                self.execute(conn, conn.session.shutdown(now_ms, "Injected shutdown"))
            else:
                conn.links.arm(order, now_ms)
            faults.injected(order.kind)
        return ids

    # --- publishing ----------------------------------------------------------------------------
    def _rebuild(self) -> None:
        index: dict[tuple[Venue, str], list[Conn]] = {}
        wanted: dict[Venue, set[str]] = {Venue.SPOT: set(), Venue.FUTURES: set()}
        for conn in self.conns.values():
            if not conn.live:
                continue
            conn.seen_version = conn.session.version
            for stream in conn.session.delivered():
                index.setdefault((conn.venue, stream), []).append(conn)
                wanted[conn.venue].add(stream)
        self._index, self._wanted, self._dirty = index, wanted, False

    def tick(self) -> int:
        """One publisher step; returns the number of messages the source produced."""
        ctx = self.ctx
        now = ctx.clock.now_ms()
        for order in ctx.faults.due(now):
            self.apply_fault(order, now)
        for conn in list(self.conns.values()):
            if not conn.live:
                continue
            actions = conn.session.tick(now, pings=not conn.links.stalled(now))
            if actions:
                self.execute(conn, actions)
            if conn.session.version != conn.seen_version:
                self._dirty = True
        if self._dirty:
            self._rebuild()
        messages = ctx.source.poll(now, self._wanted)
        index = self._index
        for venue, stream, payload in messages:
            subs = index.get((venue, stream))
            if not subs:
                continue
            raw: bytes | None = None
            combo: bytes | None = None
            for conn in subs:
                if conn.session.combined:
                    if combo is None:
                        combo = combined_frame(stream, payload)
                    conn.out.append(combo)
                else:
                    if raw is None:
                        raw = text_frame(payload)
                    conn.out.append(raw)
        for conn in list(self.conns.values()):
            if conn.out or conn.links.busy():
                self._flush(conn, now)
        ctx.account.tick(now)
        return len(messages)

    def _flush(self, conn: Conn, now_ms: int) -> None:
        frames, conn.out = conn.out, []
        if not conn.live:
            return
        frames = conn.links.shape(frames, now_ms)
        if not frames:
            return
        if conn.transport.get_write_buffer_size() > self.max_buffer_bytes:
            self.ctx.stats.count("ws.slow_consumer_disconnects")
            self.drop(conn)
            return
        conn.transport.write(b"".join(frames))
        conn.sent += len(frames)
        self.ctx.stats.count("ws.messages_sent", len(frames))

    async def run(self) -> None:
        """Tick every ``tick_ms`` of real time until cancelled."""
        loop = asyncio.get_running_loop()
        period = self.ctx.options.tick_ms / 1000
        next_at = loop.time()
        while True:
            try:
                self.tick()
            except Exception:  # a bug in one tick must not stop the exchange; it is counted
                self.ctx.stats.count("hub.tick_errors")
                if self.ctx.stats.counters["hub.tick_errors"] <= 3:
                    log.exception("publisher tick failed")
            next_at = max(next_at + period, loop.time())
            await asyncio.sleep(next_at - loop.time())

    async def close_all(self, code: int = 1001, reason: str = "Server shutting down") -> None:
        """Graceful stop: close every WebSocket with ``code`` and wait for the closes."""
        closes = [c.closer(code, reason) for c in self.conns.values() if c.live]
        for c in self.conns.values():
            c.closing = True
        with contextlib.suppress(Exception):
            await asyncio.gather(*closes, return_exceptions=True)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
