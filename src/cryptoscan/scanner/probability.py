"""Probability of a +7.5 % move within 4-24 h, behind an interface the calibrated model can replace.

The default :class:`HeuristicProbability` is the product's weighted sum of five factors, each in [0, 1]:

- volatility (0.25): ``low_volatility_factor`` (0.3) when 24 h realized volatility is under 7.5 %, else
  ``min(vol / 15, 1)``: a pair that never moves 7.5 % a day is unlikely to start now;
- momentum (0.30): ``score / 100``;
- resistance (0.20): ``min(distance / 7.5, 1)`` with distance the percent from price up to the 24 h
  resistance; a price above its resistance has none overhead (1); unknown resistance is neutral (0.5);
- btc (0.15): ``0.5 + 0.5 * corr * btc_trend``: the pair's return correlation with BTCUSDT times BTC's own
  momentum (its 1 h velocity over ``btc_velocity_full_pct``, clipped to [-1, 1]); a pair that follows a
  rising BTC scores up to 1, one that follows a falling BTC down to 0, an uncorrelated one 0.5;
- liquidity (0.10): 24 h quote volume on a log scale from ``liquidity_floor_usd`` (0) to
  ``liquidity_full_usd`` (1).

It is a heuristic, not a calibrated probability: the backtest measures how often it comes true.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from cryptoscan.config_scanner import ProbabilityRules

F64 = NDArray[np.float64]
FACTORS = ("volatility", "momentum", "resistance", "btc", "liquidity")


@dataclass(frozen=True, slots=True)
class ProbabilityInputs:
    """What a model may use, one entry per row."""

    momentum: F64  # score 0-100
    volatility_24h: F64  # percent
    close: F64
    resistance: F64  # price; NaN when unknown
    btc_correlation: F64  # [-1, 1]; NaN when unknown
    btc_velocity_1h: F64  # percent, BTC of the row's venue; NaN when unknown
    quote_volume_24h: F64  # USDT; NaN when unknown


@dataclass(frozen=True, slots=True)
class ProbabilityOutput:
    probability: F64  # percent, 0-100
    factors: dict[str, F64]  # name -> [0, 1] per row, so a user sees why


class ProbabilityModel(Protocol):
    def __call__(self, x: ProbabilityInputs) -> ProbabilityOutput: ...


class HeuristicProbability:
    """The product's weighted factors (see the module docstring)."""

    def __init__(self, rules: ProbabilityRules) -> None:
        self.rules = rules
        w = rules.weights
        self.weights = {"volatility": w.volatility, "momentum": w.momentum, "resistance": w.resistance,
                        "btc": w.btc, "liquidity": w.liquidity}  # fmt: skip
        self._log_floor = float(np.log10(rules.liquidity_floor_usd))
        self._log_span = max(float(np.log10(rules.liquidity_full_usd)) - self._log_floor, 1e-9)

    def factors(self, x: ProbabilityInputs) -> dict[str, F64]:
        """Each factor for every row, in few whole-array operations (a pass runs this over 2000 rows every few
        seconds): ``fmax(v, 0)`` turns NaN into 0 where that is the factor's reading of "unknown"."""
        r = self.rules
        with np.errstate(invalid="ignore", divide="ignore"):
            vol = x.volatility_24h
            volatility = np.minimum(vol, r.full_volatility_pct)
            volatility /= r.full_volatility_pct
            volatility = np.where(vol >= r.low_volatility_pct, volatility, r.low_volatility_factor)  # NaN: low
            momentum = np.fmax(x.momentum, 0.0)  # NaN -> 0
            np.minimum(momentum, 100.0, out=momentum)
            momentum /= 100.0
            distance = np.divide(x.resistance, x.close)  # in targets: percent up to the resistance / target
            distance -= 1.0
            distance *= 100.0 / r.target_pct
            resistance = np.minimum(distance, 1.0)
            resistance[distance <= 0.0] = 1.0  # above its resistance: none overhead
            resistance[distance != distance] = 0.5  # unknown: neutral
            btc = x.btc_velocity_1h / r.btc_velocity_full_pct  # BTC's trend in [-1, 1]
            np.minimum(btc, 1.0, out=btc)
            np.maximum(btc, -1.0, out=btc)
            btc *= x.btc_correlation
            btc[btc != btc] = 0.0  # unknown correlation or trend: neither helps nor hurts
            btc *= 0.5
            btc += 0.5
            np.minimum(btc, 1.0, out=btc)
            np.maximum(btc, 0.0, out=btc)
            liquidity = np.log10(x.quote_volume_24h)
            liquidity -= self._log_floor
            liquidity /= self._log_span
            np.minimum(liquidity, 1.0, out=liquidity)
            np.fmax(liquidity, 0.0, out=liquidity)  # unknown or under the floor: 0
        return {"volatility": volatility, "momentum": momentum, "resistance": resistance, "btc": btc,
                "liquidity": liquidity}  # fmt: skip

    def __call__(self, x: ProbabilityInputs) -> ProbabilityOutput:
        f = self.factors(x)
        total = self.weights[FACTORS[0]] * f[FACTORS[0]]
        for name in FACTORS[1:]:
            total += self.weights[name] * f[name]
        np.minimum(total, 1.0, out=total)
        np.maximum(total, 0.0, out=total)
        total *= 100.0
        return ProbabilityOutput(probability=total, factors=f)
