"""Shared by the store tests: a throwaway PostgreSQL schema, event factories, readers, and a loopback TCP proxy.

``pg_schema`` (import ``pg_schema_fixture``) makes ``cs_test_<random>`` on the server at ``CRYPTOSCAN_TEST_PG``
(default: the trust-auth server on 127.0.0.1:5432, database ``test``) and drops it at teardown; it skips, with
one line, when the server is unreachable. ``TcpProxy`` stands in front of the server so a test can take it
away and bring it back.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pytest

from cryptoscan.events import Kline, MiniTicker, Ticker
from cryptoscan.sinks.store.pg import PostgresBackend
from cryptoscan.sinks.store.schema import quote

PG_URL = os.environ.get("CRYPTOSCAN_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
T0 = 1_700_000_040_000  # a minute boundary
_unreachable: list[str] = []  # probed once per session


@pytest.fixture(name="pg_schema")
async def pg_schema_fixture() -> AsyncIterator[str]:
    """Import ``pg_schema_fixture`` into a test module, then ask for ``pg_schema`` (ruff sees no shadowing)."""
    if _unreachable:
        pytest.skip(_unreachable[0])
    try:
        admin = await psycopg.AsyncConnection.connect(PG_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        _unreachable.append(f"PostgreSQL unreachable at {PG_URL}: {str(exc).strip().splitlines()[0]}")
        pytest.skip(_unreachable[0])
    name = f"cs_test_{secrets.token_hex(4)}"
    try:
        yield name
    finally:
        await admin.execute(f"DROP SCHEMA IF EXISTS {quote(name)} CASCADE".encode())
        await admin.close()


def pg_backend(schema: str, url: str = PG_URL) -> PostgresBackend:
    return PostgresBackend(url, schema=schema, connect_timeout_s=2)


def kline(i: int, symbol: str = "BTCUSDT", venue: str = "spot", closed: bool = True, interval: str = "1m") -> Kline:
    """Bar ``i`` of a series: distinct prices per bar, so a wrong row shows."""
    t = T0 + i * 60_000
    p = 100.0 + i + (0.25 if venue == "futures" else 0.0)
    return Kline(venue, symbol, interval, t, t + 59_999, p, p + 2, p - 1, p + 0.5, 10.0 + i, 1000.0 + i, 7 + i,
                 4.0 + i, 400.0 + i, closed, 1, 8, t + 60_000, t + 60_001)  # fmt: skip


def ticker(ts: int, symbol: str = "BTCUSDT", window: str = "24h", last: float = 101.0) -> Ticker:
    return Ticker("spot", symbol, window, last, 100.0, 110.0, 90.0, 5e3, 5e5, 1.0, 100.5, 42, ts - 86_400_000, ts,
                  100.9, 101.1, ts, ts + 1)  # fmt: skip


def mini(ts: int, symbol: str = "BTCUSDT", close: float = 102.0) -> MiniTicker:
    return MiniTicker("futures", symbol, close, 100.0, 110.0, 90.0, 5e3, 5e5, ts, ts + 1)


def duck_rows(path: Path, query: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    """Rows of ``query`` from a DuckDB file, read-only (the sink must have closed it)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(query, params or []).fetchall()
    finally:
        con.close()


async def pg_rows(schema: str, query: str) -> list[tuple[Any, ...]]:
    """Rows of ``query`` with ``search_path`` set to ``schema``."""
    async with await psycopg.AsyncConnection.connect(PG_URL, autocommit=True) as conn:
        await conn.execute(f"SET search_path TO {quote(schema)}".encode())
        cur = await conn.execute(query.encode())
        return await cur.fetchall()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class TcpProxy:
    """Forwards 127.0.0.1:``port`` to ``target``; :meth:`close` refuses new connections and cuts live ones."""

    def __init__(self, port: int, target: tuple[str, int]) -> None:
        self.port = port
        self.target = target
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers -= {writer, up_writer}

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for w in list(self._writers):
            w.transport.abort()
        self._writers.clear()
