"""Ranking: liquidity and price filters at their edges, the composite key, grouping by level."""

from __future__ import annotations

import numpy as np

from cryptoscan.config_scanner import ScannerConfig
from cryptoscan.scanner.levels import Level
from cryptoscan.scanner.ranking import by_level, composite, eligible, rank

NAN = float("nan")
CFG = ScannerConfig()


def test_filters_at_their_edges() -> None:
    price = np.array([1.0, 1.0, 0.0099, 0.01, 1000.0, 1000.01, NAN, 1.0, 1.0])
    qvol = np.array([999_999.0, 1e6, 5e6, 5e6, 5e6, 5e6, 5e6, NAN, 5e6])
    live = np.array([True] * 8 + [False])
    assert list(eligible(price, qvol, live, CFG)) == [False, True, False, True, True, False, False, False, False]


def test_default_band_leaves_out_btc_and_a_wider_one_keeps_it() -> None:
    price, qvol, live = np.array([95_000.0]), np.array([5e9]), np.array([True])
    assert not eligible(price, qvol, live, CFG)[0]
    assert eligible(price, qvol, live, ScannerConfig(max_price=1e6))[0]


def test_composite_weights() -> None:
    assert list(composite(np.array([80.0, NAN]), np.array([50.0, 20.0]), CFG)) == [0.6 * 80 + 0.4 * 50, 8.0]
    cfg = ScannerConfig(composite={"momentum": 1.0, "probability": 0.0})
    assert composite(np.array([80.0]), np.array([50.0]), cfg)[0] == 80.0


def test_rank_orders_by_key_and_keeps_ties_stable() -> None:
    key = np.array([10.0, 50.0, 30.0, 50.0, 99.0])
    mask = np.array([True, True, True, True, False])
    assert list(rank(key, mask)) == [1, 3, 2, 0]


def test_rank_equals_a_stable_argsort_on_many_ties_zeros_and_negative_keys() -> None:
    rng = np.random.default_rng(3)
    for n, scale in ((2000, 1.0), (2048, 1.0), (700, -1.0)):
        key = np.round(rng.uniform(0, 100, n), 1) * scale  # many ties; negative keys take the fallback
        key[rng.integers(0, n, 50)] = 0.0
        key[rng.integers(0, n, 5)] = -0.0
        mask = rng.random(n) < 0.9
        idx = np.flatnonzero(mask)
        expected = idx[np.argsort(-key[idx], kind="stable")]
        assert np.array_equal(rank(key, mask), expected)
    assert rank(np.zeros(3), np.zeros(3, np.bool_)).size == 0


def test_grouped_by_level_highest_first_with_top_n() -> None:
    order = np.array([4, 0, 2, 3, 1], np.int64)
    levels = np.array([4, 0, 4, 2, 4], np.int8)
    groups = by_level(order, levels, top=2)
    assert list(groups) == [Level.FUERTE, Level.ALTA, Level.MEDIA, Level.BAJA, Level.DESCARTADA]
    assert list(groups[Level.FUERTE]) == [4, 0] and list(groups[Level.MEDIA]) == [3]
    assert list(groups[Level.ALTA]) == [] and list(groups[Level.DESCARTADA]) == [1]
