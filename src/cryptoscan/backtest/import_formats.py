"""One kline file per call (Binance public-data CSV text, freqtrade JSON bytes, a freqtrade feather file) to
(NFIELDS, n) bars, and the row checks every importer applies.

A row is kept or reported, never dropped unseen: :class:`Tally` raises HistoryError at the first bad row (its
file and line, or row for JSON and feather) or, when skipping, counts it by reason and keeps the first places.
Fast paths (Arrow's CSV reader, msgspec's typed decode, Arrow's feather reader) read a sound file; only a file
with a problem is read again row by row, to say exactly where.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import msgspec
import numpy as np
import numpy.typing as npt
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]
import pyarrow.csv as pa_csv  # type: ignore[import-untyped]
from pyarrow import feather

from cryptoscan.backtest.history import HistoryError, empty_bars, freqtrade_json_decode
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

OnError = Literal["raise", "skip"]
Locate = Callable[[int], str]
BoolArray = npt.NDArray[np.bool_]

MAX_EXAMPLES = 5
BINANCE_COLUMNS = ("open_time", "open", "high", "low", "close", "volume", "close_time", "quote_volume", "count",
                   "taker_buy_volume", "taker_buy_quote_volume", "ignore")  # fmt: skip
MICROS = 10**14  # a time at or above this is in microseconds (ms times reach it in the year 5138)
NANOS = 10**17
FEATHER_COLUMNS = ("date", "open", "high", "low", "close", "volume")


@dataclass(slots=True)
class Tally:
    """Where bad rows and files go: raised (``raise``), or counted by reason with the first places (``skip``)."""

    on_error: OnError = "raise"
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> rows
    examples: list[str] = field(default_factory=list)  # "file line N: what", the first MAX_EXAMPLES
    bad_files: list[str] = field(default_factory=list)  # files skipped whole (skip mode only)
    micros: int = 0  # rows whose times came in microseconds (converted to ms)

    def rows(self, kind: str, places: list[str], n: int) -> None:
        """``n`` bad rows of one kind; ``places`` describe the first of them."""
        if n <= 0:
            return
        if self.on_error == "raise":
            more = f" (and {n - 1} more like it)" if n > 1 else ""
            raise HistoryError(f"{places[0]}{more}; on_error='skip' drops bad rows and counts them")
        self.skipped[kind] += n
        self.examples.extend(places[: MAX_EXAMPLES - len(self.examples)])

    def file(self, where: str, reason: str) -> None:
        if self.on_error == "raise":
            raise HistoryError(f"{where}: {reason}")
        self.bad_files.append(f"{where}: {reason}")


def _mask(x: object) -> BoolArray:
    return np.asarray(x, dtype=np.bool_)


def _first_bad(bars: FloatArray, close_time: FloatArray | None, i: int) -> str:
    """The name of the first field of row ``i`` that is not a finite number."""
    row = [*bars[OPEN_TIME:VOLUME + 1, i].tolist(), *([] if close_time is None else [float(close_time[i])])]
    names = [*FIELDS[OPEN_TIME:VOLUME + 1], "close_time"]
    return next((n for n, v in zip(names, row, strict=False) if not np.isfinite(v)), "a value")


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# --- the checks -------------------------------------------------------------------------------------------


def check_rows(bars: FloatArray, step: int, interval: str, locate: Locate, tally: Tally,
               close_time: FloatArray | None = None) -> FloatArray:  # fmt: skip
    """The rows of ``bars`` that are sound klines of ``interval``, in file order; the others go to ``tally``."""
    n = bars.shape[1]
    t, o, h, lo, c = bars[OPEN_TIME], bars[OPEN], bars[HIGH], bars[LOW], bars[CLOSE]
    nan = _mask(~np.isfinite(bars[OPEN_TIME:VOLUME + 1]).all(axis=0))
    if close_time is not None:
        nan |= ~np.isfinite(close_time)
    ok = ~nan
    with np.errstate(invalid="ignore"):
        checks: list[tuple[str, BoolArray, Callable[[int], str]]] = [
            ("not a number", nan, lambda i: f"{_first_bad(bars, close_time, i)} is not a finite number"),
            ("off the interval grid", _mask(ok & (t % step != 0)),
             lambda i: f"open time {int(t[i])} is not on the {interval} grid"),
            ("non-positive price", _mask(ok & (bars[OPEN:CLOSE + 1] <= 0).any(axis=0)),
             lambda i: "a price is not positive"),
            ("high/low inconsistent", _mask(ok & ((h < np.maximum(o, c)) | (lo > np.minimum(o, c)))),
             lambda i: f"high {h[i]:g} and low {lo[i]:g} do not bound open {o[i]:g} and close {c[i]:g}"),
            ("negative volume", _mask(ok & (bars[[VOLUME, QUOTE_VOLUME, TRADES, TAKER_BUY_VOLUME]] < 0).any(axis=0)),
             lambda i: "a volume or trade count is negative"),
        ]  # fmt: skip
        if close_time is not None:
            ct = close_time
            checks.append(("close time mismatch", _mask(ok & (ct != t + step - 1)),
                           lambda i: f"close time {int(ct[i])} is not open time + {interval} - 1 ms"))  # fmt: skip
    bad = np.zeros(n, dtype=np.bool_)
    for _, mask, _ in checks:
        bad |= mask
    kept = np.flatnonzero(~bad)
    tk = t[kept]
    before = np.maximum.accumulate(np.concatenate(([-np.inf], tk[:-1]))) if tk.size else tk
    order = np.zeros(n, dtype=np.bool_)
    order[kept[tk <= before]] = True
    checks.append(("out of order or repeated", order,
                   lambda i: f"open time {int(t[i])} is not after the rows before it"))  # fmt: skip
    bad |= order
    if not bad.any():
        return bars
    if tally.on_error == "raise":
        first = int(np.flatnonzero(bad)[0])
        kind, _, detail = next(ch for ch in checks if ch[1][first])
        tally.rows(kind, [f"{locate(first)}: {detail(first)}"], int(bad.sum()))
    taken = np.zeros(n, dtype=np.bool_)
    for kind, mask, detail in checks:
        mine = mask & ~taken
        idx = np.flatnonzero(mine)
        tally.rows(kind, [f"{locate(int(i))}: {detail(int(i))}" for i in idx[:MAX_EXAMPLES]], int(idx.size))
        taken |= mine
    out: FloatArray = bars[:, ~bad]
    return out


# --- Binance public-data CSV ------------------------------------------------------------------------------


def binance_csv(data: bytes, label: str, tally: Tally) -> tuple[FloatArray, FloatArray, Locate] | None:
    """Kline CSV bytes as Binance publishes them (12 columns, header or not, ms or µs times): bars, their close
    times in ms, and where each row came from. None if the file is not one (skip mode; raise mode raises)."""
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n")
    data = data.removeprefix(b"\xef\xbb\xbf")
    first_line = data.split(b"\n", 1)[0].decode("utf-8", "replace").strip()
    header = 0
    if first_line and not _numeric(first_line.split(",", 1)[0]):
        names = tuple(x.strip().lower() for x in first_line.split(","))
        if names[:11] != BINANCE_COLUMNS[:11]:
            tally.file(f"{label} line 1", f"not Binance's kline header ({','.join(BINANCE_COLUMNS)})")
            return None
        header = 1
    raw: FloatArray | None = None
    if b"\n\n" not in data.strip(b"\n"):  # no blank line: row i is line header + i + 1
        raw = _csv_fast(data, header)

    def fast(i: int) -> str:
        return f"{label} line {i + header + 1}"

    locate: Locate = fast
    if raw is None:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            tally.file(label, f"not text: {exc}")
            return None
        raw, lines = _csv_lines(text, header, label, tally)

        def locate(i: int) -> str:
            return f"{label} line {lines[i]}"

    t, close = raw[:, 0].copy(), raw[:, 6].copy()
    tally.micros += int(np.count_nonzero(t >= MICROS))
    for a in (t, close):
        us = a >= MICROS
        a[us] = np.floor(a[us] / 1000)
    bars = empty_bars(raw.shape[0])
    bars[OPEN_TIME] = t
    bars[OPEN:VOLUME + 1] = raw[:, 1:6].T
    bars[QUOTE_VOLUME], bars[TRADES], bars[TAKER_BUY_VOLUME] = raw[:, 7], raw[:, 8], raw[:, 9]
    return bars, close, locate


_CSV_READ = {"column_names": list(BINANCE_COLUMNS), "use_threads": False}
_CSV_CONVERT = pa_csv.ConvertOptions(column_types=dict.fromkeys(BINANCE_COLUMNS[:11], pa.float64()),
                                     include_columns=list(BINANCE_COLUMNS[:11]), null_values=[])  # fmt: skip


def _csv_fast(data: bytes, header: int) -> FloatArray | None:
    """Arrow's CSV reader (times as float64 are exact, µs included); None when any row is not sound."""
    if not data[len(data.split(b"\n", 1)[0]) + 1 if header else 0:].strip():
        return np.empty((0, 11))
    try:
        table = pa_csv.read_csv(io.BytesIO(data), read_options=pa_csv.ReadOptions(skip_rows=header, **_CSV_READ),
                                convert_options=_CSV_CONVERT)  # fmt: skip
    except pa.ArrowException:
        return None  # read it again line by line, to say where
    return np.column_stack([table.column(c).to_numpy() for c in BINANCE_COLUMNS[:11]]).astype(np.float64)


