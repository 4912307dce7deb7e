"""A browser tab that stops reading never slows the scanner: its bounded queue fills, it is dropped and counted,
while a client that keeps up gets every frame and the scanner keeps scanning."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
from typing import Any
from urllib.parse import urlsplit

import httpx
from webdemo import QUEUE_SIZE, LiveDemo
from websockets.sync.client import connect

from cryptoscan.web.service import TABLE
from helpers import until

PAD = 64 * 1024  # bytes per flood frame: a large diff, so the stalled socket's buffers fill in a few frames


def stalled_client(url: str) -> socket.socket:
    """A WebSocket client that completes the handshake and then never reads (a tiny receive buffer)."""
    host, port = urlsplit(url).hostname, urlsplit(url).port
    assert host is not None and port is not None
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(10)
    sock.connect((host, port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(f"GET /ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())  # fmt: skip
    head = b""
    while b"\r\n\r\n" not in head:  # byte by byte: read the response head and not one byte of a frame
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def test_a_stalled_client_is_dropped_and_counted_while_the_scanner_runs_on(live: LiveDemo) -> None:
    service = live.dashboard.service
    hub = service.hub
    dropped_before = live.call(lambda: hub.stats.dropped)
    with connect(live.url.replace("http://", "ws://") + "/ws", open_timeout=10, max_size=2**22) as fast:
        assert json.loads(fast.recv(timeout=10))["type"] == "snapshot"
        stalled = stalled_client(live.url)
        try:
            clients = live.call(lambda: hub.clients(TABLE))
            fast_client, stalled_client_ = clients[-2], clients[-1]
            passes_at_connect = live.call(service.source.passes)

            async def flood() -> dict[str, Any]:
                # First: the scanner keeps passing while the stalled client holds frames it never reads.
                await until(lambda: service.source.passes() >= passes_at_connect + 2, limit_s=20, what="2 passes")
                frame = json.dumps({"type": "pad", "data": "x" * PAD}).encode()
                sent = 0
                while not stalled_client_.dropped.is_set():
                    assert sent < 1000, "the stalled client was never dropped"
                    hub.publish(TABLE, frame)
                    sent += 1
                    # the fast client takes each frame before the next: it keeps up, the stalled one cannot
                    await until(lambda: fast_client.queue.empty() or fast_client.dropped.is_set(), limit_s=20,
                                what="the fast client to keep up")  # fmt: skip
                return {"sent": sent, "fast_dropped": fast_client.dropped.is_set(),
                        "passes": service.source.passes() - passes_at_connect}  # fmt: skip

            job = asyncio.run_coroutine_threadsafe(flood(), live.loop)
            pads = 0
            status: dict[str, Any] = {}
            while not job.done() or pads < job.result()["sent"]:
                doc = json.loads(fast.recv(timeout=20))
                pads += doc["type"] == "pad"
                if doc["type"] == "status":
                    status = doc
            outcome = job.result()
            while status.get("dropped_clients", 0) <= dropped_before:  # the status bar shows the drop
                doc = json.loads(fast.recv(timeout=20))
                if doc["type"] == "status":
                    status = doc
        finally:
            stalled.close()
    assert not outcome["fast_dropped"] and pads == outcome["sent"]  # the client that keeps up got every frame
    assert outcome["passes"] >= 2  # the scanner ran on while a client read nothing
    assert status["dropped_clients"] == dropped_before + 1
    doc = httpx.get(live.url + "/api/status", timeout=10).json()["dashboard"]
    assert doc["dropped_clients"] == dropped_before + 1 and doc["queue_size"] == QUEUE_SIZE
    assert doc["listener_max_ms"] < 100  # what a pass pays for the dashboard: never a wait on a client
    print(f"\nslow client dropped after {outcome['sent']} frames of {PAD // 1024} KiB (queue {QUEUE_SIZE}); "
          f"clients dropped {doc['dropped_clients'] - dropped_before}; scanner passes meanwhile {outcome['passes']}; "
          f"listener mean {doc['listener_mean_ms']} ms, max {doc['listener_max_ms']} ms")  # fmt: skip
