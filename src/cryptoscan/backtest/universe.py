"""A History laid out in replay order, with each symbol's listing and trailing 24 h quote volume from the past only.

Why precomputed: the replay steps over the union of every symbol's open times; at step ``k`` the bars opened at
``times[k]`` close (at ``times[k] + step``) and are committed, then one scan runs. Sorting every bar once by
(open time, symbol) turns each step into one contiguous slice, so the loop does no searching.

The universe at a step is what was known at its close: a symbol exists from its first bar on (its row order is
the order of listing, so a symbol's row never depends on later data), and its 24 h quote volume, which the
liquidity filter and factor read, is the sum over its bars that closed within the last 24 h (open time at or
after ``close - 24 h``), like Binance's rolling 24 h ticker at that instant. A bar without a quote volume (the
freqtrade files carry only base volume) counts ``close * volume``: an estimate, off by as much as the bar's close
is from its average traded price (a 24 h sum averages much of that out; not measured here, no data with both).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from cryptoscan.backtest.history import History, HistoryError
from cryptoscan.market.rings import CLOSE, HIGH, LOW, OPEN, OPEN_TIME, QUOTE_VOLUME, VOLUME
from cryptoscan.venues.binance.spec import INTERVAL_MS

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
I32 = NDArray[np.int32]
DAY_MS = 86_400_000
BAR_FIELDS = (OPEN_TIME, OPEN, HIGH, LOW, CLOSE, VOLUME)  # what the scanner takes of a bar, in Kline order


def quote_volume(bars: F64) -> F64:
    """Each bar's quote volume; where the source has none (NaN), ``close * volume`` (see the module docstring)."""
    qv = bars[QUOTE_VOLUME]
    out: F64 = np.where(np.isfinite(qv), qv, bars[CLOSE] * bars[VOLUME])
    return out


def trailing_24h(open_time: I64, qv: F64, step_ms: int) -> F64:
    """For each bar, the sum of ``qv`` over the bars closed by its close that opened within the 24 h before it.

    A cumulative sum differenced: each value depends only on bars up to its own, so a truncated history gives
    the very same numbers (the lookahead test relies on it). NaN volumes count 0.
    """
    cs = np.concatenate(([0.0], np.cumsum(np.nan_to_num(qv, nan=0.0))))
    first = np.searchsorted(open_time, open_time + step_ms - DAY_MS, side="left")
    out: F64 = cs[1:] - cs[first]
    return np.maximum(out, 0.0)  # a window of zeros after large sums may difference to -1e-9


@dataclass(frozen=True, slots=True)
class Tape:
    """Every bar of a History in replay order (by open time, then symbol row); see the module docstring."""

    venue: str
    interval: str
    step_ms: int
    symbols: list[str]  # row -> symbol, in order of first bar (ties by name): the scanner's row order
    first_ms: I64  # per row: open time of the symbol's first bar (its listing, as far as the history knows)
    times: I64  # union of open times, ascending: step k closes at times[k] + step_ms
    starts: I64  # len(times) + 1: the bars of step k are [starts[k], starts[k + 1])
    row: I32  # per bar (replay order): the symbol's row
    bar_index: I32  # per bar: its index in History.bars[symbol]
    bars: F64  # (6, n): open_time, open, high, low, close, volume (BAR_FIELDS)
    quote_volume: F64  # per bar, as given or estimated
    quote_volume_24h: F64  # per bar: trailing 24 h quote volume known at its close
    row_bounds: I64  # len(symbols) + 1: row r's bars in row_open are [row_bounds[r], row_bounds[r + 1])
    row_open: I64  # every bar's open time, row after row (each row oldest first)
    row_cum: F64  # per row, 0 then the running sum of its quote volumes (row r starts at row_bounds[r] + r)

    def __len__(self) -> int:
        return int(self.row.shape[0])

    @property
    def steps(self) -> int:
        return int(self.times.shape[0])

    def close_ms(self, k: int) -> int:
        return int(self.times[k]) + self.step_ms

    def trailing_at(self, row: int, now_ms: int) -> float:
        """Row ``row``'s 24 h quote volume at ``now_ms`` (any time, not only its closes): the sum over its bars
        closed by then that opened in the last 24 h. A pair that stopped trading fades to 0 within a day."""
        a, b = int(self.row_bounds[row]), int(self.row_bounds[row + 1])
        ot, cum = self.row_open[a:b], self.row_cum[a + row : b + row + 1]
        closed = int(np.searchsorted(ot, now_ms - self.step_ms, side="right"))
        first = int(np.searchsorted(ot, now_ms - DAY_MS, side="left"))
        return max(float(cum[closed] - cum[first]), 0.0) if closed > first else 0.0


def build_tape(history: History, *, until_ms: int | None = None) -> Tape:
    """The replay order of ``history``; bars closing after ``until_ms`` are left out."""
    step = INTERVAL_MS.get(history.interval)
    if step is None:
        raise HistoryError(f"unknown interval {history.interval!r}")
    per: list[tuple[int, str, F64]] = []
    for symbol, bars in history.bars.items():
        b = bars if until_ms is None else bars[:, bars[OPEN_TIME] + step <= until_ms]
        if b.shape[1]:
            per.append((int(b[OPEN_TIME, 0]), symbol, b))
    per.sort(key=lambda x: (x[0], x[1]))
    n = sum(b.shape[1] for _, _, b in per)
    rows = np.empty(n, np.int32)
    index = np.empty(n, np.int32)
    cols = np.empty((len(BAR_FIELDS), n))
    qv = np.empty(n)
    qv24 = np.empty(n)
    cum = np.zeros(n + len(per))
    at = 0
    for r, (_, _, b) in enumerate(per):
        m = b.shape[1]
        ot = b[OPEN_TIME].astype(np.int64)
        rows[at : at + m] = r
        index[at : at + m] = np.arange(m)
        cols[:, at : at + m] = b[list(BAR_FIELDS)]
        qv[at : at + m] = quote_volume(b)
        qv24[at : at + m] = trailing_24h(ot, qv[at : at + m], step)
        cum[at + r + 1 : at + r + m + 1] = np.cumsum(np.nan_to_num(qv[at : at + m], nan=0.0))
        at += m
    times_all = cols[0].astype(np.int64)
    order = np.lexsort((rows, times_all))
    times, counts = np.unique(times_all[order], return_counts=True)
    return Tape(
        venue=history.venue, interval=history.interval, step_ms=step, symbols=[s for _, s, _ in per],
        first_ms=np.array([t for t, _, _ in per], np.int64), times=times.astype(np.int64),
        starts=np.concatenate(([0], np.cumsum(counts))).astype(np.int64), row=rows[order], bar_index=index[order],
        bars=cols[:, order], quote_volume=qv[order], quote_volume_24h=qv24[order],
        row_bounds=np.concatenate(([0], np.cumsum([b.shape[1] for _, _, b in per]))).astype(np.int64),
        row_open=times_all.copy(), row_cum=cum,
    )  # fmt: skip
