"""connect_picows over loopback: the messages of one socket read come in one ``on_texts`` call, in order, and
a ping, a fragmented message or a close frame in between keeps its place."""

from __future__ import annotations

import struct
from typing import Any

import picows
from picows import WSFrame, WSListener, WSMsgType, WSTransport

from cryptoscan.feed.transport import Link, connect_picows
from helpers import until


def raw_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    assert len(payload) < 126
    return bytes([(0x80 if fin else 0) | opcode, len(payload)]) + payload


TEXT, CONT, CLOSE, PING = 0x1, 0x0, 0x8, 0x9


class Server(WSListener):
    """On the client's "go", writes every frame below with ONE socket write: the client reads them together."""

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type is WSMsgType.TEXT and frame.get_payload_as_bytes() == b"go":
            frames = [raw_frame(TEXT, b"m%d" % i) for i in range(1, 6)]
            frames.append(raw_frame(PING, b"p"))
            frames += [raw_frame(TEXT, b"m%d" % i) for i in range(6, 9)]
            frames += [raw_frame(TEXT, b"ab", fin=False), raw_frame(CONT, b"cd")]
            frames.append(raw_frame(TEXT, b"m9"))
            frames.append(raw_frame(CLOSE, struct.pack("!H", 1000) + b"bye"))
            transport.underlying_transport.write(b"".join(frames))


class Handler:
    def __init__(self) -> None:
        self.log: list[tuple[str, Any]] = []
        self.link: Link | None = None

    def on_open(self, link: Link) -> None:
        self.link = link

    def on_text(self, data: bytes) -> None:
        self.log.append(("text", data))

    def on_texts(self, batch: list[bytes]) -> None:
        self.log.append(("texts", list(batch)))  # a copy: the list is the transport's

    def on_ping(self, payload: bytes) -> None:
        self.log.append(("ping", payload))

    def on_closed(self, code: int | None, reason: str) -> None:
        self.log.append(("closed", code))


async def test_one_read_is_one_call_and_order_is_kept() -> None:
    server = await picows.ws_create_server(lambda request: Server(), "127.0.0.1", 0)
    try:
        port = server.sockets[0].getsockname()[1]
        handler = Handler()
        link = await connect_picows(f"ws://127.0.0.1:{port}/", handler)
        link.send_text(b"go")
        await until(lambda: bool(handler.log) and handler.log[-1][0] == "closed", what="the close frame")
        await link.wait_closed()
        kinds = [kind for kind, _ in handler.log]
        assert "text" not in kinds  # picows marks each read's last frame: never one call per message
        texts = [m for kind, batch in handler.log if kind == "texts" for m in batch]
        assert texts == [b"m1", b"m2", b"m3", b"m4", b"m5", b"m6", b"m7", b"m8", b"abcd", b"m9"]
        assert handler.log[0] == ("texts", [b"m1", b"m2", b"m3", b"m4", b"m5"])  # one read, one call
        ping = kinds.index("ping")
        before = [m for kind, batch in handler.log[:ping] if kind == "texts" for m in batch]
        assert before == [b"m1", b"m2", b"m3", b"m4", b"m5"]  # the ping kept its place
        assert handler.log[-1] == ("closed", 1000)
    finally:
        server.close()
        await server.wait_closed()
