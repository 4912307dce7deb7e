"""Shared fixtures: a simulator on a free loopback port, and a tiny exact stream source.

``sim_factory(options=None, fake=True, **parts)`` starts a :class:`SimServer` (stopped at teardown);
parts (``source=``, ``market=``, ``account=``) replace the real ones; ``fake=True`` fills in
``FakeMarket`` and ``FakeSource`` where none is given, ``fake=False`` builds the real ones.
``sim`` is one with defaults.
``FakeSource`` makes the data plane precise: one message per wanted stream every ``every_ms`` of
market time, each carrying a global sequence number ``n`` and its market time ``E``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from cryptoscan.sim.options import SimOptions
from cryptoscan.sim.server import SimServer
from simfakes import FakeMarket, FakeSource, SimFactory


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
