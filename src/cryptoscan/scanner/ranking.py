"""Ranking: liquidity and price filters, then composite = 0.6 x momentum + 0.4 x probability, grouped by
confidence level. Returns row indices, so only the rows shown are ever turned into Python objects."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from cryptoscan.config_scanner import ScannerConfig
from cryptoscan.scanner.levels import LEVELS_HIGH_FIRST, Level

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]


def composite(momentum: F64, probability: F64, cfg: ScannerConfig) -> F64:
    """The ranking key, 0-100 with the default weights (probability in percent)."""
    w = cfg.composite
    return w.momentum * np.nan_to_num(momentum, nan=0.0) + w.probability * np.nan_to_num(probability, nan=0.0)


def eligible(price: F64, quote_volume_24h: F64, live: NDArray[np.bool_], cfg: ScannerConfig) -> NDArray[np.bool_]:
    """Rows in use whose 24 h volume and price pass the filters; unknown volume or price fails."""
    ok: NDArray[np.bool_] = (
        live
        & (quote_volume_24h >= cfg.min_volume_usd)
        & (price >= cfg.min_price)
        & (price <= cfg.max_price)
    )
    return ok


def rank(key: F64, mask: NDArray[np.bool_]) -> I64:
    """Indices of the rows in ``mask``, best ``key`` first (ties: lower row first, so the order is stable)."""
    idx = np.flatnonzero(mask)
    order = np.argsort(-key[idx], kind="stable")
    out: I64 = idx[order]
    return out


def by_level(order: I64, levels: NDArray[np.int8], top: int) -> dict[Level, I64]:
    """The first ``top`` rows of ``order`` in each level, highest level first (empty levels included)."""
    lv = levels[order]
    grouped = order[np.argsort(-lv, kind="stable")]  # by level, best first; ``order`` kept within a level
    counts = np.bincount(lv, minlength=len(Level))
    out: dict[Level, I64] = {}
    end = 0
    for level in LEVELS_HIGH_FIRST:
        start, end = end, end + int(counts[level])
        out[level] = grouped[start : min(end, start + top)]
    return out
