"""``cryptoscan export`` through the real CLI entry: klines written by the store sink come back as csv."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from cryptoscan.cli import main
from cryptoscan.events import Kline
from cryptoscan.sinks.store.sink import StoreSink

MIN = 60_000
T0 = 1_700_000_040_000 // MIN * MIN


def kline(i: int, close: float) -> Kline:
    t = T0 + i * MIN
    return Kline("spot", "BTCUSDT", "1m", t, t + MIN - 1, close, close + 1, close - 1, close, 2.0, 2 * close, 7,
                 1.0, close, True, 0, 0, t + MIN, t + MIN)  # fmt: skip


async def test_export_csv_round_trip_and_a_bad_time(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "store.duckdb"
    async with StoreSink(db) as sink:
        for i in range(30):
            sink.offer(kline(i, 100.0 + i))
        assert await sink.flush(10.0)
    out = tmp_path / "btc.csv"
    rc = main(["export", "--symbol", "btcusdt", "--since", str(T0 + 10 * MIN), "--until", str(T0 + 20 * MIN),
               "--format", "csv", "--out", str(out), "--store", str(db)])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    assert capsys.readouterr().out.strip() == f"cryptoscan export: 10 rows to {out}"
    rows = list(csv.DictReader(out.open()))
    assert [float(r["close"]) for r in rows] == [100.0 + i for i in range(10, 20)]
    rc = main(["export", "--symbol", "BTCUSDT", "--since", "yesterday-ish", "--store", str(db)])
    err = capsys.readouterr().err
    assert rc == 1 and len(err.splitlines()) == 1 and err.startswith("cryptoscan export: ")
