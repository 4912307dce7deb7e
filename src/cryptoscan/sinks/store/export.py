"""``cryptoscan export``: one symbol's klines (or scan rows) over a time range, to Parquet or CSV, for research.

From a DuckDB file, DuckDB writes the file itself (``COPY (SELECT ...) TO ... (FORMAT PARQUET)``); from
PostgreSQL, CSV comes straight from the server (``COPY ... TO STDOUT``) and Parquet goes through an in-memory
DuckDB, so no Arrow or pandas is needed. The file appears whole: it is written as ``FILE.part`` and renamed.
Columns are the store's (:mod:`.schema`), times in epoch ms, rows ordered by venue then time.

A DuckDB file has one writer process and takes no reader beside it: export from it while no scan writes it
(stop the scan, or point the store at PostgreSQL).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import duckdb
import psycopg
from psycopg import sql

from cryptoscan.sinks.store.backend import DEFAULT_PG_SCHEMA, is_postgres, redact
from cryptoscan.sinks.store.duck import insert_rows
from cryptoscan.sinks.store.schema import TABLES, Kind, Table, create_statements, quote

Format = Literal["parquet", "csv"]
FORMATS: tuple[Format, ...] = ("parquet", "csv")
_CHUNK = 50_000
_UNITS_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


class ExportError(Exception):
    """An export that cannot run, phrased as one line."""


@dataclass(frozen=True, slots=True)
class ExportResult:
    rows: int
    path: Path


def _filters(table: Table, symbol: str, since_ms: int, until_ms: int | None, venue: str | None,
             interval: str) -> tuple[list[str], list[object]]:  # fmt: skip
    """WHERE terms (``?`` placeholders) and their values."""
    terms, values = [f"{quote('symbol')} = ?", f"{quote(table.time)} >= ?"], [symbol.upper(), since_ms]
    if until_ms is not None:
        terms.append(f"{quote(table.time)} < ?")
        values.append(until_ms)
    if venue is not None:
        terms.append(f"{quote('venue')} = ?")
        values.append(venue)
    if table.name == "klines":
        terms.append(f"{quote('interval')} = ?")
        values.append(interval)
    return terms, values


def _select(table: Table, terms: list[str], source: str, json_as_text: bool = False) -> str:
    cols = ", ".join(f"{quote(c.name)}::text AS {quote(c.name)}" if json_as_text and c.kind is Kind.JSON
                     else quote(c.name) for c in table.columns)  # fmt: skip
    return (f"SELECT {cols} FROM {source} WHERE {' AND '.join(terms)} "
            f"ORDER BY {quote('venue')}, {quote(table.time)}")  # fmt: skip


def _copy_options(fmt: Format) -> str:
    return "(FORMAT PARQUET)" if fmt == "parquet" else "(FORMAT CSV, HEADER)"


def _literal_path(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def export(
    store: str | Path,
    symbol: str,
    since_ms: int,
    until_ms: int | None,
    fmt: Format,
    out_path: str | Path,
    *,
    venue: str | None = None,
    interval: str = "1m",
    scans: bool = False,
    pg_schema: str = DEFAULT_PG_SCHEMA,
) -> ExportResult:
    """Write ``symbol``'s klines of ``interval`` (or, with ``scans``, its scan rows) with time in
    ``[since_ms, until_ms)`` to ``out_path``; returns the rows written. Raises :class:`ExportError`."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r} (parquet or csv)")
    table = TABLES["scans" if scans else "klines"]
    out = Path(out_path)
    part = out.with_name(out.name + ".part")
    terms, values = _filters(table, symbol, since_ms, until_ms, venue, interval)
    try:
        if is_postgres(store):
            rows = _from_postgres(str(store), pg_schema, table, terms, values, fmt, part)
        else:
            rows = _from_duckdb(Path(store), table, terms, values, fmt, part)
    except BaseException:
        with contextlib.suppress(OSError):
            part.unlink()
        raise
    os.replace(part, out)
    return ExportResult(rows, out)


def _from_duckdb(path: Path, table: Table, terms: list[str], values: list[object], fmt: Format, part: Path) -> int:
    if not path.is_file():
        raise ExportError(f"no store at {path}")
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:  # locked by another process, or open here with other settings
        raise ExportError(f"cannot open {path}: {str(exc).splitlines()[0]} (is a scan writing it?)") from None
    try:
        query = _select(table, terms, quote(table.name))
        got = con.execute(f"COPY ({query}) TO {_literal_path(part)} {_copy_options(fmt)}", values).fetchone()
        return int(got[0]) if got else 0
    except duckdb.CatalogException:
        raise ExportError(f"{path} is not a cryptoscan store (no {table.name} table)") from None
    finally:
        con.close()


