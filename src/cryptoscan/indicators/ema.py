"""Exponential moving average, seeded exactly like TA-Lib so the values match ``talib.EMA`` from its first value.

Definition: ``alpha = 2 / (period + 1)``; the first value is the simple mean of the first ``period`` inputs
(summed in order, then divided), at input index ``skip + period - 1``; after that
``ema = (x - ema) * alpha + ema`` (TA-Lib's operation order, so rounding agrees too). ``skip`` leading inputs
are ignored: TA-Lib's MACD seeds its fast EMA late (see :mod:`.macd`), and its signal EMA starts where the
MACD line does. Values are in the input's unit; NaN until the first value.

State per row: the value and the seed sum; the bar count ``n`` (bars committed before this one) is the
caller's, so an indicator made of several EMAs counts bars once.
"""

from __future__ import annotations

import numpy as np

from ._arrays import F64, I64, AnyArray, Rows, all_at_least


class Ema:
    def __init__(self, capacity: int, period: int, skip: int = 0) -> None:
        if period < 1 or skip < 0:
            raise ValueError("EMA needs period >= 1 and skip >= 0")
        self.period = period
        self.skip = skip
        self.first = skip + period - 1  # input index of the first value
        self.alpha = 2.0 / (period + 1)
        self.value: F64 = np.full(capacity, np.nan)
        self.seed: F64 = np.zeros(capacity)

    def step(self, rows: Rows, n: I64, x: F64, seeded: bool | None = None) -> tuple[F64, F64 | None]:
        """The value after input ``x`` (at index ``n``) and the new seed sum (None: unchanged). Pure.
        ``seeded``: the caller already knows whether every row is past the seed (n > first)."""
        v = self.value[rows]
        if seeded or (seeded is None and all_at_least(n, self.first + 1)):
            return (x - v) * self.alpha + v, None
        s = self.seed[rows]
        seeding = (n >= self.skip) & (n <= self.first)
        s_new = np.where(seeding, s + x, s)
        first = np.where(n == self.first, s_new / self.period, np.nan)
        return np.where(n > self.first, (x - v) * self.alpha + v, first), s_new

    def update(self, rows: Rows, n: I64, x: F64, seeded: bool | None = None) -> F64:
        """Commit input ``x`` for ``rows``; returns the new values."""
        v, s = self.step(rows, n, x, seeded)
        self.value[rows] = v
        if s is not None:
            self.seed[rows] = s
        return v

    def peek(self, rows: Rows, n: I64, x: F64, seeded: bool | None = None) -> F64:
        """The values as if ``x`` were committed; changes nothing."""
        return self.step(rows, n, x, seeded)[0]

    def reset(self, rows: Rows) -> None:
        self.value[rows] = np.nan
        self.seed[rows] = 0.0

    def arrays(self) -> dict[str, AnyArray]:
        return {"value": self.value, "seed": self.seed}
