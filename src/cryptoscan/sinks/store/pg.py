"""The server store: PostgreSQL through psycopg 3's async connection, in a schema of its own.

A batch goes in as one transaction. Per table, ``COPY`` (PostgreSQL's bulk path) straight into the table, inside
a savepoint; if a row is already there (a replay, a resend) COPY fails as a whole, so the savepoint is rolled
back and the rows go the slower way: COPY into a session-local staging table (``ON COMMIT DELETE ROWS``), then
``INSERT ... SELECT ... ON CONFLICT DO NOTHING``, which skips what is stored. A lost connection, a server
shutting down or a serialisation failure is an outage (``OperationalError``): the sink keeps the rows, drops
the connection and retries with a fresh one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence

import psycopg

from cryptoscan.sinks.store.backend import DEFAULT_PG_SCHEMA, redact
from cryptoscan.sinks.store.rows import Row
from cryptoscan.sinks.store.schema import TABLES, column_list, create_statements, quote

_TRANSIENT = (psycopg.OperationalError, psycopg.InterfaceError, OSError, TimeoutError)


def stage_name(table: str) -> str:
    return quote(f"cs_stage_{table}")


class PostgresBackend:
    name = "postgresql"

    def __init__(self, url: str, *, schema: str = DEFAULT_PG_SCHEMA, connect_timeout_s: float = 5.0) -> None:
        self.url = url
        self.location = redact(url)
        self.schema = schema
        self.connect_timeout_s = connect_timeout_s
        self._conn: psycopg.AsyncConnection[tuple[object, ...]] | None = None
        s = quote(schema)
        self._direct = {t: f"COPY {s}.{quote(t)} ({column_list(tb)}) FROM STDIN".encode() for t, tb in TABLES.items()}
        self._staged = {t: f"COPY {stage_name(t)} ({column_list(tb)}) FROM STDIN".encode() for t, tb in TABLES.items()}
        self._insert = {
            t: f"INSERT INTO {s}.{quote(t)} ({column_list(tb)}) SELECT {column_list(tb)} FROM {stage_name(t)} "
            "ON CONFLICT DO NOTHING".encode()
            for t, tb in TABLES.items()
        }

    @property
    def is_open(self) -> bool:
        return self._conn is not None and not self._conn.closed

    async def open(self) -> None:
        if self.is_open:
            return
        conn = await psycopg.AsyncConnection.connect(
            self.url, autocommit=True, connect_timeout=max(1, round(self.connect_timeout_s))
        )
        try:
            for stmt in create_statements("postgresql", self.schema):
                with contextlib.suppress(psycopg.errors.UniqueViolation):  # another process created it just now
                    await conn.execute(stmt.encode())
            s = quote(self.schema)
            for t in TABLES:
                await conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS {stage_name(t)} (LIKE {s}.{quote(t)}) "
                                   "ON COMMIT DELETE ROWS".encode())  # fmt: skip
        except BaseException:
            await conn.close()
            raise
        self._conn = conn

    async def write(self, batch: Mapping[str, Sequence[Row]]) -> dict[str, int]:
        conn = self._conn
        if conn is None or conn.closed:
            raise psycopg.OperationalError("store not open")
        new: dict[str, int] = {}
        async with conn.transaction(), conn.cursor() as cur:
            for table, rows in batch.items():
                if not rows:
                    continue
                try:  # the common case, no row already stored: COPY straight in, inside a savepoint
                    async with conn.transaction():
                        await self._copy_rows(cur, self._direct[table], rows)
                    new[table] = len(rows)
                    continue
                except psycopg.errors.UniqueViolation:
                    pass  # a replay: the savepoint is rolled back, the staging path skips what is there
                await self._copy_rows(cur, self._staged[table], rows)
                await cur.execute(self._insert[table])
                new[table] = max(0, cur.rowcount)
        return new

    @staticmethod
    async def _copy_rows(cur: psycopg.AsyncCursor[tuple[object, ...]], stmt: bytes, rows: Sequence[Row]) -> None:
        async with cur.copy(stmt) as cp:
            for row in rows:
                await cp.write_row(row)

    async def disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()

    async def close(self) -> None:
        await self.disconnect()

    def transient(self, exc: BaseException) -> bool:
        return isinstance(exc, _TRANSIENT)
