"""The momentum score at every threshold edge, and the confidence levels."""

from __future__ import annotations

import numpy as np
import pytest

from cryptoscan.config_scanner import LevelRules, MacdRules, RsiRules, ScannerConfig
from cryptoscan.scanner.levels import Level, classify
from cryptoscan.scanner.score import Scorer, breakout_points, macd_points, rsi_points, table_points

NAN = float("nan")
CFG = ScannerConfig()


def arr(*xs: float) -> np.ndarray:
    return np.array(xs, dtype=np.float64)


@pytest.mark.parametrize(
    ("rsi", "points"),
    [(0.0, 25), (29.999, 25), (30.0, 15), (37.0, 15), (45.0, 15), (45.001, 0), (50.0, 0), (54.999, 0),
     (55.0, 20), (62.0, 20), (70.0, 20), (70.001, 0), (99.0, 0), (NAN, 0)],
)  # fmt: skip
def test_rsi_points_at_every_edge(rsi: float, points: float) -> None:
    assert rsi_points(arr(rsi), RsiRules())[0] == points


def test_rsi_bands_come_from_config() -> None:
    rules = RsiRules(oversold=20, accumulation=(20, 40), bullish=(60, 80), bullish_points=5)
    assert list(rsi_points(arr(19.9, 20, 50, 60, 80, 81), rules)) == [25, 15, 0, 5, 5, 0]


NO = 1 << 40


@pytest.mark.parametrize(
    ("line", "signal", "age", "points"),
    [
        (1.0, 0.5, 0, 20),  # crossed on this bar
        (1.0, 0.5, 2, 20),  # crossed 2 bars ago: still "within the last 3 bars"
        (1.0, 0.5, 3, 10),  # 3 bars ago: no longer a fresh cross, line still above
        (1.0, 0.5, NO, 10),  # never crossed since warm-up (or before it): above only
        (0.5, 1.0, 1, 0),  # crossed, then fell back: histogram negative
        (1.0, 1.0, 0, 0),  # histogram exactly 0 is not positive, line not above
        (-1.0, -2.0, 5, 10),  # above signal below zero still counts
        (NAN, NAN, NO, 0),
    ],
)
def test_macd_points(line: float, signal: float, age: int, points: float) -> None:
    got = macd_points(arr(line), arr(signal), arr(line - signal), np.array([age], np.int64), MacdRules())
    assert got[0] == points


@pytest.mark.parametrize(
    ("spike", "points"),
    [(NAN, 0), (0.0, 0), (199.99, 0), (200.0, 15), (299.99, 15), (300.0, 20), (499.99, 20), (500.0, 25), (5e4, 25)],
)
def test_volume_spike_points(spike: float, points: float) -> None:
    assert table_points(arr(spike), CFG.volume_spike)[0] == points


@pytest.mark.parametrize(
    ("velocity", "points"), [(NAN, 0), (-5.0, 0), (1.4999, 0), (1.5, 10), (2.9999, 10), (3.0, 15), (40.0, 15)]
)
def test_velocity_points(velocity: float, points: float) -> None:
    assert table_points(arr(velocity), CFG.velocity)[0] == points


def test_breakout_points_are_capped() -> None:
    assert list(breakout_points(arr(NAN, -1.0, 0.0, 7.5, 15.0, 15.01, 90.0), 15.0)) == [0, 0, 0, 7.5, 15, 15, 15]


def test_total_adds_the_parts_for_each_row() -> None:
    c = Scorer(CFG)(
        rsi=arr(60.0, 10.0, NAN), macd=arr(1.0, 1.0, NAN), macd_signal=arr(0.5, 2.0, NAN),
        macd_hist=arr(0.5, -1.0, NAN), macd_cross_age=np.array([1, NO, NO], np.int64),
        volume_spike=arr(600.0, 250.0, NAN), velocity_1h=arr(3.5, 1.6, NAN), breakout=arr(40.0, 3.0, NAN),
    )  # fmt: skip
    assert list(c.rsi) == [20, 25, 0] and list(c.macd) == [20, 0, 0]
    assert list(c.volume) == [25, 15, 0] and list(c.velocity) == [15, 10, 0] and list(c.breakout) == [15, 3, 0]
    assert list(c.total) == [95, 53, 0]


def test_total_never_exceeds_100_even_with_generous_config() -> None:
    cfg = ScannerConfig(breakout_max_points=50)
    c = Scorer(cfg)(rsi=arr(10.0), macd=arr(1.0), macd_signal=arr(0.0), macd_hist=arr(1.0),
                    macd_cross_age=np.array([0], np.int64), volume_spike=arr(900.0), velocity_1h=arr(9.0),
                    breakout=arr(50.0))  # fmt: skip
    assert c.total[0] == 100


@pytest.mark.parametrize(
    ("s", "level"),
    [(NAN, Level.DESCARTADA), (0.0, Level.DESCARTADA), (29.99, Level.DESCARTADA), (30.0, Level.BAJA),
     (49.99, Level.BAJA), (50.0, Level.MEDIA), (69.99, Level.MEDIA), (70.0, Level.ALTA), (84.99, Level.ALTA),
     (85.0, Level.FUERTE), (100.0, Level.FUERTE)],
)  # fmt: skip
def test_levels_at_every_edge(s: float, level: Level) -> None:
    assert classify(arr(s), LevelRules())[0] == level


def test_levels_follow_config() -> None:
    assert list(classify(arr(10, 20, 40, 60, 80), LevelRules(fuerte=60, alta=40, media=20, baja=10))) == [1, 2, 3, 4, 4]


@pytest.mark.parametrize("cfg", [CFG, ScannerConfig(
    rsi=RsiRules(oversold=40, accumulation=(35, 50), bullish=(50, 65)),  # overlapping bands: the rules' order wins
    volume_spike=[(250.0, 7.0), (100.0, 3.0)], velocity=[(0.5, 1.0)])])
def test_the_lookup_tables_equal_the_rules_everywhere(cfg: ScannerConfig) -> None:
    """Each table of a Scorer against the plain rule: at every edge, one float either side, and at random."""
    sc = Scorer(cfg)
    rng = np.random.default_rng(4)
    for steps, rule in ((sc.rsi, lambda x: rsi_points(x, cfg.rsi)),
                        (sc.volume, lambda x: table_points(x, cfg.volume_spike)),
                        (sc.velocity, lambda x: table_points(x, cfg.velocity))):  # fmt: skip
        edges = steps.edges
        x = np.concatenate([edges, np.nextafter(edges, -np.inf), np.nextafter(edges, np.inf), [NAN, np.inf, -np.inf],
                            rng.uniform(-10, 1000, 5000), rng.uniform(-5, 5, 5000)])  # fmt: skip
        assert np.array_equal(steps(x), rule(x))
