"""Fixtures: a throwaway ``redis-server`` per test, on a free loopback port, in a temp dir; never the system one.

``redis_server`` is a volatile one (``--save "" --appendonly no``). ``redis_factory(durable=True)`` makes
one with an fsync-always append-only file, so a SIGKILL loses nothing Redis acknowledged: what the outage
tests need to tell the sink's losses from the server's. ``kill()`` (SIGKILL) and ``start()`` again on the
same port simulate an outage; ``freeze()`` a hung server. The process wrapper is in ``redis_proc.py``
(test modules import it from there: ``from conftest import`` resolves to whichever conftest came last).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from redis_proc import REDIS_SERVER, RedisFactory, RedisProcess


@pytest.fixture
async def redis_factory(tmp_path: Path) -> AsyncIterator[RedisFactory]:
    if REDIS_SERVER is None:
        pytest.fail("redis-server not found: install it with `apt-get install redis-server`", pytrace=False)
    started: list[RedisProcess] = []

    async def make(durable: bool = False) -> RedisProcess:
        workdir = tmp_path / f"redis{len(started)}"
        workdir.mkdir()
        server = RedisProcess(workdir, durable)
        started.append(server)
        await server.start()
        return server

    yield make
    for server in started:
        await server.stop()


@pytest.fixture
async def redis_server(redis_factory: RedisFactory) -> RedisProcess:
    return await redis_factory()


@pytest.fixture
async def rclient(redis_server: RedisProcess) -> AsyncIterator[aioredis.Redis]:
    client = redis_server.client()
    yield client
    await client.aclose()
