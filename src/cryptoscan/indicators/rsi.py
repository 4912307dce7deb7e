"""Wilder's RSI, exactly TA-Lib's default (non-Metastock) ``TA_RSI`` algorithm.

Definition, with ``p = period`` and changes ``d = close - previous close`` (gain ``max(d, 0)``, loss
``max(-d, 0)``): the first value is at bar index ``p`` and uses the simple averages of the first ``p`` gains
and losses (summed in order, then divided); after that ``avg = (avg * (p - 1) + x) / p``;
``rsi = 100 * (avg_gain / (avg_gain + avg_loss))``, in RSI points 0-100, NaN before bar ``p``.

One deliberate difference: a flat series (``avg_gain + avg_loss == 0``) has RSI 50, since a flat pair is
neither oversold nor overbought; TA-Lib returns 0 there. Older TA-Lib C releases (0.4 to 0.6) also return 0
whenever ``avg_gain + avg_loss < 1e-8`` in absolute price units, which misfires on coins priced near 1e-4; we
divide whenever the sum is not zero, as does the 0.8 core under the ``ta-lib`` 0.8.2 wheel the tests use.
"""

from __future__ import annotations

import numpy as np

from ._arrays import F64, I64, AnyArray, Rows, all_at_least

FLAT_RSI = 50.0


def gains_losses(close: F64, prev_close: F64) -> tuple[F64, F64]:
    """(gain, loss) of each bar: ``max(d, 0)`` and ``max(-d, 0)`` with ``d = close - prev_close``, computed once
    for every RSI period (NaN where there is no previous close)."""
    d = close - prev_close
    gain = np.maximum(d, 0.0)
    return gain, gain - d  # gain - d is exactly max(-d, 0)


class Rsi:
    def __init__(self, capacity: int, period: int) -> None:
        if period < 1:
            raise ValueError("RSI needs period >= 1")
        self.period = period
        self.gain: F64 = np.zeros(capacity)  # sum of gains while seeding, Wilder average after
        self.loss: F64 = np.zeros(capacity)
        self.value: F64 = np.full(capacity, np.nan)

    def step(self, rows: Rows, n: I64, gain: F64, loss: F64) -> tuple[F64, F64, F64]:
        """(rsi, gain state, loss state) after the bar at index ``n`` with this gain and loss. Pure."""
        p = self.period
        ag = self.gain[rows]
        al = self.loss[rows]
        if all_at_least(n, p + 1):
            ag = ag * (p - 1)
            ag += gain
            ag /= p
            al = al * (p - 1)
            al += loss
            al /= p
            return _rsi(ag, al), ag, al
        ag = _wilder(ag, gain, n, p)
        al = _wilder(al, loss, n, p)
        return np.where(n >= p, _rsi(ag, al), np.nan), ag, al

    def update(self, rows: Rows, n: I64, gain: F64, loss: F64) -> F64:
        rsi, ag, al = self.step(rows, n, gain, loss)
        self.gain[rows] = ag
        self.loss[rows] = al
        self.value[rows] = rsi
        return rsi

    def peek(self, rows: Rows, n: I64, gain: F64, loss: F64) -> F64:
        return self.step(rows, n, gain, loss)[0]

    def reset(self, rows: Rows) -> None:
        self.gain[rows] = 0.0
        self.loss[rows] = 0.0
        self.value[rows] = np.nan

    def arrays(self) -> dict[str, AnyArray]:
        return {"gain": self.gain, "loss": self.loss, "value": self.value}


def _wilder(avg: F64, x: F64, n: I64, p: int) -> F64:
    """Warm-up aware step: nothing at bar 0, sum over bars 1..p, mean at bar p, Wilder smoothing after."""
    summed = avg + x
    seeded = np.where(n == p, summed / p, np.where(n >= 1, summed, avg))
    return np.where(n > p, (avg * (p - 1) + x) / p, seeded)


def _rsi(ag: F64, al: F64) -> F64:
    total = ag + al
    out = np.full(total.shape, FLAT_RSI / 100.0)
    np.divide(ag, total, out=out, where=total != 0.0)
    out *= 100.0
    return out
