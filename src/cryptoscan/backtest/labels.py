"""Outcome labels: did the price reach entry * (1 + target) within each horizon after a decision, and how.

Sans-I/O: bars in, arrays out. A row decided at ``t`` (the close of its scored bar, ``ScoredBars.time_ms``) with
entry price ``entry`` (that bar's close) looks at the bars that trade entirely inside ``(t, t + horizon]``: open
time at or after ``t`` and close (open + interval) at or before ``t + horizon``. For 1 h bars and a 4 h horizon
those are the 4 bars after the scored one. (Selecting by "open time in ``(t, t + horizon]``" would skip the first
hour after the decision and reach an hour past the horizon.) A bar hits when its high reaches the target: the
intrabar high, so a touch counts even when the bar closes lower.

Outcomes are ``1`` (hit), ``0`` (missed: every bar of the horizon is present and none reached the target) and
``-1`` (unresolved: no hit yet, and the horizon runs past the end of the symbol's history or through a gap in
it). An unresolved row is never counted as a miss.

``max_gain_pct`` is the highest high over the longest horizon against entry; ``max_drawdown_pct_before_hit``
the lowest low (as a percent <= 0) up to the first hit, the hit bar included because the order of high and low
inside a bar is unknown (the pessimistic reading), or over the whole longest horizon when nothing hit.
``time_to_hit_ms`` runs from the decision to the close of the first bar that hit (-1: no hit in the longest
horizon). Both extremes are NaN while the longest horizon is unresolved and there is no hit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from cryptoscan.backtest.frame import ScoredBars
from cryptoscan.backtest.history import History
from cryptoscan.market.rings import HIGH, LOW, OPEN_TIME
from cryptoscan.venues.binance.spec import INTERVAL_MS

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
I8 = NDArray[np.int8]
B = NDArray[np.bool_]
HOUR_MS = 3_600_000
HIT, MISS, UNRESOLVED = 1, 0, -1
_CHUNK_CELLS = 2_000_000  # rows x horizon bars gathered at once (bounds memory for 1m bars)


@dataclass(frozen=True, slots=True)
class Labels:
    """Outcomes of ``n`` rows (see the module docstring); ``hit`` has one row per horizon."""

    target_pct: float
    horizons_ms: tuple[int, ...]
    hit: NDArray[np.int8]  # (len(horizons), n): 1 hit, 0 miss, -1 unresolved
    time_to_hit_ms: I64
    max_gain_pct: F64
    max_drawdown_pct_before_hit: F64

    def __len__(self) -> int:
        return int(self.time_to_hit_ms.shape[0])

    def outcome(self, hours: float) -> I8:
        """The outcomes of the horizon of ``hours`` hours."""
        ms = round(hours * HOUR_MS)
        if ms not in self.horizons_ms:
            raise KeyError(f"no {hours} h horizon (have {[h / HOUR_MS for h in self.horizons_ms]})")
        out: I8 = self.hit[self.horizons_ms.index(ms)]
        return out

    @property
    def hit_4h(self) -> I8:
        return self.outcome(4)

    @property
    def hit_24h(self) -> I8:
        return self.outcome(24)

    def take(self, rows: I64 | B) -> Labels:
        return Labels(self.target_pct, self.horizons_ms, self.hit[:, rows], self.time_to_hit_ms[rows],
                      self.max_gain_pct[rows], self.max_drawdown_pct_before_hit[rows])  # fmt: skip


def horizons_in_ms(horizons_h: Sequence[float], step_ms: int) -> tuple[int, ...]:
    """Each horizon in ms, checked to be a positive whole number of bars."""
    out = tuple(round(h * HOUR_MS) for h in horizons_h)
    for h, ms in zip(horizons_h, out, strict=True):
        if ms <= 0 or ms % step_ms:
            raise ValueError(f"horizon {h} h is not a positive whole number of {step_ms // 60_000} min bars")
    if not out:
        raise ValueError("at least one horizon is needed")
    return out


def label_symbol(bars: F64, step_ms: int, bar_index: I64, entry: F64, *, target_pct: float = 7.5,
                 horizons_ms: tuple[int, ...] = (4 * HOUR_MS, 24 * HOUR_MS)) -> Labels:  # fmt: skip
    """Labels of decisions taken at the close of ``bars[:, bar_index]`` of one symbol, at price ``entry``.

    A row with a bar index outside the history, or a non-positive or NaN entry, is unresolved.
    """
    n = int(bar_index.shape[0])
    hit = np.full((len(horizons_ms), n), UNRESOLVED, np.int8)
    tth = np.full(n, -1, np.int64)
    gain = np.full(n, np.nan)
    dd = np.full(n, np.nan)
    nbars = bars.shape[1]
    ok = (bar_index >= 0) & (bar_index < nbars) & np.isfinite(entry) & (entry > 0)
    if not ok.any():
        return Labels(target_pct, horizons_ms, hit, tth, gain, dd)
    k = max(horizons_ms) // step_ms
    pad = np.full(k, np.nan)
    ot = np.concatenate((bars[OPEN_TIME], np.full(k, np.inf)))
    hi = np.concatenate((bars[HIGH], pad))
    lo = np.concatenate((bars[LOW], pad))
    rows = np.flatnonzero(ok)
    chunk = max(1, _CHUNK_CELLS // k)
    for a in range(0, rows.size, chunk):
        r = rows[a : a + chunk]
        _label_chunk(r, bar_index[r], entry[r], ot, hi, lo, step_ms, k, target_pct, horizons_ms, hit, tth, gain, dd)
    return Labels(target_pct, horizons_ms, hit, tth, gain, dd)


def _label_chunk(r: I64, j: I64, entry: F64, ot: F64, hi: F64, lo: F64, step: int, k: int,
                 target_pct: float, horizons_ms: tuple[int, ...],
                 hit: NDArray[np.int8], tth: I64, gain: F64, dd: F64) -> None:  # fmt: skip
    """Fill rows ``r`` (bar indices ``j``) of the output arrays; the arrays are padded by ``k`` bars."""
    idx = j[:, None] + np.arange(1, k + 1)[None, :]
    decision = ot[j] + step
    t = ot[idx]
    target = entry * (1.0 + target_pct / 100.0)
    reach = hi[idx] >= target[:, None]  # NaN high (padding) never reaches
    for h, ms in enumerate(horizons_ms):
        inside = (t >= decision[:, None]) & (t + step <= (decision + ms)[:, None])
        complete = inside.sum(axis=1) == ms // step
        hit[h, r] = np.where((reach & inside).any(axis=1), HIT, np.where(complete, MISS, UNRESOLVED))
    longest = max(horizons_ms)
    inside_l = (t >= decision[:, None]) & (t + step <= (decision + longest)[:, None])
    complete_l = inside_l.sum(axis=1) == longest // step
    reach_l = reach & inside_l
    any_hit = reach_l.any(axis=1)
    first = np.argmax(reach_l, axis=1)
    rows_i = np.arange(r.size)
    tth[r] = np.where(any_hit, t[rows_i, first] + step - decision, -1).astype(np.int64)
    low_rel = np.where(inside_l, lo[idx] / entry[:, None] - 1.0, np.inf)
    low_rel = np.where(np.isnan(low_rel), np.inf, low_rel)
    run_min = np.minimum.accumulate(low_rel, axis=1)
    worst = np.where(any_hit, run_min[rows_i, first], run_min[:, -1])
    known = any_hit | complete_l
    dd[r] = np.where(known, np.minimum(np.where(np.isfinite(worst), worst, 0.0), 0.0) * 100.0, np.nan)
    with np.errstate(invalid="ignore"):
        high_rel = np.where(inside_l, hi[idx] / entry[:, None] - 1.0, -np.inf)
    best = np.nanmax(np.where(np.isnan(high_rel), -np.inf, high_rel), axis=1)
    gain[r] = np.where(complete_l & np.isfinite(best), best * 100.0, np.nan)


def label(history: History, scored: ScoredBars, *, target_pct: float = 7.5,
          horizons_h: Sequence[float] = (4, 24)) -> Labels:  # fmt: skip
    """Labels of every row of ``scored`` from ``history`` (entry: the row's close)."""
    step = INTERVAL_MS.get(history.interval)
    if step is None:
        raise ValueError(f"unknown interval {history.interval!r}")
    hms = horizons_in_ms(horizons_h, step)
    n = len(scored)
    hit = np.full((len(hms), n), UNRESOLVED, np.int8)
    tth = np.full(n, -1, np.int64)
    gain = np.full(n, np.nan)
    dd = np.full(n, np.nan)
    order = np.argsort(scored.symbol_idx, kind="stable")
    sym = scored.symbol_idx[order]
    starts = np.flatnonzero(np.r_[True, sym[1:] != sym[:-1]]) if n else np.zeros(0, np.int64)
    ends = np.r_[starts[1:], n]
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        rows = order[a:b]
        name = scored.symbols[int(sym[a])]
        bars = history.bars.get(name)
        if bars is None:
            continue  # a symbol the history lacks stays unresolved
        lab = label_symbol(bars, step, scored.bar_index[rows].astype(np.int64), scored.close[rows],
                           target_pct=target_pct, horizons_ms=hms)  # fmt: skip
        hit[:, rows] = lab.hit
        tth[rows] = lab.time_to_hit_ms
        gain[rows] = lab.max_gain_pct
        dd[rows] = lab.max_drawdown_pct_before_hit
    return Labels(target_pct, hms, hit, tth, gain, dd)
