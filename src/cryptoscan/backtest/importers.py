"""Kline history from the files people already have, as :class:`History`: Binance's public-data kline CSV files
(plain or zipped, with or without the header, ms or µs times) and freqtrade's json, json.gz and feather files;
single files or whole folders.

Why strict by default: a backtest over quietly mangled bars is worse than none, so a malformed row stops the
import with its file and line (:mod:`.import_formats`); ``on_error="skip"`` drops bad rows and unreadable files
instead, and counts every one by reason. Files that overlap (a monthly and a daily file, a zip beside its CSV)
are merged: identical repeats are dropped and counted; repeats that disagree stop the import (or, skipping, keep
the first file's bar and count the rest).

Symbol, interval and venue come from the names both tools write: ``BTCUSDT-1m-2024-01.zip`` (Binance; venue
futures inside a ``futures`` folder), ``BTC_USDT-1h.json``, ``BTC_USDT_USDT-1h-futures.feather`` (freqtrade).
Given values relabel a named file, and select among a folder's files (a folder's other intervals, venues or
symbols are left out and listed, as are files that are not kline files).
"""

from __future__ import annotations

import gzip
import io
import re
import time
import zipfile
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from cryptoscan.backtest.history import History, HistoryError, check_bars
from cryptoscan.backtest.import_formats import (
    MAX_EXAMPLES,
    OnError,
    Tally,
    binance_csv,
    check_rows,
    freqtrade_feather,
    freqtrade_json,
)
from cryptoscan.market.rings import NFIELDS, OPEN_TIME, FloatArray
from cryptoscan.venues.binance.spec import INTERVAL_MS

__all__ = ["ImportResult", "KlineFile", "OnError", "find_files", "identify", "import_histories", "import_history"]

VENUES = ("spot", "futures")
_BINANCE_NAME = re.compile(r"^(?P<symbol>[A-Z0-9]{2,30})-(?P<interval>\d+(?:s|m|h|d|w|mo))-\d{4}-\d{2}(?:-\d{2})?"
                           r"\.(?:csv|zip)$")  # fmt: skip
_FREQTRADE_NAME = re.compile(r"^(?P<pair>[A-Za-z0-9]+(?:_[A-Za-z0-9]+){1,2})-(?P<interval>\d+[smhdwM])"
                             r"(?:-(?P<kind>[A-Za-z_]+))?\.(?:json|json\.gz|jsongz|feather)$")  # fmt: skip
_SUFFIXES = {".csv": "binance_csv", ".zip": "binance_csv", ".json": "freqtrade_json", ".gz": "freqtrade_json",
             ".jsongz": "freqtrade_json", ".feather": "freqtrade_feather"}  # fmt: skip


@dataclass(frozen=True, slots=True)
class KlineFile:
    """One importable file and what its name says (None: the name does not say)."""

    path: Path
    fmt: str  # binance_csv | freqtrade_json | freqtrade_feather
    symbol: str | None = None
    interval: str | None = None
    venue: str | None = None


@dataclass(slots=True)
class ImportResult:
    """One venue and interval's import: the history and an account of every row that did not make it."""

    history: History
    files: list[str]  # the files (zip members as ZIP!MEMBER) read, in order
    bars: dict[str, int]  # symbol -> bars in the history
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> rows dropped (bad rows, repeats)
    examples: list[str] = field(default_factory=list)  # where the first skipped rows were, and why
    ignored: list[str] = field(default_factory=list)  # files left out (not klines, other selection), with why
    micros: int = 0  # rows whose times came in microseconds
    elapsed_s: float = 0.0

    @property
    def total_bars(self) -> int:
        return sum(self.bars.values())


def identify(path: Path) -> KlineFile | str:
    """What a file's name says, or why it is not an importable kline file."""
    name = path.name
    if m := _BINANCE_NAME.match(name):
        venue = "futures" if "futures" in path.parts else "spot" if "spot" in path.parts else None
        return KlineFile(path, "binance_csv", m["symbol"], m["interval"], venue)
    if m := _FREQTRADE_NAME.match(name):
        kind = m["kind"]
        if kind not in (None, "spot", "futures"):
            return f"freqtrade {kind} candles, not the pair's klines"
        parts = m["pair"].upper().split("_")
        fmt = "freqtrade_feather" if name.endswith(".feather") else "freqtrade_json"
        return KlineFile(path, fmt, "".join(parts[:2]), m["interval"], "futures" if kind == "futures" else "spot")
    by_suffix = _SUFFIXES.get(path.suffix.lower())
    if by_suffix is None or (path.suffix.lower() == ".gz" and not name.lower().endswith(".json.gz")):
        return "not a kline file (.csv, .zip, .json, .json.gz or .feather)"
    return KlineFile(path, by_suffix)


