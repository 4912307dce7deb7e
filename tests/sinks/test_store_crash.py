"""On restart nothing already acknowledged is lost: a writer process is SIGKILLed in the middle of its writes,
and every row it had seen acknowledged (``flush()`` returned) is in the store, intact, when it is reopened."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import pytest
from store_fixtures import (
    PG_URL,
    duck_rows,
    pg_rows,
    pg_schema_fixture,  # noqa: F401
)

WRITER = """
import asyncio, sys
from cryptoscan.events import Kline
from cryptoscan.sinks.store import StoreSink, open_backend

async def main() -> None:
    sink = StoreSink(open_backend(sys.argv[1], pg_schema=sys.argv[2]), flush_interval_s=0.002, batch_rows=250)
    await sink.start()
    i = 0
    while True:
        for _ in range(300):
            t = 1_700_000_040_000 + (i // 10) * 60_000
            sink.offer(Kline("spot", f"S{i % 10}USDT", "1m", t, t + 59_999, float(i), i + 1.0, i - 1.0, i + 0.5,
                             1.0, 2.0, i, 0.5, 1.0, True, 1, 2, t, t))
            i += 1
        if not await sink.flush(30):
            raise SystemExit("flush timed out")
        print(i, flush=True)  # every row below i is committed

asyncio.run(main())
"""


@pytest.fixture(params=["duckdb", "postgresql"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str, str]:
    """(backend, location, PostgreSQL schema)."""
    if request.param == "duckdb":
        return "duckdb", str(tmp_path / "cs.duckdb"), "unused"
    return "postgresql", PG_URL, request.getfixturevalue("pg_schema")


async def test_rows_acknowledged_before_a_sigkill_are_all_there(target: tuple[str, str, str], tmp_path: Path) -> None:
    backend, location, schema = target
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", WRITER, location, schema,
                                                stdout=asyncio.subprocess.PIPE)  # fmt: skip
    assert proc.stdout is not None
    acked = 0
    try:
        while acked < 6_000:  # twenty acknowledged rounds, then kill it mid-stream
            line = await asyncio.wait_for(proc.stdout.readline(), 30)
            assert line, f"writer exited with {await proc.wait()}"
            acked = int(line)
    finally:
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
    assert proc.returncode == -signal.SIGKILL
    query = "SELECT trades, symbol, open_time, open, high, low, close FROM klines WHERE trades < {} ORDER BY trades"
    if backend == "duckdb":
        rows = duck_rows(tmp_path / "cs.duckdb", query.format(acked))  # the file reopened after the kill
        total = duck_rows(tmp_path / "cs.duckdb", "SELECT count(*), max(trades) FROM klines")[0]
    else:
        rows = await pg_rows(schema, query.format(acked))
        total = (await pg_rows(schema, "SELECT count(*), max(trades) FROM klines"))[0]
    assert [r[0] for r in rows] == list(range(acked)), "an acknowledged row is missing"
    for i, symbol, open_time, o, h, lo, c in rows:
        assert (symbol, open_time, o, h, lo, c) == (f"S{i % 10}USDT", 1_700_000_040_000 + (i // 10) * 60_000,
                                                     float(i), i + 1.0, i - 1.0, i + 0.5)  # fmt: skip
    assert total[0] == total[1] + 1  # what was committed after the last ack is whole rows, no holes