def _csv_lines(text: str, header: int, label: str, tally: Tally) -> tuple[FloatArray, list[int]]:
    """The slow, exact reading: every line on its own, each bad one reported with its number."""
    rows: list[list[float]] = []
    lines: list[int] = []
    for ln, line in enumerate(text.split("\n"), 1):
        if ln <= header or not line.strip():
            continue
        parts = line.split(",")
        if len(parts) < 11:
            tally.rows("wrong column count", [f"{label} line {ln}: {len(parts)} columns, expected 12"], 1)
            continue
        try:
            rows.append([float(x) for x in parts[:11]])
        except ValueError:
            j = next(j for j, x in enumerate(parts[:11]) if not _numeric(x))
            tally.rows("not a number", [f"{label} line {ln}: {BINANCE_COLUMNS[j]} is not a number: "
                                        f"{parts[j].strip()[:24]!r}"], 1)  # fmt: skip
            continue
        lines.append(ln)
    return np.asarray(rows, dtype=np.float64).reshape(-1, 11), lines


# --- freqtrade ------------------------------------------------------------------------------------------


def freqtrade_json(data: bytes, label: str, tally: Tally) -> tuple[FloatArray, Locate] | None:
    """freqtrade JSON ``[[open_ms, open, high, low, close, volume], ...]`` as bars (rows counted from 1)."""

    def plain(i: int) -> str:
        return f"{label} row {i + 1}"

    try:
        return freqtrade_json_decode(data, label), plain
    except HistoryError:
        pass  # read it again row by row, to say where
    try:
        items = msgspec.json.decode(data)
    except msgspec.DecodeError as exc:
        tally.file(label, f"not JSON: {exc}")
        return None
    if not isinstance(items, list):
        tally.file(label, "not a freqtrade kline file (a JSON list of [time, open, high, low, close, volume])")
        return None
    rows: list[list[float]] = []
    where: list[int] = []
    for i, item in enumerate(items):
        if (isinstance(item, list) and len(item) >= 6 and type(item[0]) is int
                and all(type(x) in (int, float) for x in item[1:6])):  # fmt: skip
            rows.append(item[:6])
            where.append(i)
        else:
            tally.rows("not a kline row", [f"{label} row {i + 1}: {str(item)[:60]} is not "
                                           "[time, open, high, low, close, volume]"], 1)  # fmt: skip
    bars = empty_bars(len(rows))
    if rows:
        bars[OPEN_TIME:VOLUME + 1] = np.asarray(rows, dtype=np.float64).T

    def located(i: int) -> str:
        return f"{label} row {where[i] + 1}"

    return bars, located


