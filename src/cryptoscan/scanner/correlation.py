"""Each pair's return correlation with BTCUSDT of its venue: exponentially weighted, O(1) per bar.

Returns are matched by bar open time, whichever of the pair and BTC closes its bar first: a row keeps its
newest return and time, and the cross moment is updated once per (row, bar) as soon as both are known.
Moments are uncentered (1m mean returns are ~0 next to their spread), so corr = E[r b] / sqrt(E[r^2] E[b^2]).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]


class BtcCorrelation:
    """EW moments for ``capacity`` rows; ``span`` bars is the effective window (alpha = 2 / (span + 1))."""

    def __init__(self, capacity: int, span: int = 60, min_bars: int = 20) -> None:
        self.alpha = 2.0 / (span + 1.0)
        self.min_bars = min_bars
        self.ret = np.full(capacity, np.nan)
        self.ret_time = np.full(capacity, -1, np.int64)
        self.var = np.zeros(capacity)
        self.cov = np.zeros(capacity)
        self.cov_time = np.full(capacity, -1, np.int64)
        self.n_var = np.zeros(capacity, np.int64)
        self.n_cov = np.zeros(capacity, np.int64)

    def reset(self, rows: I64) -> None:
        self.ret[rows] = np.nan
        self.ret_time[rows] = -1
        self.var[rows] = 0.0
        self.cov[rows] = 0.0
        self.cov_time[rows] = -1
        self.n_var[rows] = 0
        self.n_cov[rows] = 0

    def on_returns(self, rows: I64, times: I64, rets: F64) -> None:
        """Committed bars' simple returns (NaN when the previous close is unknown)."""
        self.ret[rows] = rets
        self.ret_time[rows] = times
        ok = np.isfinite(rets)
        r, a = rows[ok], self.alpha
        self.var[r] += a * (rets[ok] * rets[ok] - self.var[r])
        self.n_var[r] += 1

    def match(self, btc_row: int, rows: I64) -> None:
        """Fold BTC's newest return into each of ``rows`` that has a return for the same bar, once."""
        t = int(self.ret_time[btc_row])
        b = float(self.ret[btc_row])
        if t < 0 or not np.isfinite(b) or rows.size == 0:
            return
        r = rows[(self.ret_time[rows] == t) & (self.cov_time[rows] < t) & np.isfinite(self.ret[rows])]
        self.cov[r] += self.alpha * (self.ret[r] * b - self.cov[r])
        self.cov_time[r] = t
        self.n_cov[r] += 1

    def match_members(self, btc_row: int, members: NDArray[np.bool_]) -> None:
        """:meth:`match` over every member row that already holds a return for BTC's newest bar."""
        t = int(self.ret_time[btc_row])
        if t >= 0:
            self.match(btc_row, np.flatnonzero(members & (self.ret_time == t)))

    def correlation(self, btc_row: int, members: NDArray[np.bool_]) -> F64:
        """Correlation of each member row with BTC (NaN before ``min_bars`` matched bars, and for non-members)."""
        out = np.full(self.cov.shape, np.nan)
        if self.n_var[btc_row] < self.min_bars or self.var[btc_row] <= 0.0:
            return out
        ok = members & (self.n_cov >= self.min_bars) & (self.var > 0.0)
        out[ok] = np.clip(self.cov[ok] / np.sqrt(self.var[ok] * self.var[btc_row]), -1.0, 1.0)
        return out
