"""The store's schema on both backends, the event-to-row mapping, the ticker sampler and the row buffer."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pytest
from store_fixtures import (
    T0,
    kline,
    mini,
    pg_backend,
    pg_rows,
    pg_schema_fixture,  # noqa: F401
    ticker,
)

from cryptoscan.market.snapshot import KlineWindow
from cryptoscan.sinks.store.backend import is_postgres, open_backend, redact
from cryptoscan.sinks.store.buffer import RowBuffer
from cryptoscan.sinks.store.duck import DuckDBBackend
from cryptoscan.sinks.store.pg import PostgresBackend
from cryptoscan.sinks.store.rows import TickerSampler, alert_row, kline_row, ticker_row, window_rows
from cryptoscan.sinks.store.schema import TABLES, Kind, create_statements

LOGICAL = {  # what each backend reports for a column type, mapped back to the schema's kinds
    "VARCHAR": Kind.TEXT, "INTEGER": Kind.INT, "BIGINT": Kind.BIGINT, "DOUBLE": Kind.DOUBLE, "JSON": Kind.JSON,
    "text": Kind.TEXT, "integer": Kind.INT, "bigint": Kind.BIGINT, "double precision": Kind.DOUBLE, "jsonb": Kind.JSON,
}  # fmt: skip
COLUMNS_Q = ("SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns "
             "WHERE table_schema = '{}' ORDER BY table_name, ordinal_position")  # fmt: skip


def described(rows: list[tuple[str, str, str, str]]) -> dict[str, list[tuple[str, Kind, bool]]]:
    out: dict[str, list[tuple[str, Kind, bool]]] = {}
    for table, column, dtype, nullable in rows:
        out.setdefault(table, []).append((column, LOGICAL[dtype], nullable == "YES"))
    return out


def expected() -> dict[str, list[tuple[str, Kind, bool]]]:
    return {t.name: [(c.name, c.kind, c.nullable) for c in t.columns] for t in TABLES.values()}


async def test_both_backends_hold_the_same_tables_columns_types_and_keys(tmp_path: Path, pg_schema: str) -> None:
    duck = DuckDBBackend(tmp_path / "s.duckdb")
    pg = pg_backend(pg_schema)
    for b in (duck, pg):
        await b.open()
        await b.open()  # idempotent
    await duck.close()
    await pg.close()
    con = duckdb.connect(str(tmp_path / "s.duckdb"), read_only=True)
    try:
        in_duck = described(con.execute(COLUMNS_Q.format("main")).fetchall())
        duck_keys = {t: sorted(c) for t, c in con.execute(
            "SELECT table_name, constraint_column_names FROM duckdb_constraints() WHERE constraint_type = 'PRIMARY KEY'"
        ).fetchall()}  # fmt: skip
    finally:
        con.close()
    in_pg = described(await pg_rows(pg_schema, COLUMNS_Q.format(pg_schema)))
    assert in_duck == in_pg == expected()
    pg_keys: dict[str, list[str]] = {}
    for table, column in await pg_rows(pg_schema, (
        "SELECT tc.table_name, kcu.column_name FROM information_schema.table_constraints tc "
        "JOIN information_schema.key_column_usage kcu USING (constraint_schema, constraint_name) "
        f"WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_schema = '{pg_schema}'")):  # fmt: skip
        pg_keys.setdefault(table, []).append(column)
    want = {t.name: sorted(t.key) for t in TABLES.values()}
    assert duck_keys == want
    assert {t: sorted(c) for t, c in pg_keys.items()} == want
    indexes = {r[0] for r in await pg_rows(pg_schema, f"SELECT indexname FROM pg_indexes WHERE schemaname = "
                                                      f"'{pg_schema}'")}  # fmt: skip
    assert {"scans_ts_idx", "alerts_ts_idx"} <= indexes


def test_ddl_quotes_keywords_and_has_a_key_per_table() -> None:
    for dialect in ("duckdb", "postgresql"):
        stmts = "\n".join(create_statements(dialect))  # type: ignore[arg-type]
        assert stmts.count("PRIMARY KEY") == len(TABLES)
        assert '"interval"' in stmts and '"open"' in stmts
    assert not any("INDEX" in s for s in create_statements("duckdb"))


def test_locations_pick_the_backend_and_hide_passwords(tmp_path: Path) -> None:
    assert isinstance(open_backend(tmp_path / "x.duckdb"), DuckDBBackend)
    assert isinstance(open_backend("data/cs.duckdb"), DuckDBBackend)
    pg = open_backend("postgresql://u:secret@db:5432/x", pg_schema="s1")
    assert isinstance(pg, PostgresBackend) and pg.schema == "s1" and "secret" not in pg.location
    assert is_postgres("postgres://h/db") and not is_postgres(tmp_path)
    assert redact("postgresql://u:pw@h/db") == "postgresql://u:***@h/db"
    assert redact("postgresql://h/db") == "postgresql://h/db"
    with pytest.raises(ValueError, match="unsupported URL scheme 'mysql'"):
        open_backend("mysql://h/db")


def test_rows_follow_the_schema_column_order() -> None:
    k = kline(3)
    row = kline_row(k)
    assert len(row) == len(TABLES["klines"].columns)
    assert dict(zip(TABLES["klines"].names, row, strict=True)) == {
        "venue": "spot", "symbol": "BTCUSDT", "interval": "1m", "open_time": k.open_time,
        "close_time": k.close_time, "open": k.open, "high": k.high, "low": k.low, "close": k.close,
        "volume": k.volume, "quote_volume": k.quote_volume, "trades": k.trades,
        "taker_buy_volume": k.taker_buy_volume, "taker_buy_quote_volume": k.taker_buy_quote_volume,
    }  # fmt: skip
    t = ticker_row(ticker(T0))
    assert len(t) == len(TABLES["tickers"].columns) and t[2:4] == (T0, 101.0) and t[-1] == 1.0
    m = ticker_row(mini(T0))
    assert m[0] == "futures" and m[3] == 102.0 and m[-1] == pytest.approx(2.0)  # change computed from open
    a = alert_row(T0, "spot", "BTCUSDT", "ALTA", "level_up", "up", {"score": 71.5})
    assert len(a) == len(TABLES["alerts"].columns) and a[-1] == '{"score":71.5}'
    assert alert_row(T0, "spot", "X", "ALTA", "k", "m")[-1] is None


def test_ring_rows_imply_the_close_time_and_leave_taker_quote_volume_null() -> None:
    rows = np.array([[T0, T0 + 60_000], [1, 2], [3, 4], [0.5, 1], [2, 3], [10, 11], [100, 110], [5, 6], [4, 5]],
                    dtype=np.float64)  # fmt: skip
    out = window_rows("spot", "ETHUSDT", "1m", KlineWindow(rows))
    assert out[1] == ("spot", "ETHUSDT", "1m", T0 + 60_000, T0 + 119_999, 2.0, 4.0, 1.0, 3.0, 11.0, 110.0, 6, 5.0,
                      None)  # fmt: skip
    assert all(len(r) == len(TABLES["klines"].columns) for r in out)


def test_sampler_keeps_one_ticker_per_pair_per_period_by_exchange_time() -> None:
    s = TickerSampler(every_ms=60_000, max_pairs=2)
    assert s.take(ticker(T0))
    assert not s.take(ticker(T0 + 59_999))
    assert s.take(mini(T0 + 30_000))  # another venue: its own budget
    assert not s.take(mini(T0 + 60_000))
    assert s.take(ticker(T0 + 60_000))
    assert not s.take(ticker(T0 + 120_000, window="1h"))  # rolling windows are not sampled
    assert s.take(ticker(T0, symbol="ETHUSDT"))  # a third pair: the oldest is forgotten (bounded)
    assert s.take(ticker(T0 + 60_001))  # forgotten, so sampled again


def test_buffer_bounds_each_table_and_keeps_rows_until_done() -> None:
    b = RowBuffer({"klines": 3, "tickers": 2})
    for i in range(5):
        b.add("klines", (i,))
    b.add("tickers", ("t",))
    assert b.dropped == {"klines": 2, "tickers": 0} and b.pending == 4 and b.waiting == 4
    batch = b.take(2)
    assert batch == {"klines": [(2,), (3,)]} and b.pending == 4 and b.waiting == 2
    b.add("klines", (5,))
    b.add("klines", (6,))  # the fifo holds (4,), (5,), (6,): full
    b.restore(batch)  # back in front, over the bound: the oldest go
    assert list(b.fifos["klines"]) == [(4,), (5,), (6,)] and b.dropped["klines"] == 4
    assert b.pending == 4 == b.waiting
    batch = b.take(10)
    assert batch == {"klines": [(4,), (5,), (6,)], "tickers": [("t",)]}
    b.done(batch)
    assert b.pending == 0 and not b.has_work
    with pytest.raises(ValueError):
        RowBuffer({"klines": 0})
