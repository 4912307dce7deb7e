"""The report's statistics: the day-block bootstrap (its point is the plain ratio, its interval honest about
clustered outcomes), the volatility-matched base rate by hand, Brier, skill, AUC and reliability."""

from __future__ import annotations

import numpy as np
import pytest

from cryptoscan.backtest import stats

DAY = 86_400_000


def clustered(days: int = 60, per_day: int = 40, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Rows whose outcome is shared by the whole day (a market-wide pump or nothing)."""
    rng = np.random.default_rng(seed)
    day_hit = (rng.random(days) < 0.4).astype(np.float64)
    t = np.repeat(np.arange(days) * DAY, per_day) + np.tile(np.arange(per_day) * 1000, days)
    return t.astype(np.int64), np.repeat(day_hit, per_day)


def test_ratio_point_is_the_plain_ratio_and_inside_its_interval() -> None:
    t, y = clustered()
    boot = stats.BlockBootstrap(t, n_boot=500, seed=2)
    e = boot.ratio(boot.sums(np.arange(t.size), y), boot.sums(np.arange(t.size), np.ones(t.size)))
    assert e.value == pytest.approx(y.mean())
    assert e.lo < e.value < e.hi


def test_block_bootstrap_is_wider_than_iid_on_clustered_outcomes() -> None:
    t, y = clustered()
    rows = np.arange(t.size)
    by_day = stats.BlockBootstrap(t, n_boot=1000, seed=3)
    by_row = stats.BlockBootstrap(np.arange(t.size, dtype=np.int64), block_ms=1, n_boot=1000, seed=3)
    w_day = by_day.ratio(by_day.sums(rows, y), by_day.sums(rows, np.ones(t.size)))
    w_row = by_row.ratio(by_row.sums(rows, y), by_row.sums(rows, np.ones(t.size)))
    assert by_day.n_blocks == 60 and by_row.n_blocks == t.size
    assert (w_day.hi - w_day.lo) > 4 * (w_row.hi - w_row.lo)  # 40 rows a day share one outcome: ~sqrt(40) wider


def test_empty_group_gives_nan_not_an_error() -> None:
    t, y = clustered(5, 3)
    boot = stats.BlockBootstrap(t, n_boot=50)
    none = np.zeros(0, np.int64)
    e = boot.ratio(boot.sums(none, y[none]), boot.sums(none, np.ones(0)))
    assert np.isnan(e.value) and e.as_dict() == {"value": None, "lo": None, "hi": None}


def test_matched_base_rate_uses_the_other_rows_of_the_same_time_and_bin() -> None:
    t = np.array([0, 0, 0, 0, 0, 1, 1], np.int64)
    bins = np.array([0, 0, 0, 1, 0, 0, 0], np.int64)
    hit = np.array([1.0, 0.0, 1.0, 1.0, np.nan, 0.0, 1.0])
    got = stats.matched_base_rate(t, bins, hit, np.array([0, 1, 3, 4, 5]))
    assert got[0] == pytest.approx(0.5)  # rows 1 and 2 (row 4 is unresolved, row 3 another bin)
    assert got[1] == pytest.approx(1.0)  # rows 0 and 2
    assert np.isnan(got[2])  # alone in its cell
    assert got[3] == pytest.approx(2 / 3)  # an unresolved query still gets its cell's rate
    assert got[4] == pytest.approx(1.0)  # time 1: only row 6 besides itself


def test_volatility_bins_are_global_quantiles() -> None:
    v = np.r_[np.arange(100.0), np.nan]
    b = stats.volatility_bins(v, 5)
    assert b[-1] == -1
    assert np.bincount(b[:-1]).tolist() == [20] * 5
    assert (np.diff(b[:-1]) >= 0).all()


def test_brier_skill_auc_and_reliability() -> None:
    y = np.array([0, 0, 1, 1, 1, 0, 1, 0], np.float64)
    p = np.array([0.1, 0.25, 0.85, 0.7, 0.9, 0.35, 0.65, 0.45])
    base = np.full(8, 0.5)
    assert stats.brier(base, y) == pytest.approx(0.25)
    assert stats.brier(p, y) == pytest.approx(np.mean((p - y) ** 2))
    assert stats.brier_skill(p, y, base) == pytest.approx(1 - stats.brier(p, y) / 0.25)
    assert stats.auc(p, y) == 1.0  # every hit ranked above every miss
    assert stats.auc(1 - p, y) == 0.0
    assert np.isnan(stats.auc(p, np.ones(8)))
    r = stats.reliability(p, y, n_bins=5)
    assert r.count.tolist() == [1, 2, 1, 2, 2]
    assert r.observed.tolist() == [0.0, 0.0, 0.0, 1.0, 1.0]
    assert r.predicted[1] == pytest.approx(0.3)
    assert stats.expected_calibration_error(r) == pytest.approx((0.1 + 0.6 + 0.45 + 0.65 + 0.25) / 8)
