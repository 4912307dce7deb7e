"""The WebSocket endpoints: ``/ws`` (the table and the status bar) and ``/ws/pairs/{venue}/{symbol}``.

Each connection gets a hub client. A sender task moves frames from the client's bounded queue to the socket;
when the hub drops the client (its queue filled up: a slow or vanished tab), the sender stops and the
socket is closed with 1013 (try again later) if the close can still be written within ``CLOSE_S``; else
the handler returns and the server closes the transport. Incoming messages are read and ignored, so a
disconnect is noticed at once.
"""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from cryptoscan.web.hub import Client, Hub
from cryptoscan.web.service import DashboardService
from cryptoscan.web.views import valid_pair

CLOSE_S = 1.0
TRY_AGAIN_LATER = 1013
UNKNOWN_PAIR = 4404


async def _send_all(ws: WebSocket, client: Client) -> None:
    while True:
        frame = await client.queue.get()
        await ws.send_text(frame.decode())
        client.sent += 1
        client.sent_bytes += len(frame)


async def _read_all(ws: WebSocket) -> None:
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            await ws.receive_text()


async def serve_client(ws: WebSocket, client: Client, hub: Hub) -> None:
    """Run one client until it disconnects or is dropped."""
    sender = asyncio.ensure_future(_send_all(ws, client))
    reader = asyncio.ensure_future(_read_all(ws))
    dropped = asyncio.ensure_future(client.dropped.wait())
    try:
        await asyncio.wait({sender, reader, dropped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sender, reader, dropped):
            task.cancel()
        await asyncio.gather(sender, reader, dropped, return_exceptions=True)
        hub.leave(client)
    if client.dropped.is_set():
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ws.close(TRY_AGAIN_LATER, "too slow: reconnect for a fresh snapshot"), CLOSE_S)


def ws_router(service: DashboardService) -> APIRouter:
    router = APIRouter()

    @router.websocket("/ws")
    async def table(ws: WebSocket) -> None:
        await ws.accept()
        await serve_client(ws, service.join_table(), service.hub)

    @router.websocket("/ws/pairs/{venue}/{symbol}")
    async def pair(ws: WebSocket, venue: str, symbol: str) -> None:
        await ws.accept()
        symbol = symbol.upper()
        client = service.join_pair(venue, symbol) if valid_pair(venue, symbol) else None
        if client is None:
            await ws.close(UNKNOWN_PAIR, f"{venue}/{symbol} is not scanned here")
            return
        await serve_client(ws, client, service.hub)

    return router
