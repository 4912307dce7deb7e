"""Helpers for talking to the simulator over real loopback sockets with a plain websockets client."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.frames import Frame, Opcode
from websockets.protocol import Protocol

from cryptoscan.sim.server import SimServer

LIMIT_S = 5.0  # every wait in these tests is bounded by this


class Watched(ClientConnection):
    """Counts the server's pings; ``mute_pongs`` stops the automatic pong replies."""

    mute_pongs = False

    def __init__(self, protocol: Protocol, **kw: Any) -> None:
        super().__init__(protocol, **kw)  # type: ignore[arg-type]
        self.pings = 0
        recv, send = protocol.recv_frame, protocol.send_frame

        def on_recv(frame: Frame) -> None:
            if frame.opcode is Opcode.PING:
                self.pings += 1
            recv(frame)

        def on_send(frame: Frame) -> None:
            if self.mute_pongs and frame.opcode is Opcode.PONG:
                return
            send(frame)

        setattr(protocol, "recv_frame", on_recv)  # noqa: B010
        setattr(protocol, "send_frame", on_send)  # noqa: B010


class Muted(Watched):
    mute_pongs = True


def ws_connect(sim: SimServer, path: str, cls: type[Watched] = Watched) -> connect:
    return connect(
        sim.ws_url + path,
        ping_interval=None,
        compression=None,
        open_timeout=5,
        close_timeout=2,
        create_connection=cls,
        max_queue=None,
    )


async def recv_json(ws: ClientConnection) -> Any:
    return json.loads(await asyncio.wait_for(ws.recv(), LIMIT_S))


async def request(ws: ClientConnection, body: dict[str, Any]) -> Any:
    """Send a control frame and return its reply, skipping data messages in between."""
    await ws.send(json.dumps(body))
    async with asyncio.timeout(LIMIT_S):
        while True:
            msg = json.loads(await ws.recv())
            if isinstance(msg, dict) and ("result" in msg or "error" in msg):
                return msg


async def status(sim: SimServer) -> Any:
    async with httpx.AsyncClient(base_url=sim.url) as http:
        return (await http.get("/sim/status")).json()


async def post(sim: SimServer, path: str, body: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=sim.url) as http:
        return await http.post(path, json=body)


def data_of(msg: Any) -> Any:
    return msg["data"] if isinstance(msg, dict) and "stream" in msg else msg