def _from_postgres(url: str, schema: str, table: Table, terms: list[str], values: list[object], fmt: Format,
                   part: Path) -> int:  # fmt: skip
    source = f"{quote(schema)}.{quote(table.name)}"
    try:
        with psycopg.connect(url, connect_timeout=10) as conn:
            if fmt == "csv":
                # COPY takes no parameters: the values go in as quoted literals
                query = sql.SQL(_select(table, terms, source).replace("?", "{}")).format(*map(sql.Literal, values))
                stmt = sql.SQL("COPY ({}) TO STDOUT (FORMAT csv, HEADER)").format(query)
                with conn.cursor() as cur, open(part, "wb") as fh:
                    with cur.copy(stmt) as cp:
                        for chunk in cp:
                            fh.write(chunk)
                    return max(0, cur.rowcount)  # COPY's own count, known once it finished
            return _postgres_to_parquet(conn, table, _select(table, terms, source, json_as_text=True), values, part)
    except psycopg.OperationalError as exc:
        raise ExportError(f"cannot read {redact(url)}: {str(exc).strip().splitlines()[0]}") from None
    except psycopg.errors.UndefinedTable:
        raise ExportError(f"{redact(url)}: no table {schema}.{table.name}") from None


def _postgres_to_parquet(conn: psycopg.Connection[tuple[object, ...]], table: Table, query: str,
                         values: list[object], part: Path) -> int:  # fmt: skip
    mem = duckdb.connect(":memory:")
    try:
        for stmt in create_statements("duckdb", tables=(table.name,)):
            mem.execute(stmt)
        with conn.cursor(name="cs_export") as cur:
            cur.execute(query.replace("?", "%s").encode(), values)
            while rows := cur.fetchmany(_CHUNK):
                insert_rows(mem, table.name, rows)
        got = mem.execute(f"COPY ({_select(table, ['true'], quote(table.name))}) TO {_literal_path(part)} "
                          f"{_copy_options('parquet')}").fetchone()  # fmt: skip
        return int(got[0]) if got else 0
    finally:
        mem.close()


# --- the command line ---------------------------------------------------------------------------------------


def parse_time(text: str, now_ms: int) -> int:
    """Epoch ms from ``1700000000000``, an ISO date or time (UTC unless it has an offset), or an age: ``90m``,
    ``6h``, ``7d``, ``2w`` (before ``now_ms``). Raises ValueError."""
    text = text.strip()
    if re.fullmatch(r"\d{10,}", text):
        return int(text) if len(text) > 10 else int(text) * 1000
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([smhdw])", text)
    if m:
        return now_ms - round(float(m.group(1)) * _UNITS_MS[m.group(2)])
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not a time (epoch ms, ISO date/time, or an age like 6h or 7d): {text!r}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return round(when.timestamp() * 1000)


def add_export_arguments(p: argparse.ArgumentParser) -> None:
    add = p.add_argument
    add("--symbol", required=True, metavar="SYMBOL", help="e.g. BTCUSDT")
    add("--since", required=True, metavar="TIME", help="epoch ms, ISO date/time (UTC), or an age: 90m, 6h, 7d")
    add("--until", metavar="TIME", help="end, exclusive (same forms; default: now)")
    add("--format", dest="fmt", choices=FORMATS, default="parquet", help="file format (default: parquet)")
    add("--out", type=Path, metavar="FILE", help="where to write (default: SYMBOL_INTERVAL.FORMAT)")
    add("--venue", choices=("spot", "futures"), help="one venue (default: both)")
    add("--interval", default="1m", help="kline interval (default: 1m)")
    add("--scans", action="store_true", help="export the scanner's rows for the symbol instead of klines")
    add("--store", metavar="PATH|URL", help="a DuckDB file or a postgresql:// URL (default: the configured store)")


def run_export(args: argparse.Namespace, *, default_store: str | Path, now_ms: int,
               pg_schema: str = DEFAULT_PG_SCHEMA) -> ExportResult:  # fmt: skip
    """What ``cryptoscan export`` does with the flags of :func:`add_export_arguments`; raises ExportError."""
    try:
        since = parse_time(args.since, now_ms)
        until = None if args.until is None else parse_time(args.until, now_ms)
    except ValueError as exc:
        raise ExportError(str(exc)) from None
    symbol = args.symbol.strip().upper()
    out = args.out or Path(f"{symbol}_{'scans' if args.scans else args.interval}.{args.fmt}")
    return export(args.store or default_store, symbol, since, until, args.fmt, out, venue=args.venue,
                  interval=args.interval, scans=args.scans, pg_schema=pg_schema)  # fmt: skip
