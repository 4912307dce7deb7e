"""Volume spike: how unusual the bar's volume is against the recent past.

Definition: ``spike = volume / mean(volume of the previous N bars) * 100``, in percent (100 = normal,
300 = three times normal); 0 when that mean is 0 (a pair that did not trade); NaN until N previous bars exist.
State: a ring of the last N volumes and their mean, recomputed from the ring after each commit (N is small, so
there is no running sum to drift).
"""

from __future__ import annotations

import numpy as np

from ._arrays import F64, I64, AnyArray, Ring, Rows


class VolumeSpike:
    def __init__(self, capacity: int, lookback: int = 20) -> None:
        if lookback < 1:
            raise ValueError("volume spike needs lookback >= 1")
        self.lookback = lookback
        self.ring = Ring(capacity, lookback, np.nan)  # NaN slots keep the mean NaN until N volumes exist
        self.mean: F64 = np.full(capacity, np.nan)  # mean of the last N committed volumes: the next bar's base
        self.value: F64 = np.full(capacity, np.nan)

    def peek(self, rows: Rows, n: I64, volume: F64) -> F64:
        mean = self.mean[rows]
        out = np.zeros(mean.shape)
        np.divide(volume, mean, out=out, where=mean != 0.0)  # NaN mean divides: NaN stays NaN
        out *= 100.0
        return out

    def update(self, rows: Rows, n: I64, volume: F64) -> F64:
        spike = self.peek(rows, n, volume)
        self.value[rows] = spike
        self.ring.put(rows, volume)
        mean = self.ring.reduce(np.sum, rows, self.mean)  # the next bar's base
        mean /= self.lookback
        return spike

    def reset(self, rows: Rows) -> None:
        self.ring.reset(rows)
        self.mean[rows] = np.nan
        self.value[rows] = np.nan

    def arrays(self) -> dict[str, AnyArray]:
        return {"ring": self.ring.data, "head": self.ring.pos, "mean": self.mean, "value": self.value}
