"""Average true range, Wilder, matching ``talib.ATR``.

Definition: true range from the second bar, ``max(high - low, |prev close - high|, |prev close - low|)``; the
first ATR (bar index ``period``) is the simple mean of the first ``period`` true ranges; after that
``atr = (atr * (period - 1) + tr) / period``. In price units; NaN before bar ``period``.
"""

from __future__ import annotations

import numpy as np

from ._arrays import F64, I64, AnyArray, Rows, all_at_least


class Atr:
    def __init__(self, capacity: int, period: int = 14) -> None:
        if period < 2:
            raise ValueError("ATR needs period >= 2")  # TA-Lib's period 1 is plain true range
        self.period = period
        self.value: F64 = np.full(capacity, np.nan)
        self.seed: F64 = np.zeros(capacity)  # sum of the first true ranges

    def step(self, rows: Rows, n: I64, high: F64, low: F64, prev_close: F64) -> tuple[F64, F64 | None]:
        """(atr, new seed sum or None when unchanged) after the bar at index ``n``. Pure."""
        p = self.period
        tr = np.maximum(np.maximum(high - low, np.abs(prev_close - high)), np.abs(prev_close - low))
        atr = self.value[rows]
        if all_at_least(n, p + 1):
            return (atr * (p - 1) + tr) / p, None
        s = self.seed[rows]
        s_new = np.where((n >= 1) & (n <= p), s + tr, s)
        seeded = np.where(n == p, s_new / p, np.nan)
        return np.where(n > p, (atr * (p - 1) + tr) / p, seeded), s_new

    def update(self, rows: Rows, n: I64, high: F64, low: F64, prev_close: F64) -> F64:
        atr, s = self.step(rows, n, high, low, prev_close)
        self.value[rows] = atr
        if s is not None:
            self.seed[rows] = s
        return atr

    def peek(self, rows: Rows, n: I64, high: F64, low: F64, prev_close: F64) -> F64:
        return self.step(rows, n, high, low, prev_close)[0]

    def reset(self, rows: Rows) -> None:
        self.value[rows] = np.nan
        self.seed[rows] = 0.0

    def arrays(self) -> dict[str, AnyArray]:
        return {"value": self.value, "seed": self.seed}
