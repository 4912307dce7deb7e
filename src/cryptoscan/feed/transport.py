"""The WebSocket glue under :class:`~cryptoscan.feed.connection.StreamConnection`: picows in, a small interface out.

The driver never sees picows. It hands :func:`connect_picows` a URL and a :class:`LinkHandler` (sync callbacks:
open, text messages, ping, closed) and gets back a :class:`Link` (send text, send pong, close, abort, wait closed).
Another library (websockets) would only need another ``connect_*`` with the same two shapes.

Choices, and why:

- auto-pong is OFF: the driver answers each ping itself so the pong is counted in the Pacer's message window
  (Binance counts pongs toward 5 msg/s); auto-ping is OFF too: Binance says unsolicited pings/pongs keep
  nothing alive, and the Watchdog watches data silence instead;
- handshake refusals become :class:`HandshakeRejected` with the HTTP status and headers, so the driver can
  classify 429/418 (Retry-After) and 400 with ``feed.backoff.classify_handshake``;
- the connect timeout covers TCP, TLS and the upgrade; ``max_frame_size`` bounds memory per frame;
- fragmented messages (Binance sends none, but the protocol allows them) are reassembled within the same bound;
- messages are handed over per socket read (``on_texts``): picows parses every complete frame of one read in a
  row and marks the last one (``last_in_buffer``), so the driver pays its per-call costs (clock, counters,
  routing, consumer wake-ups) once per read instead of once per message. A ping, a close frame or the end of
  the connection hands over what was collected first, so order is kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Mapping
from typing import Protocol

import picows
from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport

DEFAULT_MAX_FRAME_BYTES = 4 << 20  # the parser's own bound; Binance's biggest arrays stay well below it
DEFAULT_CONNECT_TIMEOUT_S = 10.0
CLOSE_WAIT_S = 2.0


class LinkHandler(Protocol):
    """What the driver implements; every callback runs synchronously on the read path."""

    def on_open(self, link: Link) -> None:
        """The upgrade succeeded; called before any frame and before the connect call returns."""

    def on_text(self, data: bytes) -> None:
        """One message (a transport that cannot tell where a socket read ends calls this per message)."""

    def on_texts(self, batch: list[bytes]) -> None:
        """Every complete message of one socket read, in order; the list is the transport's, reused after."""

    def on_ping(self, payload: bytes) -> None: ...

    def on_closed(self, code: int | None, reason: str) -> None:
        """The socket is gone; ``code`` None: no close frame came (TCP drop)."""


