"""The 0-100 momentum score, as the product defines it, over every row at once.

Five parts, each in points (defaults in :mod:`cryptoscan.config_scanner`): RSI 14 (25), MACD 3/10/16 (20),
volume spike (25), 1 h price velocity (15), breakout (15). A value that is not ready (NaN during warm-up)
scores 0: a pair is never promoted on missing data.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    return np.where(cross, rules.cross_points, np.where(line > signal, rules.above_points, 0.0))


def table_points(value: F64, rows: list[tuple[float, float]]) -> F64:
    """Points of the first ``(threshold, points)`` row (highest threshold first) that ``value`` reaches."""
    out = np.zeros(value.shape)
    for threshold, points in reversed(rows):
        out = np.where(value >= threshold, points, out)
    return out


def breakout_points(strength: F64, cap: float) -> F64:
    """Breakout strength (already in points) capped at ``cap``; NaN and negatives score 0."""
    return np.clip(np.nan_to_num(strength, nan=0.0), 0.0, cap)


def score(
    *,
    rsi: F64,
    macd: F64,
    macd_signal: F64,
    macd_hist: F64,
    macd_cross_age: I64,
    volume_spike: F64,
    velocity_1h: F64,
    breakout: F64,
    cfg: ScannerConfig,
) -> Components:
    """Every part and the total for every row."""
    parts = Components(
        rsi=rsi_points(rsi, cfg.rsi),
        macd=macd_points(macd, macd_signal, macd_hist, macd_cross_age, cfg.macd),
        volume=table_points(volume_spike, cfg.volume_spike),
        velocity=table_points(velocity_1h, cfg.velocity),
        breakout=breakout_points(breakout, cfg.breakout_max_points),
        total=np.zeros(0),
    )
    total = parts.rsi + parts.macd + parts.volume + parts.velocity + parts.breakout
    return Components(parts.rsi, parts.macd, parts.volume, parts.velocity, parts.breakout, np.minimum(total, 100.0))