def _select(f: KlineFile, symbol: str | None, interval: str | None, venue: str | None,
            named: bool) -> KlineFile | str:  # fmt: skip
    """Apply the given values: a named file takes them; a folder's file must match them (else why not)."""
    for what, given, own in (("symbol", symbol, f.symbol), ("interval", interval, f.interval),
                             ("venue", venue, f.venue)):  # fmt: skip
        if not named and given is not None and own is not None and own != given:
            return f"{what} {own}, not {given}"
    f = replace(f, symbol=symbol or f.symbol, interval=interval or f.interval, venue=venue or f.venue or "spot")
    if f.symbol is None or f.interval is None:
        missing = " and ".join(w for w, v in (("symbol", f.symbol), ("interval", f.interval)) if v is None)
        return f"the name does not say the {missing}: give it"
    if f.interval not in INTERVAL_MS:
        return f"interval {f.interval} is not one cryptoscan uses ({', '.join(INTERVAL_MS)})"
    return f


def find_files(paths: Iterable[str | Path], *, symbol: str | None = None, interval: str | None = None,
               venue: str | None = None) -> tuple[list[KlineFile], list[str]]:  # fmt: skip
    """The kline files under ``paths`` (files, or folders searched recursively) and the files left out, with
    why. A named file that cannot be imported is an error; a folder's is left out and listed."""
    if venue is not None and venue not in VENUES:
        raise HistoryError(f"venue must be spot or futures, not {venue!r}")
    symbol = symbol.upper() if symbol else None
    found: list[KlineFile] = []
    ignored: list[str] = []
    for p in map(Path, paths):
        if p.is_dir():
            for f in sorted(x for x in p.rglob("*") if x.is_file()):
                got = identify(f)
                got = got if isinstance(got, str) else _select(got, symbol, interval, venue, named=False)
                if isinstance(got, str):
                    ignored.append(f"{f}: {got}")
                else:
                    found.append(got)
        elif p.is_file():
            got = identify(p)
            got = got if isinstance(got, str) else _select(got, symbol, interval, venue, named=True)
            if isinstance(got, str):
                raise HistoryError(f"{p}: {got}")
            found.append(got)
        else:
            raise HistoryError(f"{p}: no such file or folder")
    return found, ignored


def _read(f: KlineFile, tally: Tally) -> list[tuple[str, FloatArray]]:
    """The file's checked bars (a zip: one part per CSV inside), each with its label."""
    assert f.interval is not None
    interval, label = f.interval, str(f.path)
    step = INTERVAL_MS[interval]
    try:
        if f.fmt == "freqtrade_feather":
            got = freqtrade_feather(f.path, label, tally)
            return [] if got is None else [(label, check_rows(got[0], step, interval, got[1], tally))]
        data = f.path.read_bytes()
        if f.fmt == "freqtrade_json":
            if f.path.name.lower().endswith(("gz", "jsongz")):
                data = gzip.decompress(data)
            got = freqtrade_json(data, label, tally)
            return [] if got is None else [(label, check_rows(got[0], step, interval, got[1], tally))]
        texts = _zip_texts(f.path, data) if f.path.suffix.lower() == ".zip" else [(label, data)]
    except (OSError, EOFError, zipfile.BadZipFile, gzip.BadGzipFile) as exc:
        tally.file(label, f"cannot read: {exc}")
        return []
    out: list[tuple[str, FloatArray]] = []
    for where, raw in texts:
        got_csv = binance_csv(raw, where, tally)
        if got_csv is not None:
            bars, close, locate = got_csv
            out.append((where, check_rows(bars, step, interval, locate, tally, close_time=close)))
    return out