class Link(Protocol):
    """One open WebSocket, as the driver uses it."""

    @property
    def closed(self) -> bool: ...

    def send_text(self, data: bytes) -> None: ...

    def send_pong(self, payload: bytes) -> None: ...

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Send a close frame and let the peer finish the handshake (``wait_closed`` awaits it)."""

    def abort(self) -> None:
        """Drop the TCP connection now, no close frame."""

    def pause_reading(self, paused: bool) -> None:
        """Stop (True) or resume (False) reading from the socket: backpressure reaches the kernel buffers."""

    async def wait_closed(self, timeout_s: float = CLOSE_WAIT_S) -> None:
        """Until the socket is gone; aborts it after ``timeout_s``."""


class HandshakeRejected(Exception):
    """The server refused the WebSocket upgrade with an HTTP status."""

    def __init__(self, status: int, headers: Mapping[str, str], body: bytes = b"") -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.headers = dict(headers)
        self.body = body


def _close_code(code: int) -> WSCloseCode:
    try:
        return WSCloseCode(code)
    except ValueError:
        return WSCloseCode.OK


_TEXT = WSMsgType.TEXT
_BINARY = WSMsgType.BINARY


class _Listener(WSListener):
    """picows listener feeding a LinkHandler; also the Link the driver holds."""

    def __init__(self, handler: LinkHandler, max_frame_bytes: int) -> None:
        self._handler = handler
        self._on_texts = handler.on_texts
        self._max = max_frame_bytes
        self._transport: WSTransport | None = None
        self._fragments: bytearray | None = None
        self._done = False
        self._batch: list[bytes] = []
        self._append = self._batch.append

    # --- picows callbacks ------------------------------------------------------------------------------
    def on_ws_connected(self, transport: WSTransport) -> None:
        self._transport = transport
        self._handler.on_open(self)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        # The hot path: one complete text message, collected until the read's last frame.
        if frame.msg_type is _TEXT and frame.fin:
            self._append(frame.get_payload_as_bytes())
            if frame.last_in_buffer:
                self._flush()
            return
        self._flush()  # anything else is handled in order, after what came before it
        self._other(transport, frame)
        if frame.last_in_buffer:
            self._flush()

    def _flush(self) -> None:
        batch = self._batch
        if batch:
            try:
                self._on_texts(batch)
            finally:
                batch.clear()

    def _other(self, transport: WSTransport, frame: WSFrame) -> None:
        t = frame.msg_type
        if t is _BINARY:
            if frame.fin:
                self._append(frame.get_payload_as_bytes())
            else:
                self._fragments = bytearray(frame.get_payload_as_memoryview())
        elif t is _TEXT:  # the first fragment of a text message
            self._fragments = bytearray(frame.get_payload_as_memoryview())
        elif t is WSMsgType.CONTINUATION:
            self._continue(frame)
        elif t is WSMsgType.PING:
            self._handler.on_ping(frame.get_payload_as_bytes())
        elif t is WSMsgType.CLOSE:
            if not transport.is_close_frame_sent:
                transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()

    def _continue(self, frame: WSFrame) -> None:
        buf = self._fragments
        if buf is None:
            return  # a continuation with nothing to continue: ignore it
        buf += frame.get_payload_as_memoryview()
        if len(buf) > self._max:
            self._fragments = None
            raise picows.WSProtocolError(WSCloseCode.MESSAGE_TOO_BIG, "fragmented message too big")
        if frame.fin:
            self._fragments = None
            self._append(bytes(buf))

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        if self._done:
            return
        self._flush()  # frames of a read cut short (a protocol error further in) are still delivered
        self._done = True
        hs = transport.close_handshake
        recv = hs.recv if hs is not None else None
        if recv is None:
            self._handler.on_closed(None, "")
        else:
            self._handler.on_closed(recv.code.value, recv.reason)

    # --- Link ------------------------------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self._done or self._transport is None or self._transport.is_disconnected

    def send_text(self, data: bytes) -> None:
        if self._transport is not None and not self._done:
            self._transport.send(WSMsgType.TEXT, data)

    def send_pong(self, payload: bytes) -> None:
        if self._transport is not None and not self._done:
            self._transport.send_pong(payload)

    def close(self, code: int = 1000, reason: str = "") -> None:
        tr = self._transport
        if tr is not None and not self._done and not tr.is_close_frame_sent:
            tr.send_close(_close_code(code), reason.encode())

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.disconnect(graceful=False)

    def pause_reading(self, paused: bool) -> None:
        tr = self._transport
        if tr is None or self._done:
            return
        raw = tr.underlying_transport
        if raw.is_closing():
            return
        if paused:
            raw.pause_reading()
        else:
            raw.resume_reading()

    async def wait_closed(self, timeout_s: float = CLOSE_WAIT_S) -> None:
        tr = self._transport
        if tr is None or tr.is_disconnected:
            return
        try:
            async with asyncio.timeout(timeout_s):
                with contextlib.suppress(Exception):  # a local protocol error is re-raised here: already handled
                    await tr.wait_disconnected()
        except TimeoutError:
            tr.disconnect(graceful=False)
            with contextlib.suppress(Exception):
                await tr.wait_disconnected()


DEFAULT_RCVBUF_BYTES = 256 * 1024


async def connect_picows(
    url: str,
    handler: LinkHandler,
    *,
    max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
    connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
    ssl_context: ssl.SSLContext | None = None,
    rcvbuf_bytes: int | None = DEFAULT_RCVBUF_BYTES,
) -> Link:
    """Open ``url``; raises HandshakeRejected (HTTP refusal), TimeoutError or OSError.

    ``rcvbuf_bytes`` caps the kernel receive buffer: picows reads whatever is there in one go, and a 4 MB read
    of ~12k frames holds the event loop for tens of ms, starving consumers and timers; 256 KiB keeps each
    read short without costing throughput (measured: same msg/s, closed-kline backlog 400 instead of 15k).
    """

    def factory() -> _Listener:
        return _Listener(handler, max_frame_bytes)

    try:
        async with asyncio.timeout(connect_timeout_s):
            _, listener = await picows.ws_connect(
                factory,
                url,
                ssl_context=ssl_context,
                websocket_handshake_timeout=connect_timeout_s,
                enable_auto_ping=False,
                enable_auto_pong=False,
                max_frame_size=max_frame_bytes,
                max_redirects=0,
                disconnect_on_exception=True,
                logger_name="cryptoscan.feed.transport",
            )
    except picows.WSHandshakeError as exc:
        resp = exc.response
        if resp is None:
            raise OSError(f"WebSocket handshake failed: {exc}") from exc
        raise HandshakeRejected(int(resp.status), dict(resp.headers.items()), resp.body or b"") from exc
    assert isinstance(listener, _Listener)
    if rcvbuf_bytes and listener._transport is not None:
        sock = listener._transport.underlying_transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf_bytes)
    return listener
