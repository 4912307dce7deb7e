"""The store and History both ways, on real klines: imports go in once, come back bar for bar, and the missing
spans the download resumes from are read from what is stored."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import duckdb
import numpy as np
import psycopg
import pytest

from cryptoscan.backtest.history import History, HistoryError
from cryptoscan.backtest.importers import import_history
from cryptoscan.backtest.load import load_history, missing_spans, run_import, save_history
from cryptoscan.market.rings import CLOSE, OPEN_TIME, QUOTE_VOLUME, TRADES
from cryptoscan.sinks.store.schema import RELAXED, create_statements
from sinks.store_fixtures import PG_URL, pg_schema_fixture  # noqa: F401  (the fixture, by import)

KLINES = Path(__file__).resolve().parents[3] / "shared" / "data" / "binance" / "klines"
JSON_DIR = KLINES / "freqtrade_json_1h_2021H1"
CSV_DIR = KLINES / "binance_csv_1m"
H = 3_600_000


def same(a: History, b: History) -> bool:
    return sorted(a.bars) == sorted(b.bars) and all(np.array_equal(a.bars[s], b.bars[s], equal_nan=True)
                                                    for s in a.bars)  # fmt: skip


def rows(path: Path, query: str) -> list[tuple[object, ...]]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(query).fetchall()


def test_the_json_set_goes_into_the_store_once_and_comes_back_bar_for_bar(tmp_path: Path) -> None:
    store = tmp_path / "store.duckdb"
    summary = run_import([JSON_DIR], store)
    imported = summary.results[0].history
    assert summary.new[("spot", "1h")] == summary.results[0].bars and imported.total_bars() > 200_000
    assert summary.lines()[0].startswith(f"spot 1h: 50 symbols, {imported.total_bars()} bars from 50 files "
                                         f"({imported.total_bars()} new to {store})")  # fmt: skip
    loaded = load_history(store, "spot", "1h")
    assert same(loaded, imported)  # NaN where freqtrade has no value, both ways
    # unknown fields are stored as NULL, never as a made-up value
    assert rows(store, "SELECT DISTINCT quote_volume, trades, taker_buy_volume, taker_buy_quote_volume FROM klines") \
        == [(None, None, None, None)]
    again = run_import([JSON_DIR / "BTC_USDT-1h.json", JSON_DIR / "ETH_USDT-1h.json"], store)
    assert again.new[("spot", "1h")] == {"BTCUSDT": 0, "ETHUSDT": 0}  # idempotent
    assert rows(store, "SELECT count(*) FROM klines") == [(imported.total_bars(),)]


def test_a_store_from_an_earlier_version_is_relaxed_and_its_minus_ones_read_as_unknown(tmp_path: Path) -> None:
    """Earlier versions kept quote volume, trades and taker buy volume NOT NULL with -1 for "unknown"."""
    store = tmp_path / "old.duckdb"
    ddl = create_statements("duckdb", tables=("klines",))[0]
    for name in RELAXED["klines"]:
        ddl = ddl.replace(f'"{name}" {"BIGINT" if name == "trades" else "DOUBLE"}',
                          f'"{name}" {"BIGINT" if name == "trades" else "DOUBLE"} NOT NULL')
    assert ddl.count("NOT NULL") == 13  # every column but taker_buy_quote_volume, as it was
    with duckdb.connect(str(store)) as con:
        con.execute(ddl)
        con.execute("INSERT INTO klines VALUES ('spot', 'OLDUSDT', '1h', 0, 3599999, 1, 2, 0.5, 1.5, 10, -1, -1, -1, "
                    "NULL)")  # fmt: skip
    freq = import_history([JSON_DIR / "SOL_USDT-1h.json"]).history
    assert asyncio.run(save_history(freq, store))["SOLUSDT"] == freq.total_bars()  # NULLs go in now
    loaded = load_history(store, "spot", "1h")
    assert same(History("spot", "1h", {"SOLUSDT": loaded.bars["SOLUSDT"]}), freq)
    assert np.isnan(loaded.bars["OLDUSDT"][[QUOTE_VOLUME, TRADES]]).all()


def test_a_postgres_store_from_an_earlier_version_is_relaxed_too(pg_schema: str) -> None:
    ddl = create_statements("postgresql", pg_schema, tables=("klines",))[1]
    for name in RELAXED["klines"]:
        kind = "bigint" if name == "trades" else "double precision"
        ddl = ddl.replace(f'"{name}" {kind}', f'"{name}" {kind} NOT NULL')
    assert ddl.count("NOT NULL") == 13
    with psycopg.connect(PG_URL) as conn:
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{pg_schema}"')
        conn.execute(ddl.encode())
        conn.execute(f'INSERT INTO "{pg_schema}".klines VALUES (\'spot\', \'OLDUSDT\', \'1h\', 0, 3599999, 1, 2, 0.5, '
                     "1.5, 10, -1, -1, -1, NULL)")  # fmt: skip
    freq = import_history([JSON_DIR / "SOL_USDT-1h.json"]).history
    assert asyncio.run(save_history(freq, PG_URL, pg_schema=pg_schema))["SOLUSDT"] == freq.total_bars()
    loaded = load_history(PG_URL, "spot", "1h", pg_schema=pg_schema)
    assert same(History("spot", "1h", {"SOLUSDT": loaded.bars["SOLUSDT"]}), freq)
    assert np.isnan(loaded.bars["OLDUSDT"][[QUOTE_VOLUME, TRADES]]).all()


def test_csv_bars_keep_every_field_and_close_times_follow_the_interval(tmp_path: Path) -> None:
    store = tmp_path / "store.duckdb"
    imported = import_history([CSV_DIR]).history
    assert asyncio.run(save_history(imported, store)) == {"ADABTC": 21}
    loaded = load_history(store, "spot", "1m")
    assert same(loaded, imported) and not np.isnan(loaded.bars["ADABTC"]).any()
    first_line = (CSV_DIR / "ADABTC-1m-2021-11-27.csv").read_text().split("\n", 1)[0].split(",")
    assert rows(store, "SELECT open_time, close_time, trades FROM klines ORDER BY open_time LIMIT 1") == [
        (int(first_line[0]), int(first_line[6]), int(first_line[8]))]
    assert load_history(store, "futures", "1m").bars == {} and load_history(store, "spot", "1h").bars == {}


def test_a_selection_by_symbols_and_time(tmp_path: Path) -> None:
    store = tmp_path / "store.duckdb"
    run_import([JSON_DIR / f"{p}_USDT-1h.json" for p in ("BTC", "ETH", "ADA")], store)
    t0 = 1_612_137_600_000  # 2021-02-01
    h = load_history(store, "spot", "1h", ["btcusdt", "ETHUSDT", "NOPEUSDT"], since_ms=t0, until_ms=t0 + 24 * H)
    assert sorted(h) == ["BTCUSDT", "ETHUSDT"]
    btc = h.bars["BTCUSDT"]
    assert btc[OPEN_TIME].tolist() == [t0 + i * H for i in range(24)]
    full = import_history([JSON_DIR / "BTC_USDT-1h.json"]).history.bars["BTCUSDT"]
    i0 = int(np.searchsorted(full[OPEN_TIME], t0))
    np.testing.assert_array_equal(btc[CLOSE], full[CLOSE, i0:i0 + 24])
    assert load_history(tmp_path / "none.duckdb", "spot", "1h").bars == {}  # no store yet: no history
    with pytest.raises(HistoryError, match="interval"):
        load_history(store, "spot", "2h")


def test_missing_spans_are_the_head_the_holes_and_the_tail(tmp_path: Path) -> None:
    store = tmp_path / "store.duckdb"
    run_import([JSON_DIR / "BTC_USDT-1h.json"], store)
    bars = import_history([JSON_DIR / "BTC_USDT-1h.json"]).history.bars["BTCUSDT"]
    t = bars[OPEN_TIME].astype(np.int64)
    real_holes = [(int(a) + H, int(b) - H) for a, b in itertools.pairwise(t) if b - a > H]
    with duckdb.connect(str(store)) as con:  # take out 10 bars in the middle
        con.execute("DELETE FROM klines WHERE open_time BETWEEN ? AND ?", [int(t[100]), int(t[109])])
    first, last = int(t[0]) - 5 * H, int(t[-1]) + 3 * H
    got = missing_spans(store, "spot", "1h", ["BTCUSDT", "ETHUSDT"], first, last)
    want = sorted([(first, int(t[0]) - H), (int(t[100]), int(t[109])), *real_holes, (int(t[-1]) + H, last)])
    assert got == {"BTCUSDT": want, "ETHUSDT": [(first, last)]}
    inside = missing_spans(store, "spot", "1h", ["BTCUSDT"], int(t[10]), int(t[20]))
    assert inside == {"BTCUSDT": []}


def test_postgres_holds_the_same_history(pg_schema: str, tmp_path: Path) -> None:
    imported = import_history([CSV_DIR]).history
    asyncio.run(save_history(imported, PG_URL, pg_schema=pg_schema))
    freq = import_history([JSON_DIR / "SOL_USDT-1h.json"]).history
    asyncio.run(save_history(freq, PG_URL, pg_schema=pg_schema))
    assert same(load_history(PG_URL, "spot", "1m", pg_schema=pg_schema), imported)
    loaded = load_history(PG_URL, "spot", "1h", pg_schema=pg_schema)
    assert same(loaded, freq) and np.isnan(loaded.bars["SOLUSDT"][[QUOTE_VOLUME, TRADES]]).all()
    t = freq.bars["SOLUSDT"][OPEN_TIME]
    assert missing_spans(PG_URL, "spot", "1h", ["SOLUSDT"], int(t[0]), int(t[-1]), pg_schema=pg_schema) == {
        "SOLUSDT": [(int(a) + H, int(b) - H) for a, b in itertools.pairwise(t) if b - a > H]}
    with pytest.raises(HistoryError, match=r"cannot read postgresql://u:\*\*\*@127\.0\.0\.1:1/"):
        load_history("postgresql://u:pw@127.0.0.1:1/test", "spot", "1h")
