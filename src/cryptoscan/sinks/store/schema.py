"""The store's schema, described once; each backend's DDL and INSERT statements are generated from it.

Times are epoch milliseconds (``BIGINT``), as everywhere in cryptoscan. JSON columns are ``JSON`` in DuckDB and
``jsonb`` in PostgreSQL. Every table has a primary key, so a replayed row (a closed kline delivered twice, a
batch resent after a lost acknowledgement) is not stored twice: inserts are ``ON CONFLICT DO NOTHING``.

The primary keys lead with (venue, symbol) and end with the time column: that is the index by symbol and time.
PostgreSQL also gets an index on the time column of the tables read by time across symbols (scans, alerts);
DuckDB does not need one: rows arrive in time order, so its per-block min/max (zonemaps) already prune by time,
and every extra index slows its inserts.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Literal

Dialect = Literal["duckdb", "postgresql"]


class Kind(enum.Enum):
    TEXT = "text"
    INT = "int"
    BIGINT = "bigint"
    DOUBLE = "double"
    JSON = "json"


SQL_TYPES: dict[Dialect, dict[Kind, str]] = {
    "duckdb": {Kind.TEXT: "VARCHAR", Kind.INT: "INTEGER", Kind.BIGINT: "BIGINT", Kind.DOUBLE: "DOUBLE",
               Kind.JSON: "JSON"},
    "postgresql": {Kind.TEXT: "text", Kind.INT: "integer", Kind.BIGINT: "bigint", Kind.DOUBLE: "double precision",
                   Kind.JSON: "jsonb"},
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    kind: Kind
    nullable: bool = False


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]  # primary key, (venue, symbol, ..., time)
    time: str  # the column exports and range queries filter on
    time_index: bool = False  # PostgreSQL: also index the time column alone

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


def _cols(kind: Kind, *names: str) -> tuple[Column, ...]:
    return tuple(Column(n, kind) for n in names)


T, B, D, J = Kind.TEXT, Kind.BIGINT, Kind.DOUBLE, Kind.JSON

KLINES = Table(
    "klines",
    (*_cols(T, "venue", "symbol", "interval"), *_cols(B, "open_time", "close_time"),
     *_cols(D, "open", "high", "low", "close", "volume"), Column("quote_volume", D, nullable=True),
     Column("trades", B, nullable=True), Column("taker_buy_volume", D, nullable=True),
     Column("taker_buy_quote_volume", D, nullable=True)),  # NULL: a source without them (freqtrade)
    key=("venue", "symbol", "interval", "open_time"),
    time="open_time",
)  # fmt: skip

TICKERS = Table(
    "tickers",
    (*_cols(T, "venue", "symbol"), Column("ts", B),
     *_cols(D, "last", "open", "high", "low", "volume", "quote_volume", "price_change_pct")),
    key=("venue", "symbol", "ts"),
    time="ts",
)  # fmt: skip

SCANS = Table(
    "scans",
    (Column("ts", B), *_cols(T, "venue", "symbol", "interval"), Column("rank", Kind.INT), Column("level", T),
     *_cols(D, "momentum", "probability", "composite", "price", "volume_24h"), Column("updated_ms", B),
     *_cols(J, "components", "factors", "indicators")),
    key=("venue", "symbol", "ts"),
    time="ts",
    time_index=True,
)  # fmt: skip

ALERTS = Table(
    "alerts",
    (Column("ts", B), *_cols(T, "venue", "symbol", "level", "kind", "message"), Column("payload", J, nullable=True)),
    key=("venue", "symbol", "kind", "ts"),
    time="ts",
    time_index=True,
)

OUTCOMES = Table(
    "outcomes",
    (Column("ts", B), *_cols(T, "venue", "symbol", "level"), Column("horizon_h", Kind.INT), Column("entry", D),
     Column("hit", Kind.INT), Column("max_gain_pct", D, nullable=True), Column("max_drawdown_pct", D, nullable=True),
     *_cols(B, "time_to_hit_ms", "resolved_ms")),
    key=("venue", "symbol", "horizon_h", "ts"),
    time="ts",
    time_index=True,
)  # fmt: skip
"""Live tracking: each alert's outcome per horizon (``hit`` 1 or 0), written once it is known."""

RELAXED: dict[str, tuple[str, ...]] = {"klines": ("quote_volume", "trades", "taker_buy_volume")}
"""Columns that were NOT NULL in stores made by earlier versions: opening a store relaxes them."""

TABLES: dict[str, Table] = {t.name: t for t in (KLINES, TICKERS, SCANS, ALERTS, OUTCOMES)}
"""Every table, in the order a batch writes them."""


def quote(name: str) -> str:
    """A double-quoted identifier (``interval``, ``open``, ``close`` are keywords in one dialect or the other)."""
    return '"' + name.replace('"', '""') + '"'


def create_statements(dialect: Dialect, schema: str | None = None, tables: tuple[str, ...] | None = None) -> list[str]:
    """``CREATE ... IF NOT EXISTS`` for the tables (default: all; on PostgreSQL, the schema and time indexes too)."""
    types = SQL_TYPES[dialect]
    prefix = f"{quote(schema)}." if schema else ""
    out = [f"CREATE SCHEMA IF NOT EXISTS {quote(schema)}"] if schema else []
    for t in (TABLES[n] for n in tables or TABLES):
        cols = [f"{quote(c.name)} {types[c.kind]}{'' if c.nullable else ' NOT NULL'}" for c in t.columns]
        cols.append(f"PRIMARY KEY ({', '.join(map(quote, t.key))})")
        out.append(f"CREATE TABLE IF NOT EXISTS {prefix}{quote(t.name)} (\n  " + ",\n  ".join(cols) + "\n)")
        # A store made before a column became nullable (earlier versions kept the klines' optional fields NOT
        # NULL, with -1 for "unknown"): relax it in place; a no-op on a new table, in both dialects.
        out += [f"ALTER TABLE {prefix}{quote(t.name)} ALTER COLUMN {quote(c.name)} DROP NOT NULL"
                for c in t.columns if c.nullable and c.name in RELAXED.get(t.name, ())]
        if dialect == "postgresql" and t.time_index:
            out.append(f"CREATE INDEX IF NOT EXISTS {quote(f'{t.name}_{t.time}_idx')} "
                       f"ON {prefix}{quote(t.name)} ({quote(t.time)})")  # fmt: skip
    return out


def column_list(table: Table) -> str:
    return ", ".join(map(quote, table.names))
