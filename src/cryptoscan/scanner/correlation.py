"""Each pair's return correlation with BTCUSDT of its venue: exponentially weighted, O(1) per bar.

Returns are matched by bar open time, whichever of the pair and BTC closes its bar first: a row keeps its
newest return and time, and the cross moment is updated once per (row, bar) as soon as both are known.
Moments are uncentered (1m mean returns are ~0 next to their spread), so corr = E[r b] / sqrt(E[r^2] E[b^2]).

Matching and reading work on whole arrays, given each row's BTC row (``btc_of``) and whether it has one: a
pass over 2000 rows is a dozen array operations, where per-venue fancy indexing was several dozen.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
Bools = NDArray[np.bool_]


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
        ok = rets == rets
        var = self.var[rows]
        d = rets * rets
        d -= var
        d *= self.alpha
        np.add(var, d, out=var, where=ok)
        self.var[rows] = var
        self.n_var[rows] += ok

    def match_all(self, btc_of: I64, has_btc: Bools) -> None:
        """Fold each row's BTC return into the row once, where both hold a return for the same bar.

        ``btc_of``: the BTC row of each row's venue (any valid row where ``has_btc`` is False), for the first
        ``len(btc_of)`` rows (the rows in use). BTC's own row matches itself, so its correlation is 1."""
        n = btc_of.size
        ret, ret_time, cov, cov_time = self.ret[:n], self.ret_time[:n], self.cov[:n], self.cov_time[:n]
        bt = ret_time.take(btc_of)
        br = ret.take(btc_of)
        m = ret_time == bt
        m &= cov_time < bt
        m &= has_btc
        d = ret * br  # NaN when either return is unknown: such rows are not matched
        m &= d == d
        d -= cov
        d *= self.alpha
        np.add(cov, d, out=cov, where=m)
        np.copyto(cov_time, bt, where=m)
        self.n_cov[:n] += m

    def correlations(self, btc_of: I64, members: Bools) -> F64:
        """Correlation of each member row with its BTC (NaN before ``min_bars`` matched bars on either side,
        and for rows outside ``members``), for the first ``len(btc_of)`` rows."""
        n = btc_of.size
        var = self.var[:n]
        bvar = var.take(btc_of)
        ok = members & (self.n_cov[:n] >= self.min_bars)
        ok &= self.n_var.take(btc_of) >= self.min_bars
        ok &= var > 0.0
        ok &= bvar > 0.0
        bvar *= var
        np.sqrt(bvar, out=bvar)
        out = np.full(n, np.nan)
        np.divide(self.cov[:n], bvar, out=out, where=ok)
        np.minimum(out, 1.0, out=out)
        np.maximum(out, -1.0, out=out)
        return out
