"""The store and History, both ways, so ``cryptoscan backtest`` reads its history from one place: imports and
downloads write into the store, the backtest loads from it.

Reads are plain SQL on the store's own klines table (a read-only DuckDB connection, or psycopg), columns
straight into numpy. Writes go through the store backend's own path (one transaction per batch, ``ON CONFLICT
DO NOTHING``), so importing the same files twice stores each bar once.

History keeps no close time (the interval implies it) and no taker buy quote volume (NULL for rows written from
a History). A quote volume, trade count or taker buy volume a source does not carry (freqtrade has none of the
three) is NULL in the store and NaN in a History. Stores written by earlier versions hold -1 there instead:
it reads back as NaN too (none of them is ever negative).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import psycopg

from cryptoscan.backtest.history import History, HistoryError
from cryptoscan.backtest.importers import ImportResult, OnError, import_histories
from cryptoscan.market.rings import (
    CLOSE,
    FIELDS,
    HIGH,
    LOW,
    OPEN,
    OPEN_TIME,
    QUOTE_VOLUME,
    TAKER_BUY_VOLUME,
    TRADES,
    VOLUME,
    FloatArray,
)
from cryptoscan.sinks.store.backend import DEFAULT_PG_SCHEMA, is_postgres, open_backend, redact
from cryptoscan.sinks.store.rows import Row
from cryptoscan.sinks.store.schema import quote
from cryptoscan.venues.binance.spec import INTERVAL_MS

_OPTIONAL = (QUOTE_VOLUME, TRADES, TAKER_BUY_VOLUME)
Span = tuple[int, int]  # first and last open time (ms), inclusive


# --- reading ------------------------------------------------------------------------------------------------


def _where(venue: str, interval: str, symbols: Collection[str] | None, since_ms: int | None,
           until_ms: int | None) -> tuple[str, list[Any]]:  # fmt: skip
    """WHERE terms with ``?`` placeholders, and their values."""
    terms = [f"{quote('venue')} = ?", f"{quote('interval')} = ?"]
    values: list[Any] = [venue, interval]
    if symbols is not None:
        terms.append(f"{quote('symbol')} IN ({', '.join('?' * len(symbols))})" if symbols else "false")
        values.extend(s.upper() for s in symbols)
    if since_ms is not None:
        terms.append(f"{quote('open_time')} >= ?")
        values.append(since_ms)
    if until_ms is not None:
        terms.append(f"{quote('open_time')} < ?")
        values.append(until_ms)
    return " AND ".join(terms), values


@contextlib.contextmanager
def _duck(path: Path) -> Iterator[duckdb.DuckDBPyConnection | None]:
    if not path.is_file():
        yield None
        return
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:  # locked by another process, or open here with other settings
        raise HistoryError(f"cannot open {path}: {str(exc).splitlines()[0]} (is a scan writing it?)") from None
    try:
        yield con
    finally:
        con.close()


def _fetch(store: str | Path, pg_schema: str, sql: str, values: list[Any],
           columns: bool = False, table: str = "klines") -> list[tuple[Any, ...]] | dict[str, Any]:  # fmt: skip
    """Rows of ``sql`` (``{table}`` stands for ``table``; ``?`` placeholders), or with ``columns`` one
    numpy array per column; empty with no store or no table."""
    if is_postgres(store):
        query = sql.format(table=f"{quote(pg_schema)}.{quote(table)}").replace("?", "%s")
        try:
            with psycopg.connect(str(store), connect_timeout=10) as conn, conn.cursor() as cur:
                cur.execute(query.encode(), values)
                rows = cur.fetchall()
                names = [d.name for d in cur.description or ()]
        except psycopg.errors.UndefinedTable:
            return {} if columns else []
        except psycopg.OperationalError as exc:
            raise HistoryError(f"cannot read {redact(str(store))}: {str(exc).strip().splitlines()[0]}") from None
        if not columns:
            return rows
        return {n: np.array([r[i] for r in rows]) for i, n in enumerate(names)} if rows else {}
    with _duck(Path(store)) as con:
        if con is None:
            return {} if columns else []
        try:
            result = con.execute(sql.format(table=quote(table)), values)
            return result.fetchnumpy() if columns else result.fetchall()
        except duckdb.CatalogException:
            return {} if columns else []


def load_history(store: str | Path, venue: str, interval: str, symbols: Collection[str] | None = None,
                 since_ms: int | None = None, until_ms: int | None = None, *,
                 pg_schema: str = DEFAULT_PG_SCHEMA) -> History:  # fmt: skip
    """The stored klines of ``venue`` and ``interval`` (every symbol, or ``symbols``) with open time in
    ``[since_ms, until_ms)``. Raises HistoryError when the store cannot be read."""
    if interval not in INTERVAL_MS:
        raise HistoryError(f"interval {interval!r} is not one cryptoscan uses ({', '.join(INTERVAL_MS)})")
    where, values = _where(venue, interval, symbols, since_ms, until_ms)
    cols = ", ".join(map(quote, ("symbol", *FIELDS)))
    got = _fetch(store, pg_schema, f"SELECT {cols} FROM {{table}} WHERE {where} ORDER BY 1, 2", values, True)
    assert isinstance(got, dict)
    if not got or not len(got["symbol"]):
        return History(venue, interval, {})
    names = np.asarray(got["symbol"]).astype(str)
    data = np.vstack([_floats(got[f]) for f in FIELDS])
    optional = data[list(_OPTIONAL)]
    optional[optional < 0] = np.nan  # "unknown" in a store written by an earlier version
    data[list(_OPTIONAL)] = optional
    starts = [0, *(np.flatnonzero(names[1:] != names[:-1]) + 1).tolist(), len(names)]
    bars = {str(names[a]): np.ascontiguousarray(data[:, a:b]) for a, b in itertools.pairwise(starts)}
    return History(venue, interval, bars)


def _floats(column: Any) -> FloatArray:
    """A fetched column as float64 with NULL as NaN (DuckDB masks NULLs; psycopg hands None)."""
    if isinstance(column, np.ma.MaskedArray):
        out: FloatArray = np.ma.filled(column.astype(np.float64), np.nan)
        return out
    a = np.asarray(column)
    if a.dtype == object:
        return np.array([np.nan if v is None else v for v in a.tolist()], np.float64)
    return a.astype(np.float64)


def missing_spans(store: str | Path, venue: str, interval: str, symbols: Collection[str], first_ms: int,
                  last_ms: int, *, pg_schema: str = DEFAULT_PG_SCHEMA) -> dict[str, list[Span]]:  # fmt: skip
    """Per symbol, the open-time spans of ``[first_ms, last_ms]`` (on the interval's grid) the store lacks:
    before the first stored bar, every hole, after the newest."""
    step = INTERVAL_MS[interval]
    where, values = _where(venue, interval, symbols, first_ms, last_ms + 1)
    t, s = quote("open_time"), quote("symbol")
    edges = _fetch(store, pg_schema, f"SELECT symbol, open_time, prev FROM (SELECT {s} AS symbol, {t} AS open_time, "
                   f"lag({t}) OVER (PARTITION BY {s} ORDER BY {t}) AS prev FROM {{table}} WHERE {where}) AS g "
                   "WHERE prev IS NULL OR open_time - prev > ? ORDER BY 1, 2", [*values, step])  # fmt: skip
    newest = dict(_fetch(store, pg_schema, f"SELECT {s}, max({t}) FROM {{table}} WHERE {where} GROUP BY 1", values))
    assert isinstance(edges, list)
    out: dict[str, list[Span]] = {sym.upper(): [] for sym in symbols}
    for sym, opened, prev in edges:
        a = first_ms if prev is None else int(prev) + step
        if int(opened) > a:
            out[sym].append((a, int(opened) - step))
    for sym, spans in out.items():
        top = newest.get(sym)
        if top is None:
            spans.append((first_ms, last_ms))
        elif int(top) < last_ms:
            spans.append((int(top) + step, last_ms))
    return out


# --- writing ------------------------------------------------------------------------------------------------


def history_rows(venue: str, interval: str, symbol: str, bars: FloatArray) -> list[Row]:
    """Store rows (the klines table's column order) for one symbol's bars."""
    step = INTERVAL_MS[interval]
    t = bars[OPEN_TIME].astype(np.int64)
    quote_vol, trades, taker = (_nullable(bars[i], as_int=i == TRADES) for i in _OPTIONAL)
    cols = (t.tolist(), (t + step - 1).tolist(), *(bars[i].tolist() for i in (OPEN, HIGH, LOW, CLOSE, VOLUME)),
            quote_vol, trades, taker)  # fmt: skip
    return [(venue, symbol, interval, *row, None) for row in zip(*cols, strict=True)]


def _nullable(values: FloatArray, *, as_int: bool) -> list[float | int | None]:
    """A field's values for the store: NaN (the source does not carry it) as NULL."""
    known: list[bool] = np.isfinite(values).tolist()
    kind = int if as_int else float
    return [kind(v) if k else None for v, k in zip(values.tolist(), known, strict=True)]


async def save_history(history: History, store: str | Path, *, pg_schema: str = DEFAULT_PG_SCHEMA,
                       batch_rows: int = 50_000) -> dict[str, int]:  # fmt: skip
    """Write every bar of ``history`` into the store; returns the rows new to it per symbol (bars already
    stored are skipped). Raises HistoryError when the store cannot be opened or written."""
    backend = open_backend(store, pg_schema=pg_schema)
    new: dict[str, int] = {}
    try:
        await backend.open()
        for symbol in history:
            rows = history_rows(history.venue, history.interval, symbol, history.bars[symbol])
            n = 0
            for i in range(0, len(rows), batch_rows):
                n += (await backend.write({"klines": rows[i:i + batch_rows]})).get("klines", 0)
            new[symbol] = n
    except (duckdb.Error, psycopg.Error, OSError) as exc:
        raise HistoryError(f"store {backend.location}: {type(exc).__name__}: {str(exc).strip()[:300]}") from None
    finally:
        await backend.close()
    return new


# --- `cryptoscan import` ---------------------------------------------------------------------------------


@dataclass(slots=True)
class ImportSummary:
    store: str  # where it went (a URL without its password)
    results: list[ImportResult]
    new: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)  # (venue, interval) -> symbol -> rows

    def lines(self) -> list[str]:
        """What a person reads after an import."""
        out = []
        for r in self.results:
            h = r.history
            new = sum(self.new.get((h.venue, h.interval), {}).values())
            out.append(f"{h.venue} {h.interval}: {len(h)} symbols, {r.total_bars} bars from {len(r.files)} files "
                       f"({new} new to {self.store}) in {r.elapsed_s:.2f} s")  # fmt: skip
            if r.micros:
                out.append(f"  {r.micros} rows had times in microseconds (converted to ms)")
            if r.skipped:
                counts = ", ".join(f"{k}: {v}" for k, v in sorted(r.skipped.items()))
                out.append(f"  skipped {sum(r.skipped.values())} rows ({counts})")
                out.extend(f"    {e}" for e in r.examples)
            if r.ignored:
                out.append(f"  left out {len(r.ignored)} files, e.g. {r.ignored[0]}")
        return out


def run_import(paths: Collection[str | Path], store_url: str | Path, venue: str | None = None,
               interval: str | None = None, symbol: str | None = None, *, on_error: OnError = "raise",
               pg_schema: str = DEFAULT_PG_SCHEMA) -> ImportSummary:  # fmt: skip
    """What ``cryptoscan import`` does: read the files, write every venue and interval found into the store.
    Raises HistoryError (a bad file or line, an unreadable store) with one line to show."""
    results = import_histories(paths, symbol=symbol, interval=interval, venue=venue, on_error=on_error)

    async def save_all() -> dict[tuple[str, str], dict[str, int]]:
        return {(r.history.venue, r.history.interval): await save_history(r.history, store_url, pg_schema=pg_schema)
                for r in results}  # fmt: skip

    return ImportSummary(redact(store_url), results, asyncio.run(save_all()))
