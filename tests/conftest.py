"""Shared fixtures: a simulator on a free loopback port, and a tiny exact stream source.

``sim_factory(options=None, fake=True, **parts)`` starts a :class:`SimServer` (stopped at teardown);
parts (``source=``, ``market=``, ``account=``) replace the real ones; ``fake=True`` fills in
``FakeMarket`` and ``FakeSource`` where none is given, ``fake=False`` builds the real ones.
``sim`` is one with defaults.
``FakeSource`` makes the data plane precise: one message per wanted stream every ``every_ms`` of
market time, each carrying a global sequence number ``n`` and its market time ``E``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping
from typing import Any

import pytest

from cryptoscan.sim.options import SimOptions
from cryptoscan.sim.server import SimServer
from cryptoscan.venues.binance.spec import VENUE_KINDS, Venue, parse_stream


class FakeSource:
    """A StreamSource with exact, numbered messages for a few symbols."""

    def __init__(self, symbols: Collection[str] = ("btcusdt", "ethusdt"), every_ms: int = 50) -> None:
        self.symbols = set(symbols)
        self.every_ms = every_ms
        self.seq = 0
        self._last: dict[tuple[Venue, str], int] = {}

    def knows(self, venue: Venue, stream: str) -> bool:
        parsed = parse_stream(stream)
        if parsed is None or parsed.kind not in VENUE_KINDS[venue]:
            return False
        return parsed.symbol is None or parsed.symbol in self.symbols

    def poll(self, now_ms: int, wanted: Mapping[Venue, Collection[str]]) -> list[tuple[Venue, str, bytes]]:
        out: list[tuple[Venue, str, bytes]] = []
        for venue, streams in wanted.items():
            for stream in sorted(streams):
                last = self._last.get((venue, stream))
                if last is not None and now_ms - last < self.every_ms:
                    continue
                self._last[(venue, stream)] = now_ms
                self.seq += 1
                payload = {"e": "fake", "E": now_ms, "s": stream, "n": self.seq}
                out.append((venue, stream, json.dumps(payload, separators=(",", ":")).encode()))
        return out


class FakeMarket:
    """Records the control API's calls into the market."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def inject_burst(self, *args: Any) -> None:
        self.calls.append(("inject_burst", args))

    def set_status(self, *args: Any) -> None:
        self.calls.append(("set_status", args))


SimFactory = Callable[..., Awaitable[SimServer]]


@pytest.fixture
async def sim_factory() -> AsyncIterator[SimFactory]:
    started: list[SimServer] = []

    async def make(options: SimOptions | None = None, *, fake: bool = True, **parts: Any) -> SimServer:
        opts = options or SimOptions()
        opts.port = 0
        opts.host = "127.0.0.1"
        if fake:  # the fake market and source, unless handed in (or a replay is asked for)
            parts.setdefault("market", FakeMarket())
            if opts.replay is None:
                parts.setdefault("source", FakeSource())
        server = SimServer(opts, **parts)
        await server.start()
        started.append(server)
        return server

    yield make
    for server in started:
        await server.stop()


@pytest.fixture
async def sim(sim_factory: SimFactory) -> SimServer:
    return await sim_factory()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "chaos: the aggregator against the sim under injected faults (test_chaos.py)")
