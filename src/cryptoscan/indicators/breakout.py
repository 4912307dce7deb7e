"""Breakout: the N-bar high, the 24 h resistance, and the breakout strength in score points.

Definitions:

* ``high_n``: max high of the previous N bars (default 20), the evaluated bar excluded; price; NaN until N
  previous bars exist.
* ``resistance``: max high over the last H (24) completed hourly buckets; price. A bucket is one clock hour
  of bars (``open_time // 3_600_000``), so on 1m it holds 60 bars and on 1h and longer intervals each bar is
  its own bucket (24 bars back). The bucket the evaluated bar falls in is not completed, so it is excluded.
  Hours without any bar are skipped (the ring holds the last H hours that had bars). NaN until
  ``min_hours`` buckets have completed (default 1: on 1m a full 24 h needs 1440 bars of history).
* ``breakout`` strength, in score points: 0 if ``close <= high_n``; else
  ``(5 * pct_above_high_n + (5 if close > resistance else 0)) * (1.0 if volume_spike >= 150 else 0.5)`` with
  ``pct_above_high_n = (close / high_n - 1) * 100``. Uncapped (the scorer caps it); NaN while ``high_n`` is.

State: a ring of N highs whose max is kept for the next bar; a ring of H bucket maxima plus the bucket
filling now (where its hour ends, and its running max). The two possible
resistances of the next bar (same hour, or a new hour that completes the current bucket and drops the
oldest) are recomputed only when a bucket completes, so no pass ever scans 1440 bars.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._arrays import F64, I64, AnyArray, Bools, Ring, Rows, all_at_least
from .params import HOUR_MS

POINTS_PER_PCT = 5.0
RESISTANCE_POINTS = 5.0
UNCONFIRMED_FACTOR = 0.5


class BreakoutValues(NamedTuple):
    high_n: F64
    resistance: F64
    strength: F64


class _Eval(NamedTuple):
    values: BreakoutValues
    new_hour: Bools  # the bar opens a new hourly bucket
    push: Bools  # ... and so completes the previous one


class Breakout:
    def __init__(
        self, capacity: int, lookback: int = 20, hours: int = 24, min_hours: int = 1, confirm_pct: float = 150.0
    ) -> None:
        if lookback < 1 or not 1 <= min_hours <= hours:
            raise ValueError("breakout needs lookback >= 1 and 1 <= min_hours <= hours")
        self.lookback = lookback
        self.hours = hours
        self.min_hours = min_hours
        self.confirm_pct = confirm_pct
        self.highs = Ring(capacity, lookback, np.nan)  # NaN slots keep the max NaN until N highs exist
        self.high_next: F64 = np.full(capacity, np.nan)  # max of the last N committed highs
        self.buckets = Ring(capacity, hours, -np.inf)  # completed hourly maxima; head = oldest
        self.completed: I64 = np.zeros(capacity, dtype=np.int64)
        self.hour_end: I64 = np.full(capacity, -1, dtype=np.int64)  # end (ms) of the bucket filling now; -1: none
        self.hour_max: F64 = np.full(capacity, np.nan)
        self.res_same: F64 = np.full(capacity, -np.inf)  # resistance of a next bar in the same hour
        self.res_new: F64 = np.full(capacity, -np.inf)  # same without the oldest bucket (a new hour drops it)
        self.high_n: F64 = np.full(capacity, np.nan)  # committed outputs
        self.resistance: F64 = np.full(capacity, np.nan)
        self.strength: F64 = np.full(capacity, np.nan)

    def _eval(self, rows: Rows, open_time: I64, close: F64, spike: F64) -> _Eval:
        hn = self.high_next[rows].copy()
        end = self.hour_end[rows]
        new_hour = open_time >= end
        push = new_hour & (end >= 0)  # a row's first bar opens a bucket but completes none
        res = self.res_same[rows].copy()
        if push.any():
            res = np.where(push, np.fmax(self.res_new[rows], self.hour_max[rows]), res)
        done = self.completed[rows]
        if not all_at_least(done, self.min_hours):
            res = np.where(done + push >= self.min_hours, res, np.nan)
        return _Eval(BreakoutValues(hn, res, self.strength_of(close, hn, res, spike)), new_hour, push)

    def strength_of(self, close: F64, high_n: F64, resistance: F64, spike: F64) -> F64:
        """Breakout strength in points (see the module docstring): 0 at or below ``high_n``, NaN if it is."""
        pts = close / high_n
        pts -= 1.0
        pts *= 100.0 * POINTS_PER_PCT
        pts += (close > resistance) * RESISTANCE_POINTS  # booleans as 0/1: no np.where temporaries
        factor = (spike >= self.confirm_pct) * (1.0 - UNCONFIRMED_FACTOR)  # NaN spike: unconfirmed
        factor += UNCONFIRMED_FACTOR
        pts *= factor
        np.copyto(pts, 0.0, where=close <= high_n)  # a NaN high_n compares False: stays NaN
        return pts

    def peek(self, rows: Rows, n: I64, open_time: I64, close: F64, spike: F64) -> BreakoutValues:
        return self._eval(rows, open_time, close, spike).values

    def update(self, rows: Rows, n: I64, open_time: I64, high: F64, close: F64, spike: F64) -> BreakoutValues:
        ev = self._eval(rows, open_time, close, spike)
        self.high_n[rows], self.resistance[rows], self.strength[rows] = ev.values
        self.highs.put(rows, high)
        self.highs.reduce(np.max, rows, self.high_next)
        hour_max = self.hour_max[rows]
        if ev.push.any():
            pushed = np.arange(self.completed.size)[rows][ev.push]
            self.buckets.put(pushed, hour_max[ev.push])
            self.completed[pushed] += 1
            self._resistances()
        if ev.new_hour.any():
            self.hour_max[rows] = np.where(ev.new_hour, high, np.fmax(hour_max, high))
            ends = (open_time // HOUR_MS + 1) * HOUR_MS
            self.hour_end[rows] = np.where(ev.new_hour, ends, self.hour_end[rows])
        else:
            self.hour_max[rows] = np.fmax(hour_max, high)
        return ev.values

    def _resistances(self) -> None:
        """Both next-bar resistances of every row, from the bucket ring (only when some bucket completed)."""
        np.max(self.buckets.data, axis=0, out=self.res_same)
        without = self.buckets.data.copy()
        without.reshape(-1)[self.buckets.pos] = -np.inf  # the head: the oldest bucket, overwritten next
        np.max(without, axis=0, out=self.res_new)

    def reset(self, rows: Rows) -> None:
        self.highs.reset(rows)
        self.buckets.reset(rows)
        self.completed[rows] = 0
        self.hour_end[rows] = -1
        for a, fill in ((self.high_next, np.nan), (self.hour_max, np.nan), (self.res_same, -np.inf),
                        (self.res_new, -np.inf), (self.high_n, np.nan), (self.resistance, np.nan),
                        (self.strength, np.nan)):  # fmt: skip
            a[rows] = fill

    def arrays(self) -> dict[str, AnyArray]:
        return {"highs": self.highs.data, "highs_head": self.highs.pos, "high_next": self.high_next,
                "buckets": self.buckets.data, "buckets_head": self.buckets.pos, "completed": self.completed,
                "hour_end": self.hour_end, "hour_max": self.hour_max, "res_same": self.res_same,
                "res_new": self.res_new, "high_n": self.high_n, "resistance": self.resistance,
                "strength": self.strength}  # fmt: skip