def _zip_texts(path: Path, data: bytes) -> list[tuple[str, bytes]]:
    """Every CSV inside a zip (Binance's hold one), as (``ZIP!MEMBER``, bytes)."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        names = [n for n in z.namelist() if n.lower().endswith(".csv")]
        if not names:
            raise zipfile.BadZipFile("no .csv inside")
        return [(f"{path}!{n}", z.read(n)) for n in names]


def _merge(symbol: str, parts: list[tuple[str, FloatArray]], tally: Tally) -> FloatArray:
    """One symbol's bars from every file, in time order: identical repeats dropped and counted; repeats that
    disagree are an error (skipping: the first file's bar is kept and the rest counted)."""
    parts = [(w, b) for w, b in parts if b.shape[1]]
    if len(parts) <= 1:
        return parts[0][1] if parts else np.empty((NFIELDS, 0))
    bars = np.concatenate([b for _, b in parts], axis=1)
    src = np.concatenate([np.full(b.shape[1], i) for i, (_, b) in enumerate(parts)])
    order = np.argsort(bars[OPEN_TIME], kind="stable")
    bars, src = bars[:, order], src[order]
    t = bars[OPEN_TIME]
    repeat = np.zeros(t.size, dtype=np.bool_)
    repeat[1:] = t[1:] == t[:-1]
    if not repeat.any():
        return bars
    prev, cur = bars[:, :-1], bars[:, 1:]
    same = np.ones(t.size, dtype=np.bool_)
    same[1:] = ((prev == cur) | (np.isnan(prev) & np.isnan(cur))).all(axis=0)
    conflict = np.flatnonzero(repeat & ~same)
    if conflict.size:
        places = [f"{parts[src[i]][0]} and {parts[src[i - 1]][0]} disagree on {symbol}'s bar at {int(t[i])}"
                  for i in conflict[:MAX_EXAMPLES]]  # fmt: skip
        tally.rows("conflicting repeat", places, int(conflict.size))
    tally.skipped["repeat in another file"] += int(np.count_nonzero(repeat & same))
    out: FloatArray = bars[:, ~repeat]
    return out


def import_histories(paths: Iterable[str | Path], *, symbol: str | None = None, interval: str | None = None,
                     venue: str | None = None, on_error: OnError = "raise") -> list[ImportResult]:  # fmt: skip
    """Every venue and interval found under ``paths``, one :class:`ImportResult` each (sorted)."""
    t0 = time.perf_counter()
    files, ignored = find_files(paths, symbol=symbol, interval=interval, venue=venue)
    if not files:
        raise HistoryError("no kline files found" + (f" ({len(ignored)} left out: {ignored[0]})" if ignored else ""))
    groups: dict[tuple[str, str], dict[str, list[KlineFile]]] = defaultdict(lambda: defaultdict(list))
    for f in files:
        assert f.venue is not None and f.interval is not None and f.symbol is not None
        groups[(f.venue, f.interval)][f.symbol].append(f)
    results = []
    for (v, iv), by_symbol in sorted(groups.items()):
        tally = Tally(on_error)
        read: list[str] = []
        bars: dict[str, FloatArray] = {}
        for sym, sym_files in sorted(by_symbol.items()):
            parts = [part for f in sym_files for part in _read(f, tally)]
            read.extend(w for w, _ in parts)
            merged = _merge(sym, parts, tally)
            if merged.shape[1]:
                bars[sym] = check_bars(sym, merged)
        results.append(ImportResult(
            History(v, iv, bars), read, {s: int(b.shape[1]) for s, b in bars.items()}, dict(tally.skipped),
            tally.examples, ignored + tally.bad_files, tally.micros,
        ))  # fmt: skip
    elapsed = time.perf_counter() - t0
    for r in results:
        r.elapsed_s = elapsed
    return results


def import_history(paths: Iterable[str | Path], *, symbol: str | None = None, interval: str | None = None,
                   venue: str | None = None, on_error: OnError = "raise") -> ImportResult:  # fmt: skip
    """One History from ``paths``: the files must hold a single venue and interval (or give them to select)."""
    results = import_histories(paths, symbol=symbol, interval=interval, venue=venue, on_error=on_error)
    if len(results) > 1:
        found = ", ".join(f"{r.history.venue} {r.history.interval}" for r in results)
        raise HistoryError(f"the files hold several series ({found}): give the interval (and venue) to pick one")
    return results[0]