def _ms(times: pa.ChunkedArray) -> FloatArray:
    """Integer times (ms, µs or ns, told apart by size) as float ms; nulls as NaN."""
    missing = times.is_null().to_numpy(zero_copy_only=False)
    v = pc.fill_null(times, 0).to_numpy().astype(np.int64)
    ms: FloatArray = np.where(v >= NANOS, v // 10**6, np.where(v >= MICROS, v // 1000, v)).astype(np.float64)
    ms[missing] = np.nan
    return ms


def freqtrade_feather(path: Path, label: str, tally: Tally) -> tuple[FloatArray, Locate] | None:
    """freqtrade feather (columns date, open, high, low, close, volume; date a UTC timestamp) as bars."""
    try:
        table = feather.read_table(str(path))
    except (pa.ArrowException, OSError) as exc:
        tally.file(label, f"not a feather file: {exc}")
        return None
    missing = [c for c in FEATHER_COLUMNS if c not in table.column_names]
    if missing:
        tally.file(label, f"no {', '.join(missing)} column (freqtrade writes {', '.join(FEATHER_COLUMNS)})")
        return None
    date = table.column("date")
    try:
        if pa.types.is_timestamp(date.type):
            date = date.cast(pa.timestamp("ms", date.type.tz), safe=False).cast(pa.int64())
        elif not pa.types.is_integer(date.type):
            tally.file(label, f"the date column holds {date.type}, not times")
            return None
        bars = empty_bars(table.num_rows)
        bars[OPEN_TIME] = _ms(date.cast(pa.int64()))
        for row, name in enumerate(FEATHER_COLUMNS[1:], start=OPEN):
            bars[row] = table.column(name).cast(pa.float64()).to_numpy(zero_copy_only=False)
    except pa.ArrowException as exc:
        tally.file(label, f"unreadable columns: {exc}")
        return None

    def located(i: int) -> str:
        return f"{label} row {i + 1}"

    return bars, located
