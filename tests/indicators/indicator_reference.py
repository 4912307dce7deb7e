"""Batch (whole-series, non-incremental) definitions of the indicators TA-Lib does not have, written straight
from the product's definitions, as the reference the incremental ones must equal."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

F = NDArray[np.float64]
HOUR_MS = 3_600_000


def volume_spike(v: F, n: int) -> F:
    out = np.full(v.size, np.nan)
    for t in range(n, v.size):
        mean = v[t - n : t].mean()
        out[t] = 0.0 if mean == 0 else v[t] / mean * 100.0
    return out


def velocity(c: F, k: int) -> F:
    out = np.full(c.size, np.nan)
    out[k:] = (c[k:] / c[:-k] - 1.0) * 100.0
    return out


def high_n(h: F, n: int) -> F:
    out = np.full(h.size, np.nan)
    for t in range(n, h.size):
        out[t] = h[t - n : t].max()
    return out


def resistance(open_time: F, h: F, hours: int = 24, min_hours: int = 1) -> F:
    """Max of the last ``hours`` completed clock-hour buckets before each bar's own hour."""
    out = np.full(h.size, np.nan)
    hour = (open_time // HOUR_MS).astype(np.int64)
    maxima: list[float] = []  # completed buckets, oldest first
    for t in range(h.size):
        if t and hour[t] != hour[t - 1]:
            start = t - 1
            while start > 0 and hour[start - 1] == hour[t - 1]:
                start -= 1
            maxima.append(float(h[start:t].max()))
        if len(maxima) >= min_hours:
            out[t] = max(maxima[-hours:])
    return out


def breakout(c: F, hn: F, res: F, spike: F, confirm: float = 150.0) -> F:
    out = np.full(c.size, np.nan)
    for t in range(c.size):
        if np.isnan(hn[t]):
            continue
        if c[t] <= hn[t]:
            out[t] = 0.0
            continue
        pts = 5.0 * (c[t] / hn[t] - 1.0) * 100.0 + (5.0 if c[t] > res[t] else 0.0)
        out[t] = pts * (1.0 if spike[t] >= confirm else 0.5)
    return out


def realized_vol(c: F, window: int, min_returns: int = 60) -> F:
    out = np.full(c.size, np.nan)
    r = np.log(c[1:] / c[:-1])
    for t in range(1, c.size):
        last = r[max(0, t - window) : t]
        if last.size >= min(window, min_returns):
            out[t] = np.sqrt(np.sum(last * last) * window / last.size) * 100.0
    return out


def cross_age(hist: F, warmup: int, no_cross: int) -> NDArray[np.int64]:
    """Bars since ``hist`` last went from <= 0 to > 0 (both ready) at a bar with at least ``warmup`` bars."""
    out = np.full(hist.size, no_cross, dtype=np.int64)
    age = no_cross
    for t in range(hist.size):
        crossed = t >= 1 and t + 1 >= warmup and hist[t - 1] <= 0 < hist[t]
        age = 0 if crossed else min(age + 1, no_cross)
        out[t] = age
    return out
