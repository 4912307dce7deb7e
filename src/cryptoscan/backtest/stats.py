"""The statistics of the report: cluster-bootstrap intervals, base rates (overall and volatility-matched), lift,
and the scores of a probability (Brier, Brier skill, AUC, reliability bins).

Why a cluster (block) bootstrap by time and not an iid one: alerts and hits come in bursts (a market-wide pump
lifts dozens of pairs in the same hours), so rows of the same day are not independent, and resampling rows one
by one gives intervals that are too narrow. Here whole blocks of time (calendar days, UTC, by default) are drawn
with replacement, every row of a drawn block together, and each statistic is a ratio of sums recomputed on the
resample: percentile intervals. One draw of blocks serves every statistic of a table, so precision, base rate
and lift come from the same resamples.

The volatility-matched base rate of a set of rows (the alerts) is, for each row, the hit rate of the *other*
resolved rows of the universe at the same decision time in the same volatility bin (global quantile bins of the
trailing volatility), averaged over the rows; a row whose cell has no other member is left out and counted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from sklearn.metrics import roc_auc_score  # type: ignore[import-untyped]

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
B = NDArray[np.bool_]
DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class Estimate:
    """A point estimate with its bootstrap interval (NaN when undefined, e.g. no rows)."""

    value: float
    lo: float
    hi: float

    def as_dict(self) -> dict[str, float | None]:
        return {k: (None if np.isnan(v) else round(float(v), 6)) for k, v in
                (("value", self.value), ("lo", self.lo), ("hi", self.hi))}  # fmt: skip


class BlockBootstrap:
    """Resamples of time blocks: ``draw`` block counts once, then any ratio of block sums on them."""

    def __init__(self, time_ms: I64, *, block_ms: int = DAY_MS, n_boot: int = 2000, ci: float = 0.95,
                 seed: int = 0) -> None:  # fmt: skip
        blocks = np.floor_divide(time_ms, block_ms)
        self.keys, self.block = np.unique(blocks, return_inverse=True)
        self.n_blocks = int(self.keys.size)
        self.ci = ci
        rng = np.random.default_rng(seed)
        d = max(self.n_blocks, 1)
        self.weights = rng.multinomial(self.n_blocks, np.full(d, 1.0 / d), size=n_boot).astype(np.float64)

    def sums(self, rows: I64 | B, values: F64) -> F64:
        """Per block, the sum of ``values`` over ``rows`` (a mask or indices into the times given)."""
        return np.bincount(self.block[rows], weights=values, minlength=self.n_blocks).astype(np.float64)

    def ratio(self, num: F64, den: F64) -> Estimate:
        """sum(num) / sum(den) over all blocks, with its interval; both are per-block sums."""
        return self.statistic(lambda s: safe_div(s[0], s[1]), num, den)

    def statistic(self, f: Callable[[list[F64]], F64], *block_sums: F64) -> Estimate:
        """``f`` of totals (each a scalar array for the point, a (n_boot,) array for the resamples)."""
        point = float(f([np.asarray(s.sum()) for s in block_sums]))
        boot = f([self.weights @ s for s in block_sums])
        boot = boot[np.isfinite(boot)]
        if np.isnan(point) or boot.size == 0:
            return Estimate(point, np.nan, np.nan)
        a = (1.0 - self.ci) / 2.0
        lo, hi = np.quantile(boot, [a, 1.0 - a])
        return Estimate(point, float(lo), float(hi))


def safe_div(a: F64, b: F64) -> F64:
    with np.errstate(divide="ignore", invalid="ignore"):
        out: F64 = np.where(b > 0, a / np.where(b > 0, b, 1.0), np.nan)
    return out


def volatility_bins(vol: F64, n_bins: int = 5) -> I64:
    """Global quantile bin (0..n_bins-1) of each row's volatility; -1 where it is NaN."""
    ok = np.isfinite(vol)
    out = np.full(vol.shape, -1, np.int64)
    if not ok.any():
        return out
    edges = np.quantile(vol[ok], np.linspace(0, 1, n_bins + 1)[1:-1])
    out[ok] = np.searchsorted(edges, vol[ok], side="right")
    return out


def matched_base_rate(time_ms: I64, bins: I64, hit: F64, query: I64) -> F64:
    """For each row in ``query``: the hit rate of the other rows with the same time and bin (NaN: none).

    ``hit`` is 1/0 for resolved rows and NaN for unresolved ones (which count in no cell); ``bins`` -1 is no bin.
    """
    ok = np.isfinite(hit) & (bins >= 0)
    if not ok.any():
        return np.full(query.size, np.nan)
    keys = time_ms * 1024 + bins  # bins < 1024
    cell_keys, cell = np.unique(keys[ok], return_inverse=True)
    hits = np.bincount(cell, weights=hit[ok])
    counts = np.bincount(cell).astype(np.float64)
    qk = keys[query]
    q = np.minimum(np.searchsorted(cell_keys, qk), cell_keys.size - 1)
    found = (cell_keys[q] == qk) & (bins[query] >= 0)
    own = found & np.isfinite(hit[query])  # the row itself is in its cell: take it out
    num = np.where(found, hits[q] - np.where(own, hit[query], 0.0), 0.0)
    den = np.where(found, counts[q] - own, 0.0)
    return safe_div(num, den)


def brier(p: F64, y: F64) -> float:
    return float(np.mean((p - y) ** 2)) if p.size else float("nan")


def brier_skill(p: F64, y: F64, reference: F64) -> float:
    """1 - Brier(p) / Brier(reference): above 0 beats the reference, 1 is perfect."""
    ref = brier(reference, y)
    return 1.0 - brier(p, y) / ref if ref > 0 else float("nan")


def auc(p: F64, y: F64) -> float:
    """Area under the ROC curve (ties count half); NaN when only one class is present."""
    if p.size == 0 or np.all(y == y[0]):
        return float("nan")
    return float(roc_auc_score(y, p))


@dataclass(frozen=True, slots=True)
class Reliability:
    """Fixed-width bins of predicted probability: mean prediction, observed frequency, rows per bin."""

    edges: F64
    predicted: F64
    observed: F64
    count: I64

    def as_dict(self) -> dict[str, list[float | None] | list[int]]:
        def nums(a: F64) -> list[float | None]:
            return [None if np.isnan(v) else round(float(v), 6) for v in a]

        return {"edges": nums(self.edges), "predicted": nums(self.predicted), "observed": nums(self.observed),
                "count": [int(c) for c in self.count]}  # fmt: skip


def reliability(p: F64, y: F64, n_bins: int = 10) -> Reliability:
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    b = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, n_bins - 1)
    count = np.bincount(b, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        pred = np.bincount(b, weights=p, minlength=n_bins) / count
        obs = np.bincount(b, weights=y, minlength=n_bins) / count
    return Reliability(edges, pred, obs, count.astype(np.int64))


def expected_calibration_error(r: Reliability) -> float:
    """Row-weighted mean |observed - predicted| over the bins."""
    ok = r.count > 0
    if not ok.any():
        return float("nan")
    return float(np.sum(r.count[ok] * np.abs(r.observed[ok] - r.predicted[ok])) / r.count[ok].sum())
