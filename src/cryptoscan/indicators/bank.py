"""The indicator bank: every indicator of the scanner for ``capacity`` rows, committed and peeked together.

One row = one symbol's series on one interval. ``update`` commits one closed bar per given row; ``peek``
evaluates open bars as if committed and changes nothing; ``reset`` frees rows for reuse. The bank owns the
per-row bar count and last close, and hands them to each indicator, so they are kept once.

Fast path: when ``rows`` is an ascending run of consecutive rows (typically every row), state is read and
written through a slice instead of fancy indexing.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from ._arrays import F64, I64, AnyArray, Rows
from .atr import Atr
from .breakout import Breakout
from .macd import Macd, MacdValues
from .params import RSI_PERIODS, IndicatorParams
from .rsi import Rsi, gains_losses
from .values import FIELDS, IndicatorValues
from .velocity import Velocity
from .volatility import RealizedVolatility
from .volume import VolumeSpike

ArrayLike = npt.ArrayLike
RowsLike = ArrayLike | slice


class _Bar(NamedTuple):
    rows: Rows
    n: I64
    prev_close: F64
    open_time: I64
    high: F64
    low: F64
    close: F64
    volume: F64


class IndicatorBank:
    def __init__(self, capacity: int, params: IndicatorParams | None = None) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self.params = p = params or IndicatorParams()
        self._bars: I64 = np.zeros(capacity, dtype=np.int64)
        self._close: F64 = np.full(capacity, np.nan)
        self._ids = np.arange(capacity, dtype=np.intp)
        self.rsi14 = Rsi(capacity, RSI_PERIODS[0])
        self.rsi21 = Rsi(capacity, RSI_PERIODS[1])
        self.macd = Macd(capacity, *p.macd, cross_warmup=p.macd_warmup)
        self.macd_classic = Macd(capacity, *p.macd_classic)
        self.atr = Atr(capacity, p.atr_period)
        self.volume = VolumeSpike(capacity, p.volume_lookback)
        self.velocity = Velocity(capacity, p.velocity_bars)
        self.breakout = Breakout(capacity, p.breakout_lookback, p.resistance_hours, p.resistance_min_hours,
                                 p.volume_confirm_pct)  # fmt: skip
        self.volatility = RealizedVolatility(capacity, p.volatility_window, p.volatility_min_returns)

    @property
    def bars(self) -> I64:
        """Committed bars per row (a read-only view)."""
        view = self._bars.view()
        view.flags.writeable = False
        return view

    def _rows(self, rows: RowsLike) -> Rows:
        if isinstance(rows, slice):  # the caller knows its rows are a run (step 1)
            start, stop, step = rows.indices(self.capacity)
            if step != 1 or (rows.stop is not None and rows.stop > self.capacity):
                raise IndexError("a row slice must be a run within capacity")
            return slice(start, max(start, stop))
        ids = np.asarray(rows, dtype=np.intp)
        if ids.ndim != 1:
            raise ValueError("rows must be a 1-D array of row indices")
        k = ids.size
        if k == 0:
            return ids
        first = int(ids[0])
        if int(ids[-1]) - first == k - 1 and (k == 1 or bool((ids[1:] > ids[:-1]).all())):
            if first < 0 or first + k > self.capacity:
                raise IndexError("rows out of range")
            return slice(first, first + k)
        return ids

    def _bar(self, rows: RowsLike, open_time: ArrayLike, high: ArrayLike, low: ArrayLike, close: ArrayLike,
             volume: ArrayLike) -> _Bar:  # fmt: skip
        ix = self._rows(rows)
        c = np.asarray(close, dtype=np.float64)
        return _Bar(ix, self._bars[ix].copy(), self._close[ix].copy(), np.asarray(open_time, dtype=np.int64),
                    np.asarray(high, dtype=np.float64), np.asarray(low, dtype=np.float64), c,
                    np.asarray(volume, dtype=np.float64))  # fmt: skip

    def update(self, rows: RowsLike, open_time: ArrayLike, open: ArrayLike, high: ArrayLike, low: ArrayLike,
               close: ArrayLike, volume: ArrayLike) -> None:  # fmt: skip
        """Commit one closed bar for each row in ``rows`` (unique indices, or a slice over a run of rows). Arrays
        are aligned with ``rows``; ``open_time`` in epoch ms. ``open`` is accepted for symmetry and not used by
        any indicator."""
        b = self._bar(rows, open_time, high, low, close, volume)
        ix, n = b.rows, b.n
        gain, loss = gains_losses(b.close, b.prev_close)
        self.rsi14.update(ix, n, gain, loss)
        self.rsi21.update(ix, n, gain, loss)
        self.macd.update(ix, n, b.close)
        self.macd_classic.update(ix, n, b.close)
        self.atr.update(ix, n, b.high, b.low, b.prev_close)
        spike = self.volume.update(ix, n, b.volume)
        self.velocity.update(ix, n, b.close)
        self.breakout.update(ix, n, b.open_time, b.high, b.close, spike)
        self.volatility.update(ix, n, b.close, b.prev_close)
        self._close[ix] = b.close
        self._bars[ix] += 1

    def update_many(self, rows: ArrayLike, open_time2d: ArrayLike, open2d: ArrayLike, high2d: ArrayLike,
                    low2d: ArrayLike, close2d: ArrayLike, volume2d: ArrayLike) -> None:  # fmt: skip
        """Commit T closed bars per row (arrays of shape ``(len(rows), T)``, in time order): history warm-up."""
        cols = [np.ascontiguousarray(np.asarray(a).T) for a in (open_time2d, open2d, high2d, low2d, close2d, volume2d)]
        t = cols[0].shape[0]
        if any(c.shape != cols[0].shape for c in cols) or (t and cols[0].shape[1] != np.asarray(rows).size):
            raise ValueError("every 2-D array must have shape (len(rows), T)")
        for j in range(t):
            self.update(rows, *(c[j] for c in cols))

    def peek(self, rows: RowsLike = (), open_time: ArrayLike = (), open: ArrayLike = (), high: ArrayLike = (),
             low: ArrayLike = (), close: ArrayLike = (), volume: ArrayLike = (), *, size: int | None = None
             ) -> IndicatorValues:  # fmt: skip
        """Values of every row: rows in ``rows`` evaluated with their open bar as if committed, every other row
        as committed. Changes nothing. ``size``: only rows ``[0, size)`` (the rows in use; a scanner leaves its
        spare capacity out of the pass)."""
        size = self.capacity if size is None else size
        committed = {k: a[:size] for k, a in self._committed().items()}
        b = self._bar(rows, open_time, high, low, close, volume)
        ix, n = b.rows, b.n
        if (ix.size if isinstance(ix, np.ndarray) else ix.stop - ix.start) == 0:
            return IndicatorValues(**{k: v.copy() for k, v in committed.items()})
        spike = self.volume.peek(ix, n, b.volume)
        m = self.macd.peek(ix, n, b.close)
        mc = self.macd_classic.peek(ix, n, b.close)
        brk = self.breakout.peek(ix, n, b.open_time, b.close, spike)
        gain, loss = gains_losses(b.close, b.prev_close)
        fresh: dict[str, AnyArray | None] = {
            "rsi14": self.rsi14.peek(ix, n, gain, loss),
            "rsi21": self.rsi21.peek(ix, n, gain, loss),
            "macd": m.line, "macd_signal": m.signal, "macd_hist": m.hist, "macd_cross_age": m.cross_age,
            "macd_classic": mc.line, "macd_classic_signal": mc.signal, "macd_classic_hist": mc.hist,
            "volume_spike": spike,
            "velocity_1h": self.velocity.peek(ix, n, b.close),
            "high_n": brk.high_n, "resistance": brk.resistance, "breakout": brk.strength,
            "volatility_24h": self.volatility.peek(ix, n, b.close, b.prev_close),
            "atr": self.atr.peek(ix, n, b.high, b.low, b.prev_close),
            "close": b.close,
        }  # fmt: skip
        whole = isinstance(ix, slice) and ix.start == 0 and ix.stop == size
        out: dict[str, AnyArray] = {}
        for k in FIELDS:
            part = fresh[k]
            if whole and isinstance(part, np.ndarray) and part.base is None and part is not b.close:
                out[k] = part
            else:
                merged = committed[k].copy()
                merged[ix] = part
                out[k] = merged
        return IndicatorValues(**out)

    def values(self) -> IndicatorValues:
        """Committed values of every row (a peek with no open bars)."""
        return self.peek()

    def _committed(self) -> dict[str, AnyArray]:
        m: MacdValues = self.macd.values()
        mc = self.macd_classic.values()
        assert m.cross_age is not None
        b = self.breakout
        return {
            "rsi14": self.rsi14.value, "rsi21": self.rsi21.value,
            "macd": m.line, "macd_signal": m.signal, "macd_hist": m.hist, "macd_cross_age": m.cross_age,
            "macd_classic": mc.line, "macd_classic_signal": mc.signal, "macd_classic_hist": mc.hist,
            "volume_spike": self.volume.value, "velocity_1h": self.velocity.value,
            "high_n": b.high_n, "resistance": b.resistance, "breakout": b.strength,
            "volatility_24h": self.volatility.value, "atr": self.atr.value, "close": self._close,
        }  # fmt: skip

    def reset(self, rows: ArrayLike) -> None:
        """Clear rows fully (a row is reused for another symbol)."""
        ix = self._rows(rows)
        self._bars[ix] = 0
        self._close[ix] = np.nan
        for ind in self._indicators():
            ind.reset(ix)

    def _indicators(self) -> tuple[Rsi | Macd | Atr | VolumeSpike | Velocity | Breakout | RealizedVolatility, ...]:
        return (self.rsi14, self.rsi21, self.macd, self.macd_classic, self.atr, self.volume, self.velocity,
                self.breakout, self.volatility)  # fmt: skip

    def arrays(self) -> dict[str, AnyArray]:
        """Every state array by name (tests check that peek leaves them alone; the bench copies them)."""
        out: dict[str, AnyArray] = {"bank.bars": self._bars, "bank.close": self._close}
        names = ("rsi14", "rsi21", "macd", "macd_classic", "atr", "volume", "velocity", "breakout", "volatility")
        for name, ind in zip(names, self._indicators(), strict=True):
            out |= {f"{name}.{k}": v for k, v in ind.arrays().items()}
        return out
