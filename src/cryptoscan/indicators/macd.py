"""MACD(fast, slow, signal), seeded exactly like TA-Lib's ``TA_MACD``, plus the age of the last bullish cross.

Definition (so values equal ``talib.MACD`` from its first value on): the slow EMA is seeded with the mean of
inputs ``[0, slow-1]`` (first value at index ``slow-1``); the fast EMA is seeded at the same index with the
mean of inputs ``[slow-fast, slow-1]`` (earlier inputs are ignored); ``line = fast - slow`` from index
``slow-1``; ``signal`` = EMA(signal) of the line, seeded with the mean of its first ``signal`` values (first at
index ``slow+signal-2``); ``hist = line - signal``. Line, signal and hist are in price units.

Cross age (optional, ``cross_warmup`` not None): bars since the line last crossed ABOVE its signal, 0 when the
evaluated bar is the cross. A cross is ``hist_prev <= 0 < hist_now`` with both ready, and counts only when the
row has at least ``cross_warmup`` bars including the evaluated one. :data:`NO_CROSS` when there was none.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._arrays import F64, I64, AnyArray, Rows, least
from .ema import Ema

NO_CROSS = 1 << 62
"""Cross age of a row that has had no counted cross: larger than any real age, and safe to add 1 to."""


class MacdValues(NamedTuple):
    line: F64
    signal: F64
    hist: F64
    cross_age: I64 | None


class Macd:
    def __init__(self, capacity: int, fast: int, slow: int, signal: int, cross_warmup: int | None = None) -> None:
        if not 1 <= fast < slow or signal < 1:
            raise ValueError("MACD needs 1 <= fast < slow and signal >= 1")
        self.fast = Ema(capacity, fast, skip=slow - fast)
        self.slow = Ema(capacity, slow)
        self.signal = Ema(capacity, signal, skip=slow - 1)
        self.hist: F64 = np.full(capacity, np.nan)
        self.cross_warmup = cross_warmup
        self.age: I64 | None = None if cross_warmup is None else np.full(capacity, NO_CROSS, dtype=np.int64)

    def _age(self, rows: Rows, n: I64, lo: int, hist: F64) -> I64 | None:
        if self.age is None or self.cross_warmup is None:
            return None
        cross = self.hist[rows] <= 0.0
        cross &= hist > 0.0
        if lo < self.cross_warmup - 1:
            cross &= n >= self.cross_warmup - 1  # n bars before this one: n + 1 with it
        older = self.age[rows] + 1
        np.minimum(older, NO_CROSS, out=older)
        older[cross] = 0
        return older

    def update(self, rows: Rows, n: I64, close: F64) -> MacdValues:
        lo = least(n)
        line = self.fast.update(rows, n, close, lo >= self.fast.first + 1)
        line -= self.slow.update(rows, n, close, lo >= self.slow.first + 1)
        signal = self.signal.update(rows, n, line, lo >= self.signal.first + 1)
        hist = line - signal
        age = self._age(rows, n, lo, hist)
        self.hist[rows] = hist
        if self.age is not None and age is not None:
            self.age[rows] = age
        return MacdValues(line, signal, hist, age)

    def peek(self, rows: Rows, n: I64, close: F64) -> MacdValues:
        lo = least(n)
        line = self.fast.peek(rows, n, close, lo >= self.fast.first + 1)
        line -= self.slow.peek(rows, n, close, lo >= self.slow.first + 1)
        signal = self.signal.peek(rows, n, line, lo >= self.signal.first + 1)
        hist = line - signal
        return MacdValues(line, signal, hist, self._age(rows, n, lo, hist))

    def values(self) -> MacdValues:
        """Committed values of every row (the age array is the state itself: copy before handing it out)."""
        line = self.fast.value - self.slow.value
        return MacdValues(line, self.signal.value, self.hist, self.age)

    def reset(self, rows: Rows) -> None:
        for ema in (self.fast, self.slow, self.signal):
            ema.reset(rows)
        self.hist[rows] = np.nan
        if self.age is not None:
            self.age[rows] = NO_CROSS

    def arrays(self) -> dict[str, AnyArray]:
        out: dict[str, AnyArray] = {"hist": self.hist}
        for name, ema in (("fast", self.fast), ("slow", self.slow), ("signal", self.signal)):
            out |= {f"{name}_{k}": v for k, v in ema.arrays().items()}
        if self.age is not None:
            out["age"] = self.age
        return out
