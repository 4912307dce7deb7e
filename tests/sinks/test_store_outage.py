"""A store that is away: offers never raise, rows stay buffered (bounded, drops counted), failures are counted,
and when the store is back every kept row is written. Real outages: a DuckDB file locked by another process,
a PostgreSQL server reached through a proxy that refuses, then cuts live connections."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from store_fixtures import (
    PG_URL,
    TcpProxy,
    duck_rows,
    free_port,
    kline,
    pg_rows,
    pg_schema_fixture,  # noqa: F401
)

from cryptoscan.feed.backoff import BackoffPolicy
from cryptoscan.sinks.store import StoreSink
from cryptoscan.sinks.store.duck import DuckDBBackend
from cryptoscan.sinks.store.pg import PostgresBackend
from helpers import until

FAST = BackoffPolicy(initial_ms=10, factor=2.0, max_ms=100)
HOLD = "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); sys.stdin.read(); c.close()"


async def test_a_duckdb_file_locked_by_another_process_delays_writes_without_losing_rows(tmp_path: Path) -> None:
    path = tmp_path / "cs.duckdb"
    holder = await asyncio.create_subprocess_exec(sys.executable, "-c", HOLD, str(path), stdin=asyncio.subprocess.PIPE,
                                                  stdout=asyncio.subprocess.PIPE)  # fmt: skip
    assert holder.stdin is not None and holder.stdout is not None
    assert (await asyncio.wait_for(holder.stdout.readline(), 30)).strip() == b"ready"
    sink = StoreSink(DuckDBBackend(path), flush_interval_s=0.01, backoff=FAST)
    try:
        await sink.start()  # the file is locked: not an error
        for i in range(100):
            sink.offer(kline(i))  # never raises, never blocks
        await until(lambda: sink.stats.failures >= 3, 20, "retries against the locked file")
        st = sink.stats
        assert st.pending == 100 and st.written["klines"] == 0 and not st.connected and st.dropped == 0
        holder.stdin.close()  # the other process lets go of the file
        assert await asyncio.wait_for(holder.wait(), 30) == 0
        assert await sink.flush(30)
    finally:
        if holder.returncode is None:
            holder.kill()
            await holder.wait()
        await sink.stop()
    st = sink.stats
    assert st.written["klines"] == 100 and st.reconnects >= 1 and st.pending == 0
    assert duck_rows(path, "SELECT count(*), min(open_time), max(open_time) FROM klines")[0] == (
        100, kline(0).open_time, kline(99).open_time)  # fmt: skip


async def test_a_postgres_server_away_then_back_then_cut_mid_run_loses_nothing(pg_schema: str) -> None:
    port = free_port()  # nothing listens here yet: connections are refused
    proxy = TcpProxy(port, ("127.0.0.1", int(PG_URL.rsplit(":", 1)[1].split("/")[0])))
    url = f"postgresql://postgres@127.0.0.1:{port}/{PG_URL.rsplit('/', 1)[1]}"
    sink = StoreSink(PostgresBackend(url, schema=pg_schema, connect_timeout_s=2), flush_interval_s=0.01,
                     backoff=FAST)  # fmt: skip
    try:
        await sink.start()
        for i in range(100):
            sink.offer(kline(i))
        await until(lambda: sink.stats.failures >= 2, 20, "refused connections counted")
        assert sink.stats.pending == 100 and not sink.stats.connected
        await proxy.start()  # the server is back
        await until(lambda: sink.stats.pending == 0, 20, "rows written once the server is back")
        assert sink.stats.written["klines"] == 100 and sink.stats.reconnects == 1
        failures = sink.stats.failures
        await proxy.close()  # the server goes away with the sink's connection open
        for i in range(100, 200):
            sink.offer(kline(i, venue="futures"))
        await until(lambda: sink.stats.failures > failures, 20, "the cut connection noticed")
        assert sink.stats.pending == 100
        await proxy.start()
        assert await sink.flush(30)
    finally:
        await sink.stop()
        await proxy.close()
    st = sink.stats
    assert st.written["klines"] == 200 and st.reconnects == 2 and st.dropped == 0 and st.errors == 0
    got = await pg_rows(pg_schema, "SELECT venue, count(*), min(open_time), max(open_time) FROM klines GROUP BY venue "
                        "ORDER BY venue")  # fmt: skip
    assert got == [("futures", 100, kline(100).open_time, kline(199).open_time),
                   ("spot", 100, kline(0).open_time, kline(99).open_time)]  # fmt: skip


async def test_a_full_buffer_drops_the_oldest_rows_and_counts_them(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the store's folder should be")
    sink = StoreSink(blocker / "cs.duckdb", max_klines=10, flush_interval_s=0.01, backoff=FAST)
    await sink.start()
    try:
        for i in range(25):
            sink.offer(kline(i))
        await until(lambda: sink.stats.failures >= 2, 20, "the store cannot be created")
        st = sink.stats
        assert st.dropped == 15 == st.dropped_by_table["klines"] and st.pending == 10
        blocker.unlink()  # now the folder can be made
        assert await sink.flush(30)
    finally:
        await sink.stop()
    rows = duck_rows(blocker / "cs.duckdb", "SELECT open_time FROM klines ORDER BY open_time")
    assert [r[0] for r in rows] == [kline(i).open_time for i in range(15, 25)]  # the newest ten


async def test_stop_gives_up_on_a_store_that_stays_away(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    sink = StoreSink(blocker / "cs.duckdb", flush_interval_s=0.01, backoff=FAST)
    await sink.start()
    for i in range(5):
        sink.offer(kline(i))
    await until(lambda: sink.stats.failures >= 1, 20, "a failure")
    loop = asyncio.get_running_loop()
    t = loop.time()
    await sink.stop(timeout_s=0.3)
    assert loop.time() - t < 5.0
    assert sink.stats.pending == 5 and sink.stats.written["klines"] == 0
    assert not await sink.flush(0.05)  # still pending, and said so
