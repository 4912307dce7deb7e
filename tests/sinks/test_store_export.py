"""``export``: Parquet and CSV round trips from a DuckDB file and from PostgreSQL (the same rows either way), the
filters, scan rows, the command-line entry, and one-line errors that leave no half-written file behind."""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest
from store_fixtures import (
    PG_URL,
    T0,
    kline,
    pg_backend,
    pg_schema_fixture,  # noqa: F401
)

from cryptoscan.scanner.result import ScanRow, ScanSnapshot
from cryptoscan.sinks.store import ExportError, StoreSink, export
from cryptoscan.sinks.store.backend import Backend
from cryptoscan.sinks.store.duck import DuckDBBackend
from cryptoscan.sinks.store.export import add_export_arguments, parse_time, run_export
from cryptoscan.sinks.store.schema import TABLES

KCOLS = TABLES["klines"].names


def series() -> list[Any]:
    """Two symbols on two venues, 60 bars each, plus 5m bars that a 1m export must leave out."""
    out = [kline(i, symbol=s, venue=v) for s in ("BTCUSDT", "ETHUSDT") for v in ("spot", "futures") for i in range(60)]
    return out + [kline(i * 5, symbol="BTCUSDT", interval="5m") for i in range(12)]


def snap(ts: int, momentum: float) -> ScanSnapshot:
    row = ScanRow(rank=1, venue="spot", symbol="BTCUSDT", level="ALTA", price=101.5, momentum=momentum,
                  probability=33.0, composite=60.0, volume_24h=5e6, updated_ms=ts - 1, components={"rsi": 20.0},
                  factors={"btc": 0.5}, indicators={"rsi14": None})  # fmt: skip
    return ScanSnapshot(ts_ms=ts, interval="1m", tracked=1, eligible=1, counts={"ALTA": 1}, levels={"ALTA": [row]})


async def fill(backend: Backend) -> None:
    sink = StoreSink(backend, flush_interval_s=0.01)
    async with sink:
        for k in series():
            sink.offer(k)
        for i in range(10):
            sink.offer_scan(snap(T0 + i * 60_000, 70.0 + i))
        assert await sink.flush(20)
    assert sink.stats.written["klines"] == 252 and sink.stats.written["scans"] == 10


def expected(symbol: str, lo: int, hi: int, venue: str | None = None) -> list[tuple[Any, ...]]:
    ks = [k for k in series() if k.symbol == symbol and k.interval == "1m" and lo <= k.open_time < hi
          and (venue is None or k.venue == venue)]  # fmt: skip
    ks.sort(key=lambda k: (k.venue, k.open_time))
    return [tuple(getattr(k, c) for c in KCOLS) for k in ks]


def leftovers(folder: Path, *names: str) -> list[Path]:
    """Half-written ``.part`` files, and any of ``names``, in ``folder``."""
    return [p for p in folder.iterdir() if p.suffix == ".part" or p.name in names]


def read_parquet(path: Path) -> list[tuple[Any, ...]]:
    return duckdb.connect().execute("SELECT * FROM read_parquet(?)", [str(path)]).fetchall()


def read_csv(path: Path) -> list[tuple[Any, ...]]:
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    assert tuple(rows[0]) == KCOLS
    kinds = [c.kind.value for c in TABLES["klines"].columns]
    conv = {"text": str, "bigint": int, "int": int, "double": float}
    return [tuple(conv[k](v) for k, v in zip(kinds, r, strict=True)) for r in rows[1:]]


@pytest.fixture
async def duck_store(tmp_path: Path) -> Path:
    path = tmp_path / "cs.duckdb"
    await fill(DuckDBBackend(path))
    return path


async def test_parquet_and_csv_round_trip_from_duckdb_with_filters(duck_store: Path, tmp_path: Path) -> None:
    lo, hi = T0 + 10 * 60_000, T0 + 30 * 60_000
    res = export(duck_store, "btcusdt", lo, hi, "parquet", tmp_path / "b.parquet")
    assert res.rows == 40 and res.path == tmp_path / "b.parquet"
    assert read_parquet(res.path) == expected("BTCUSDT", lo, hi)
    res = export(duck_store, "ETHUSDT", lo, None, "csv", tmp_path / "e.csv", venue="futures")
    assert res.rows == 50 and read_csv(res.path) == expected("ETHUSDT", lo, 1 << 62, "futures")
    res = export(duck_store, "BTCUSDT", 0, None, "parquet", tmp_path / "5m.parquet", interval="5m")
    assert res.rows == 12 and {r[2] for r in read_parquet(res.path)} == {"5m"}
    assert export(duck_store, "XRPUSDT", 0, None, "csv", tmp_path / "none.csv").rows == 0
    assert not leftovers(tmp_path)


