"""StoreSink sustained closed-kline rate into DuckDB and PostgreSQL, against bare loops of the same rows, same run.

The sink gets ``--rows`` closed klines (400 symbols, one bar of every symbol per round, yielding to the loop
between rounds as the aggregator's consumer tasks do); the time runs until ``flush()`` says every row is
committed. The ceilings write the same rows, pre-built, in batches of the same size, one transaction each:

- DuckDB: the sink's own insert (numpy columns, ``INSERT ... SELECT ... ON CONFLICT DO NOTHING``) called in a
  plain loop (what the sink adds: event mapping, buffering, the worker-thread hop, the asyncio plumbing); and
  ``executemany`` of one INSERT per row, timed on a small sample (it is slow: the reason the sink does not use it).
- PostgreSQL: bare ``COPY`` straight into the table (no staging, no conflict check: the server's bulk ceiling for
  a client in Python), and ``executemany`` of ``INSERT ... ON CONFLICT DO NOTHING`` (psycopg pipelines it).

Every run starts from an empty file or schema. Medians of ``--runs`` runs. PostgreSQL is skipped, with one line,
when ``--pg`` (default ``$CRYPTOSCAN_TEST_PG`` or the local trust-auth server) is unreachable.

    .venv/bin/python bench/store.py [--rows 200000] [--runs 3] [--pg URL]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import psycopg

from cryptoscan.events import Kline
from cryptoscan.sinks.store import StoreSink
from cryptoscan.sinks.store.duck import insert_rows
from cryptoscan.sinks.store.pg import PostgresBackend
from cryptoscan.sinks.store.rows import Row, kline_row
from cryptoscan.sinks.store.schema import TABLES, column_list, create_statements, quote

N_SYMBOLS = 400
T0 = 1_700_000_040_000
BATCH = 5_000
SAMPLE = 2_000  # rows for the executemany ceilings that are too slow for the whole tape


def tape(n_rows: int) -> list[list[Kline]]:
    """Rounds of one closed bar per symbol; bars never repeat."""
    syms = [f"S{i:03d}USDT" for i in range(N_SYMBOLS)]
    out: list[list[Kline]] = []
    r = 0
    while sum(map(len, out)) < n_rows:
        t = T0 + r * 60_000
        out.append([Kline("futures" if i % 3 == 0 else "spot", s, "1m", t, t + 59_999, 100.0 + i + r % 7, 101.0 + i,
                          99.0 + i, 100.5 + i, 10.0 + r, 1000.0 + r, 10 + r, 5.0, 500.0, True, 1, 10, t + 60_000,
                          t + 60_001) for i, s in enumerate(syms)])  # fmt: skip
        r += 1
    return out


async def run_sink(make: Callable[[], StoreSink], rounds: list[list[Kline]]) -> tuple[float, int]:
    sink = make()
    await sink.start()
    t = time.perf_counter()
    for batch in rounds:
        for k in batch:
            sink.offer(k)
        await asyncio.sleep(0)
    assert await sink.flush(600)
    dt = time.perf_counter() - t
    st = sink.stats
    await sink.stop()
    assert st.dropped == 0 and st.errors == 0 and st.failures == 0, st
    return dt, st.written["klines"]


def chunks(rows: list[Row]) -> list[list[Row]]:
    return [rows[i : i + BATCH] for i in range(0, len(rows), BATCH)]


def duck_bare(path: Path, rows: list[Row]) -> float:
    con = duckdb.connect(str(path))
    for stmt in create_statements("duckdb"):
        con.execute(stmt)
    t = time.perf_counter()
    for chunk in chunks(rows):
        con.begin()
        insert_rows(con, "klines", chunk)
        con.commit()
    dt = time.perf_counter() - t
    assert con.execute("SELECT count(*) FROM klines").fetchone() == (len(rows),)
    con.close()
    return dt


def duck_executemany(path: Path, rows: list[Row]) -> float:
    con = duckdb.connect(str(path))
    for stmt in create_statements("duckdb"):
        con.execute(stmt)
    marks = ", ".join("?" * len(TABLES["klines"].columns))
    t = time.perf_counter()
    con.begin()
    con.executemany(f"INSERT INTO klines ({column_list(TABLES['klines'])}) VALUES ({marks}) ON CONFLICT DO NOTHING",
                    rows)  # fmt: skip
    con.commit()
    dt = time.perf_counter() - t
    con.close()
    return dt


async def pg_schema(url: str) -> str:
    name = f"cs_bench_{secrets.token_hex(4)}"
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        for stmt in create_statements("postgresql", name):
            await conn.execute(stmt.encode())
    return name


async def pg_drop(url: str, name: str) -> None:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(f"DROP SCHEMA IF EXISTS {quote(name)} CASCADE".encode())


async def pg_bare_copy(url: str, rows: list[Row]) -> float:
    name = await pg_schema(url)
    try:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            stmt = f"COPY {quote(name)}.klines ({column_list(TABLES['klines'])}) FROM STDIN".encode()
            t = time.perf_counter()
            for chunk in chunks(rows):
                async with conn.transaction(), conn.cursor() as cur, cur.copy(stmt) as cp:
                    for row in chunk:
                        await cp.write_row(row)
            return time.perf_counter() - t
    finally:
        await pg_drop(url, name)


async def pg_executemany(url: str, rows: list[Row]) -> float:
    name = await pg_schema(url)
    marks = ", ".join(["%s"] * len(TABLES["klines"].columns))
    stmt = (f"INSERT INTO {quote(name)}.klines ({column_list(TABLES['klines'])}) VALUES ({marks}) "
            "ON CONFLICT DO NOTHING").encode()  # fmt: skip
    try:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            t = time.perf_counter()
            for chunk in chunks(rows):
                async with conn.transaction(), conn.cursor() as cur:
                    await cur.executemany(stmt, chunk)
            return time.perf_counter() - t
    finally:
        await pg_drop(url, name)


async def pg_sink(url: str, rounds: list[list[Kline]]) -> tuple[float, int]:
    name = f"cs_bench_{secrets.token_hex(4)}"
    try:
        return await run_sink(lambda: StoreSink(PostgresBackend(url, schema=name), batch_rows=BATCH), rounds)
    finally:
        await pg_drop(url, name)


def report(label: str, sink: list[float], ceilings: dict[str, list[float]]) -> None:
    med = statistics.median
    print(f"{label}: StoreSink {med(sink):,.0f} closed klines/s committed (batches of {BATCH})")
    for name, rates in ceilings.items():
        ratios = [s / c for s, c in zip(sink, rates, strict=False)]
        print(f"  {name}: {med(rates):,.0f} rows/s; sink / it: median {med(ratios):.2f} "
              f"(runs: {', '.join(f'{x:.2f}' for x in ratios)})")  # fmt: skip


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--pg", default=os.environ.get("CRYPTOSCAN_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test"))
    args = ap.parse_args()
    rounds = tape(args.rows)
    rows = [kline_row(k) for r in rounds for k in r]
    sample = rows[:SAMPLE]
    duck: dict[str, list[float]] = {"sink": [], "bare insert loop (same SQL)": [], "executemany": []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.runs):
            dt, n = await run_sink(lambda i=i: StoreSink(Path(tmp) / f"s{i}.duckdb", batch_rows=BATCH), rounds)
            assert n == len(rows)
            duck["sink"].append(n / dt)
            duck["bare insert loop (same SQL)"].append(len(rows) / duck_bare(Path(tmp) / f"b{i}.duckdb", rows))
            duck["executemany"].append(len(sample) / duck_executemany(Path(tmp) / f"e{i}.duckdb", sample))
    report("DuckDB (file)", duck.pop("sink"), duck)
    try:
        async with await psycopg.AsyncConnection.connect(args.pg, connect_timeout=3):
            pass
    except psycopg.OperationalError as exc:
        print(f"PostgreSQL: skipped, unreachable at {args.pg} ({str(exc).strip().splitlines()[0]})")
        return
    pg: dict[str, list[float]] = {"sink": [], "bare COPY loop (no conflict check)": [], "executemany": []}
    for _ in range(args.runs):
        dt, n = await pg_sink(args.pg, rounds)
        assert n == len(rows)
        pg["sink"].append(n / dt)
        pg["bare COPY loop (no conflict check)"].append(len(rows) / await pg_bare_copy(args.pg, rows))
        pg["executemany"].append(len(rows) / await pg_executemany(args.pg, rows))
    report("PostgreSQL (loopback)", pg.pop("sink"), pg)


if __name__ == "__main__":
    asyncio.run(main())
