"""The 0-100 momentum score, as the product defines it, over every row at once.

Five parts, each in points (defaults in :mod:`cryptoscan.config_scanner`): RSI 14 (25), MACD 3/10/16 (20),
volume spike (25), 1 h price velocity (15), breakout (15). A value that is not ready (NaN during warm-up)
scores 0: a pair is never promoted on missing data.

The rules are written plainly below (``rsi_points``, ``table_points``...). A pass does not run them: each
one-value rule is piecewise constant, so :class:`Steps` evaluates it once per piece and looks values up
(one ``searchsorted`` and one ``take`` instead of a dozen comparisons and where calls); :class:`Scorer` holds
those tables for one config. Tests check the tables against the rules at every edge.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial

import numpy as np
from numpy.typing import NDArray

from cryptoscan.config_scanner import MacdRules, RsiRules, ScannerConfig

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

PARTS = ("rsi", "macd", "volume", "velocity", "breakout")


@dataclass(frozen=True, slots=True)
class Components:
    """Points per part and their sum, one entry per row."""

    rsi: F64
    macd: F64
    volume: F64
    velocity: F64
    breakout: F64
    total: F64


def rsi_points(rsi: F64, rules: RsiRules) -> F64:
    """Below ``oversold`` (strict), else inside ``accumulation``, else inside ``bullish`` (bounds inclusive)."""
    lo_a, hi_a = rules.accumulation
    lo_b, hi_b = rules.bullish
    out = np.where((rsi >= lo_b) & (rsi <= hi_b), rules.bullish_points, 0.0)
    out = np.where((rsi >= lo_a) & (rsi <= hi_a), rules.accumulation_points, out)
    return np.where(rsi < rules.oversold, rules.oversold_points, out)


def macd_points(line: F64, signal: F64, hist: F64, cross_age: I64, rules: MacdRules) -> F64:
    """A bullish cross within ``cross_within_bars`` bars with a positive histogram; else line above signal."""
    cross = (cross_age < rules.cross_within_bars) & (hist > 0.0)
    out = (line > signal).astype(np.float64)
    out *= rules.above_points
    np.copyto(out, rules.cross_points, where=cross)
    return out


def table_points(value: F64, rows: list[tuple[float, float]]) -> F64:
    """Points of the first ``(threshold, points)`` row (highest threshold first) that ``value`` reaches."""
    out = np.zeros(value.shape)
    for threshold, points in reversed(rows):
        out = np.where(value >= threshold, points, out)
    return out


def breakout_points(strength: F64, cap: float) -> F64:
    """Breakout strength (already in points) capped at ``cap``; NaN and negatives score 0."""
    out = np.fmax(strength, 0.0)  # NaN -> 0
    np.minimum(out, cap, out=out)
    return out


class Steps:
    """A piecewise-constant rule of one value as a lookup table.

    ``bounds`` are where the rule may change, as the first value of a new piece (a test ``x >= b`` or
    ``x < b`` changes at ``b``; ``x <= b`` at the next float after ``b``). The rule is evaluated once at
    -inf, at each bound and at NaN; a value's piece is the number of edges it reaches (a few branch-free
    comparisons: faster than a binary search over a handful of edges), NaN its own entry at the end.
    """

    def __init__(self, rule: Callable[[F64], F64], bounds: Iterable[float]) -> None:
        edges = np.unique(np.asarray(list(bounds), np.float64))
        self.edges = edges[np.isfinite(edges)]
        self.table = rule(np.concatenate(([-np.inf], self.edges, [np.nan])))

    def __call__(self, x: F64) -> F64:
        piece = np.zeros(x.shape, np.intp)
        for edge in self.edges:
            piece += x >= edge
        piece[x != x] = self.edges.size + 1
        out: F64 = self.table.take(piece)
        return out


def _after(x: float) -> float:
    return float(np.nextafter(x, np.inf))


class Scorer:
    """The score of one config, with the one-value rules as :class:`Steps` (see the module docstring)."""

    def __init__(self, cfg: ScannerConfig) -> None:
        r = cfg.rsi
        self.cfg = cfg
        self.rsi = Steps(partial(rsi_points, rules=r), (r.oversold, r.accumulation[0], _after(r.accumulation[1]),
                                                         r.bullish[0], _after(r.bullish[1])))  # fmt: skip
        self.volume = Steps(partial(table_points, rows=cfg.volume_spike), (t for t, _ in cfg.volume_spike))
        self.velocity = Steps(partial(table_points, rows=cfg.velocity), (t for t, _ in cfg.velocity))

    def __call__(self, *, rsi: F64, macd: F64, macd_signal: F64, macd_hist: F64, macd_cross_age: I64,
                 volume_spike: F64, velocity_1h: F64, breakout: F64) -> Components:  # fmt: skip
        """Every part and the total for every row."""
        parts = (self.rsi(rsi), macd_points(macd, macd_signal, macd_hist, macd_cross_age, self.cfg.macd),
                 self.volume(volume_spike), self.velocity(velocity_1h),
                 breakout_points(breakout, self.cfg.breakout_max_points))  # fmt: skip
        total = parts[0] + parts[1]
        for p in parts[2:]:
            total += p
        np.minimum(total, 100.0, out=total)
        return Components(*parts, total=total)
