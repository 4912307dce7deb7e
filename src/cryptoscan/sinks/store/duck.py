"""The embedded store: one DuckDB file, written from one dedicated worker thread.

DuckDB's Python calls block, and a database file has a single writer, so every call on the connection runs in
a one-thread executor: the event loop only awaits futures, and the calls are serialised by construction.
A batch is inserted per table as whole columns (numpy arrays DuckDB scans in place: one statement per table,
where ``executemany`` would run one statement per row), inside one transaction.

Another process holding the file (DuckDB locks it) or an I/O error is an outage: the sink keeps the rows and
retries, reopening the file.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import numpy as np
import numpy.typing as npt

from cryptoscan.sinks.store.rows import Row
from cryptoscan.sinks.store.schema import SQL_TYPES, TABLES, Kind, Table, column_list, create_statements, quote

R = TypeVar("R")

_TRANSIENT = (duckdb.OperationalError, duckdb.FatalException, duckdb.InterruptException, OSError, TimeoutError)


def insert_sql(table: Table) -> str:
    """INSERT from the registered view ``cs_batch`` (whole columns), each cast to its type; keys already stored
    are skipped."""
    types = SQL_TYPES["duckdb"]
    cols = ", ".join(f"{quote(c.name)}::{types[c.kind]}" for c in table.columns)
    return (f"INSERT INTO {quote(table.name)} ({column_list(table)}) SELECT {cols} FROM cs_batch "
            "ON CONFLICT DO NOTHING")  # fmt: skip


_INSERT = {name: insert_sql(t) for name, t in TABLES.items()}
_NUMERIC = {Kind.DOUBLE: np.float64, Kind.BIGINT: np.int64, Kind.INT: np.int64}


def columns(table: Table, rows: Sequence[Row]) -> dict[str, npt.NDArray[Any]]:
    """The rows as one numpy array per column (typed where no value is NULL), for DuckDB to scan in place."""
    out: dict[str, npt.NDArray[Any]] = {}
    for c, values in zip(table.columns, zip(*rows, strict=True), strict=True):
        dtype = _NUMERIC.get(c.kind)
        out[c.name] = np.array(values, dtype=dtype if dtype is not None and None not in values else object)
    return out


def insert_rows(con: duckdb.DuckDBPyConnection, table: str, rows: Sequence[Row]) -> int:
    """Insert ``rows`` into ``table`` (no transaction handling); returns how many were new."""
    if not rows:
        return 0
    con.register("cs_batch", columns(TABLES[table], rows))
    try:
        got = con.execute(_INSERT[table]).fetchone()
    finally:
        with contextlib.suppress(duckdb.Error):  # an aborted transaction refuses it; its rollback drops the view
            con.unregister("cs_batch")
    return int(got[0]) if got else 0


class DuckDBBackend:
    name = "duckdb"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.location = str(path)
        self._con: duckdb.DuckDBPyConnection | None = None
        self._pool: ThreadPoolExecutor | None = None

    @property
    def is_open(self) -> bool:
        return self._con is not None

    async def _call(self, fn: Callable[[], R]) -> R:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-duckdb")
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn)

    async def open(self) -> None:
        if self._con is None:
            self._con = await self._call(self._open_sync)

    def _open_sync(self) -> duckdb.DuckDBPyConnection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(str(self.path))
        try:
            for stmt in create_statements("duckdb"):
                con.execute(stmt)
        except BaseException:
            con.close()
            raise
        return con

    async def write(self, batch: Mapping[str, Sequence[Row]]) -> dict[str, int]:
        con = self._con
        if con is None:
            raise duckdb.ConnectionException("store not open")
        return await self._call(lambda: self._write_sync(con, batch))

    @staticmethod
    def _write_sync(con: duckdb.DuckDBPyConnection, batch: Mapping[str, Sequence[Row]]) -> dict[str, int]:
        con.begin()
        try:
            new = {table: insert_rows(con, table, rows) for table, rows in batch.items()}
            con.commit()
        except BaseException:
            with contextlib.suppress(Exception):
                con.rollback()
            raise
        return new

    async def disconnect(self) -> None:
        con, self._con = self._con, None
        if con is not None:
            with contextlib.suppress(Exception):
                await self._call(con.close)  # queued behind a write still running in the worker

    async def close(self) -> None:
        await self.disconnect()
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False)

    def transient(self, exc: BaseException) -> bool:
        return isinstance(exc, _TRANSIENT)
