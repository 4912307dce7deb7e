"""1 h price velocity: ``(close / close k bars ago - 1) * 100``, in percent.

``k = 3_600_000 / interval_ms`` bars (60 on 1m, 12 on 5m, 1 on 1h). On intervals longer than an hour, ``k = 1``:
the change over one bar, which is then more than an hour. NaN until k previous bars exist. State: a ring of
the last k closes; its head (the slot written next) holds the close k bars ago.
"""

from __future__ import annotations

import numpy as np

from ._arrays import F64, I64, AnyArray, Ring, Rows


class Velocity:
    def __init__(self, capacity: int, bars: int) -> None:
        if bars < 1:
            raise ValueError("velocity needs bars >= 1")
        self.bars = bars
        self.ring = Ring(capacity, bars, np.nan)  # NaN until written: the value is NaN until k bars exist
        self.value: F64 = np.full(capacity, np.nan)

    def peek(self, rows: Rows, n: I64, close: F64) -> F64:
        out = close / self.ring.get(rows)  # the head holds the close k bars ago
        out -= 1.0
        out *= 100.0
        return out

    def update(self, rows: Rows, n: I64, close: F64) -> F64:
        out = self.peek(rows, n, close)
        self.ring.put(rows, close)
        self.value[rows] = out
        return out

    def reset(self, rows: Rows) -> None:
        self.ring.reset(rows)
        self.value[rows] = np.nan

    def arrays(self) -> dict[str, AnyArray]:
        return {"ring": self.ring.data, "head": self.ring.pos, "value": self.value}