async def test_postgres_exports_the_same_rows_as_duckdb(duck_store: Path, tmp_path: Path, pg_schema: str) -> None:
    await fill(pg_backend(pg_schema))
    lo = T0 + 5 * 60_000
    for fmt in ("parquet", "csv"):
        a = export(duck_store, "BTCUSDT", lo, None, fmt, tmp_path / f"d.{fmt}")  # type: ignore[arg-type]
        b = export(PG_URL, "BTCUSDT", lo, None, fmt, tmp_path / f"p.{fmt}", pg_schema=pg_schema)  # type: ignore[arg-type]
        assert a.rows == b.rows == 110
        read = read_parquet if fmt == "parquet" else read_csv
        assert read(a.path) == read(b.path) == expected("BTCUSDT", lo, 1 << 62)
    scans_d = export(duck_store, "BTCUSDT", T0 + 120_000, None, "parquet", tmp_path / "sd.parquet", scans=True)
    scans_p = export(PG_URL, "BTCUSDT", T0 + 120_000, None, "parquet", tmp_path / "sp.parquet", scans=True,
                     pg_schema=pg_schema)  # fmt: skip
    d, p = read_parquet(scans_d.path), read_parquet(scans_p.path)
    assert scans_d.rows == scans_p.rows == len(d) == len(p) == 8
    assert [r[6] for r in d] == [r[6] for r in p] == [72.0 + i for i in range(8)]  # momentum, in time order
    for rd, rp in zip(d, p, strict=True):  # JSON columns: same documents (text spacing may differ)
        assert rd[:12] == rp[:12]
        assert [json.loads(x) for x in rd[12:]] == [json.loads(x) for x in rp[12:]]
    assert json.loads(d[0][12]) == {"rsi": 20.0} and json.loads(d[0][14]) == {"rsi14": None}
    with pytest.raises(ExportError, match="no table"):
        export(PG_URL, "BTCUSDT", 0, None, "csv", tmp_path / "x.csv", pg_schema=pg_schema + "_missing")


async def test_errors_are_one_line_and_leave_no_file(duck_store: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    with pytest.raises(ExportError, match="no store at"):
        export(tmp_path / "missing.duckdb", "BTCUSDT", 0, None, "csv", out)
    with pytest.raises(ExportError, match="unknown format"):
        export(duck_store, "BTCUSDT", 0, None, "xlsx", out)  # type: ignore[arg-type]
    with pytest.raises(ExportError, match=r"cannot read postgresql://u:\*\*\*@127\.0\.0\.1:1/"):
        export("postgresql://u:pw@127.0.0.1:1/test", "BTCUSDT", 0, None, "csv", out)
    hold = "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); sys.stdin.read()"
    pipe = asyncio.subprocess.PIPE
    holder = await asyncio.create_subprocess_exec(sys.executable, "-c", hold, str(duck_store), stdin=pipe, stdout=pipe)
    assert holder.stdin is not None and holder.stdout is not None
    try:
        assert (await asyncio.wait_for(holder.stdout.readline(), 30)).strip() == b"ready"
        with pytest.raises(ExportError, match="is a scan writing it") as err:
            export(duck_store, "BTCUSDT", 0, None, "csv", out)
        assert "\n" not in str(err.value)
    finally:
        holder.stdin.close()
        await holder.wait()
    assert not leftovers(tmp_path, out.name)


def test_times_parse_from_epochs_iso_and_ages() -> None:
    now = 1_700_000_000_000
    assert parse_time("1699999999123", now) == 1_699_999_999_123
    assert parse_time("1699999999", now) == 1_699_999_999_000  # epoch seconds
    assert parse_time("2023-11-14", now) == 1_699_920_000_000  # UTC midnight
    assert parse_time("2023-11-14T22:13:20Z", now) == now
    assert parse_time("2023-11-15T00:13:20+02:00", now) == now
    assert parse_time("90m", now) == now - 5_400_000
    assert parse_time("7d", now) == now - 7 * 86_400_000
    assert parse_time("1.5h", now) == now - 5_400_000
    with pytest.raises(ValueError, match="not a time"):
        parse_time("yesterday", now)


async def test_the_command_line_entry(duck_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parser = argparse.ArgumentParser()
    add_export_arguments(parser)
    monkeypatch.chdir(tmp_path)
    args = parser.parse_args(["--symbol", "btcusdt", "--since", str(T0 + 50 * 60_000), "--venue", "spot"])
    res = run_export(args, default_store=duck_store, now_ms=T0 + 3_600_000)
    assert res.path == Path("BTCUSDT_1m.parquet") and res.rows == 10
    assert read_parquet(tmp_path / res.path) == expected("BTCUSDT", T0 + 50 * 60_000, 1 << 62, "spot")
    args = parser.parse_args(["--symbol", "BTCUSDT", "--since", "15m", "--until", "5m", "--format", "csv", "--store",
                              str(duck_store), "--out", str(tmp_path / "w.csv")])  # fmt: skip
    res = run_export(args, default_store="elsewhere.duckdb", now_ms=T0 + 60 * 60_000)
    assert res.rows == 20 and read_csv(res.path) == expected("BTCUSDT", T0 + 45 * 60_000, T0 + 55 * 60_000)
    args = parser.parse_args(["--symbol", "BTCUSDT", "--since", "soon", "--scans"])
    with pytest.raises(ExportError, match="not a time"):
        run_export(args, default_store=duck_store, now_ms=T0)
