"""The +7.5 % probability: each factor at its edges, the weighted sum, the model interface."""

from __future__ import annotations

import numpy as np
import pytest

from cryptoscan.config_scanner import ProbabilityRules, ProbabilityWeights
from cryptoscan.scanner.probability import FACTORS, HeuristicProbability, ProbabilityInputs

NAN = float("nan")
MODEL = HeuristicProbability(ProbabilityRules())


def inputs(n: int = 1, **kw: float) -> ProbabilityInputs:
    base = {"momentum": 50.0, "volatility_24h": 10.0, "close": 100.0, "resistance": NAN, "btc_correlation": 0.0,
            "btc_velocity_1h": 0.0, "quote_volume_24h": 1e6}  # fmt: skip
    base.update(kw)
    return ProbabilityInputs(**{k: np.full(n, v, dtype=np.float64) for k, v in base.items()})


@pytest.mark.parametrize(("vol", "f"), [(NAN, 0.3), (0.0, 0.3), (7.49, 0.3), (7.5, 0.5), (12.0, 0.8), (15.0, 1.0),
                                        (40.0, 1.0)])  # fmt: skip
def test_volatility_factor(vol: float, f: float) -> None:
    assert MODEL.factors(inputs(volatility_24h=vol))["volatility"][0] == pytest.approx(f)


@pytest.mark.parametrize(("res", "f"), [(NAN, 0.5), (103.75, 0.5), (107.5, 1.0), (120.0, 1.0), (100.0, 1.0),
                                        (90.0, 1.0), (101.5, 0.2)])  # fmt: skip
def test_resistance_factor(res: float, f: float) -> None:
    """Distance up to resistance over 7.5 %; at or above resistance nothing is overhead."""
    assert MODEL.factors(inputs(resistance=res))["resistance"][0] == pytest.approx(f)


@pytest.mark.parametrize(("corr", "btc_vel", "f"), [(1.0, 2.0, 1.0), (1.0, -2.0, 0.0), (0.0, 5.0, 0.5),
                                                    (0.5, 1.0, 0.625), (-1.0, 4.0, 0.0), (NAN, 3.0, 0.5),
                                                    (1.0, NAN, 0.5)])  # fmt: skip
def test_btc_factor(corr: float, btc_vel: float, f: float) -> None:
    assert MODEL.factors(inputs(btc_correlation=corr, btc_velocity_1h=btc_vel))["btc"][0] == pytest.approx(f)


@pytest.mark.parametrize(("qv", "f"), [(NAN, 0.0), (0.0, 0.0), (1e5, 0.0), (10**6.5, 0.5), (1e8, 1.0), (1e10, 1.0)])
def test_liquidity_factor(qv: float, f: float) -> None:
    assert MODEL.factors(inputs(quote_volume_24h=qv))["liquidity"][0] == pytest.approx(f)


def test_weighted_sum_and_factors_are_kept() -> None:
    x = inputs(momentum=80.0, volatility_24h=12.0, resistance=103.75, btc_correlation=0.5, btc_velocity_1h=1.0,
               quote_volume_24h=10**6.5)  # fmt: skip
    out = MODEL(x)
    expected = 0.25 * 0.8 + 0.30 * 0.8 + 0.20 * 0.5 + 0.15 * 0.625 + 0.10 * 0.5
    assert out.probability[0] == pytest.approx(100 * expected)
    assert set(out.factors) == set(FACTORS)


def test_all_factors_full_is_100_percent_and_none_is_floor() -> None:
    hi = MODEL(inputs(momentum=100, volatility_24h=20, resistance=120, btc_correlation=1, btc_velocity_1h=3,
                      quote_volume_24h=1e9))  # fmt: skip
    assert hi.probability[0] == pytest.approx(100.0)
    lo = MODEL(inputs(momentum=0, volatility_24h=1, resistance=100.5, btc_correlation=1, btc_velocity_1h=-3,
                      quote_volume_24h=1))  # fmt: skip
    assert lo.probability[0] == pytest.approx(100 * (0.25 * 0.3 + 0.20 * (0.5 / 7.5)))


def test_weights_from_config_change_the_result() -> None:
    rules = ProbabilityRules(weights=ProbabilityWeights(volatility=0, momentum=1, resistance=0, btc=0, liquidity=0))
    assert HeuristicProbability(rules)(inputs(momentum=42.0)).probability[0] == pytest.approx(42.0)
