"""Realized volatility over the last 24 h, in percent.

Definition: with ``W = 86_400_000 / interval_ms`` bars (1440 on 1m, 24 on 1h) and ``r`` the log returns of
consecutive closes, over the last ``m = min(n, W)`` returns:
``vol = sqrt(sum(r^2) * W / m) * 100`` (a partial window is scaled up to a full day). NaN until
``m >= min(W, min_returns)`` (60 by default).

State: a ring of the squared returns of the last W bars (bar 0, which has no return, stores 0) and their
running sum. Guard against float drift of the running sum (a huge return leaving the window cancels
catastrophically): a second sum only ever adds, and once every W bars, when a row's head reaches a
row-specific slot (``row % W``), it holds exactly the ring's W values and replaces the running sum. So the
re-add costs one addition per bar instead of a strided read of the row's whole ring, and rows that started
together do not all re-add on the same bar.
"""

from __future__ import annotations

import numpy as np

from ._arrays import F64, I64, AnyArray, Ring, Rows, least


class RealizedVolatility:
    def __init__(self, capacity: int, window: int, min_returns: int = 60) -> None:
        if window < 1 or min_returns < 1:
            raise ValueError("realized volatility needs window >= 1 and min_returns >= 1")
        self.window = window
        self.min_returns = min(window, min_returns)
        self.ring = Ring(capacity, window, 0.0)  # squared log returns; empty slots add nothing
        self.total: F64 = np.zeros(capacity)  # running sum of the ring
        self.fresh: F64 = np.zeros(capacity)  # additions since the head last passed the row's phase slot
        self.value: F64 = np.full(capacity, np.nan)
        ids = np.arange(capacity, dtype=np.intp)
        self._phase = (ids % window) * capacity + ids  # where each row's head is when it re-adds its ring

    def _eval(self, rows: Rows, n: I64, close: F64, prev_close: F64) -> tuple[F64, F64, F64]:
        """(vol, squared return, new sum) of the bar at index ``n``. Pure."""
        w = self.window
        r = np.log(close / prev_close)
        r2 = r * r
        lo = least(n)
        if lo < 1:
            r2 = np.where(n >= 1, r2, 0.0)  # bar 0 has no return
        total = self.total[rows] - self.ring.get(rows)
        total += r2
        vol = np.maximum(total, 0.0)
        vol *= w
        vol /= w if lo >= w else np.maximum(np.minimum(n, w), 1)  # same bits either way: m == W when full
        np.sqrt(vol, out=vol)
        vol *= 100.0
        if lo < self.min_returns:
            vol = np.where(n >= self.min_returns, vol, np.nan)
        return vol, r2, total

    def peek(self, rows: Rows, n: I64, close: F64, prev_close: F64) -> F64:
        return self._eval(rows, n, close, prev_close)[0]

    def update(self, rows: Rows, n: I64, close: F64, prev_close: F64) -> F64:
        vol, r2, total = self._eval(rows, n, close, prev_close)
        due = self.ring.pos[rows] == self._phase[rows]
        self.ring.put(rows, r2)
        self.total[rows] = total
        self.value[rows] = vol
        fresh = self.fresh[rows]  # a view for a slice, else a copy stored back
        fresh += r2
        if not isinstance(rows, slice):
            self.fresh[rows] = fresh
        if due.any():  # the head came round: ``fresh`` holds the ring's W values, summed without cancellation
            ids = np.flatnonzero(due) + rows.start if isinstance(rows, slice) else rows[due]
            self.total[ids] = self.fresh[ids]
            self.fresh[ids] = 0.0
        return vol

    def reset(self, rows: Rows) -> None:
        self.ring.reset(rows)
        self.total[rows] = 0.0
        self.fresh[rows] = 0.0
        self.value[rows] = np.nan

    def arrays(self) -> dict[str, AnyArray]:
        return {"ring": self.ring.data, "head": self.ring.pos, "total": self.total, "fresh": self.fresh,
                "value": self.value}
