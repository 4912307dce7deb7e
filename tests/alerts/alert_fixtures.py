"""Alerts test helpers: scan rows and results by hand, and real loopback receivers.

- ``row(symbol, level)``: a ScanRow with realistic numbers; ``scan_result(...)``: a ScanResult over a few pairs.
- :class:`HttpReceiver`: an aiohttp server on a free 127.0.0.1 port that records every request; per path it
  answers a script of statuses (``[500, 200]``, then 200) or hangs until :meth:`HttpReceiver.release`.
- :class:`SmtpReceiver`: an aiosmtpd server on the test's own loop, on a free port, no TLS, no AUTH.
- :class:`LoopbackDiscord`: apprise's real Discord plugin with its endpoint moved to an HTTP receiver, under
  the ``discordlo://`` schema (apprise's ``discord://`` always posts to discord.com).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any

import numpy as np
from aiohttp import web
from aiosmtpd.smtp import SMTP, Envelope, Session
from apprise.manager_plugins import NotificationManager
from apprise.plugins.discord import NotifyDiscord

from cryptoscan.indicators.values import IndicatorValues
from cryptoscan.scanner.levels import LEVELS_HIGH_FIRST, Level
from cryptoscan.scanner.probability import FACTORS, ProbabilityOutput
from cryptoscan.scanner.result import ScanResult, ScanRow
from cryptoscan.scanner.score import PARTS, Components

T0 = 1_700_000_000_000
SCORE = {"FUERTE": 91.0, "ALTA": 74.0, "MEDIA": 55.0, "BAJA": 35.0, "DESCARTADA": 10.0}


def row(symbol: str, level: str, *, venue: str = "spot", price: float = 1.2345, momentum: float | None = None,
        probability: float = 61.0, volume: float = 12_345_678.0, rank: int = 1) -> ScanRow:  # fmt: skip
    score = SCORE[level] if momentum is None else momentum
    return ScanRow(
        rank=rank, venue=venue, symbol=symbol, level=level, price=price, momentum=score, probability=probability,
        composite=0.6 * score + 0.4 * probability, volume_24h=volume, updated_ms=T0,
        components={"rsi": 20.0, "macd": 20.0, "volume": 25.0, "velocity": 15.0, "breakout": score - 80.0},
        factors={"volatility": 1.0, "momentum": score / 100, "resistance": 0.5, "btc": 0.5, "liquidity": 0.6},
        indicators={"rsi14": 60.0, "resistance": None},
    )  # fmt: skip


def scan_result(pairs: list[tuple[str, str, Level, float]], ts_ms: int = T0) -> ScanResult:
    """A ScanResult over ``(venue, symbol, level, momentum)``; order = momentum, best first."""
    n = len(pairs)
    momentum = np.array([p[3] for p in pairs], dtype=np.float64)
    levels = np.array([int(p[2]) for p in pairs], dtype=np.int8)
    order = np.argsort(-momentum, kind="stable").astype(np.int64)
    parts = {name: momentum / len(PARTS) for name in PARTS}
    values = {
        f.name: (np.zeros(n, np.int64) if "I64" in str(f.type) or "int" in str(f.type) else np.full(n, np.nan))
        for f in dataclasses.fields(IndicatorValues)
    }
    return ScanResult(
        ts_ms=ts_ms, interval="1m", names=[(p[0], p[1]) for p in pairs], tracked=n, order=order,
        groups={lv: order[levels[order] == lv][:2] for lv in LEVELS_HIGH_FIRST}, levels=levels,
        components=Components(**parts, total=momentum), composite=momentum * 0.6 + 20.0,
        probability=ProbabilityOutput(probability=np.full(n, 50.0), factors={f: np.full(n, 0.5) for f in FACTORS}),
        price=np.full(n, 2.5), quote_volume=np.full(n, 5e6), updated_ms=np.full(n, ts_ms, np.int64),
        values=IndicatorValues(**values),
    )  # fmt: skip


@dataclasses.dataclass
class Received:
    path: str
    method: str
    body: str
    at: float  # loop time

    def json(self) -> Any:
        return json.loads(self.body)


class HttpReceiver:
    """Records every request; answers per path from a script of statuses, or hangs until released."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.scripts: dict[str, list[int]] = {}
        self.hanging: set[str] = set()
        self._release = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    def script(self, path: str, statuses: list[int]) -> None:
        self.scripts[path] = list(statuses)

    def hang(self, path: str) -> None:
        self.hanging.add(path)

    def release(self) -> None:
        self._release.set()

    def at(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]

    def url(self, scheme: str, path: str) -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.text()
        self.requests.append(Received(request.path, request.method, body, asyncio.get_running_loop().time()))
        if request.path in self.hanging:
            await self._release.wait()
            return web.Response(status=503)
        script = self.scripts.get(request.path)
        status = script.pop(0) if script else 200
        return web.Response(status=status, text="{}" if status < 300 else "boom")

    async def start(self) -> HttpReceiver:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        self.release()
        if self._runner is not None:
            await self._runner.cleanup()


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[Envelope] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.messages.append(envelope)
        return "250 OK"


class SmtpReceiver:
    """A plain SMTP server on a free loopback port, on the running loop."""

    def __init__(self) -> None:
        self.inbox = _Inbox()
        self.port = 0
        self._server: asyncio.Server | None = None

    @property
    def messages(self) -> list[Envelope]:
        return self.inbox.messages

    def url(self, to: str = "trader@example.com", sender: str = "alerts@cryptoscan.test") -> str:
        # mailto:// (not mailtos://) is apprise's plain SMTP: no STARTTLS; no user in the URL: no AUTH
        return f"mailto://127.0.0.1:{self.port}?from={sender}&to={to}"

    async def start(self) -> SmtpReceiver:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: SMTP(self.inbox, hostname="cryptoscan.test"), "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


class LoopbackDiscord(NotifyDiscord):  # type: ignore[misc]
    """apprise's Discord plugin, posting to ``{base}/api/webhooks/{id}/{token}`` instead of discord.com."""

    secure_protocol = "discordlo"
    service_name = "Discord (loopback)"
    base = "http://127.0.0.1:9"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.notify_url = f"{LoopbackDiscord.base}/api/webhooks"


def register_loopback_discord(base: str) -> None:
    LoopbackDiscord.base = base
    manager = NotificationManager()
    if "discordlo" not in manager:
        manager.add(LoopbackDiscord, schemas="discordlo")
