"""The ``scanner`` config section: every weight, threshold and filter of the momentum score, with the
product's values as defaults (issue "Momentum scanner"), so a user can move any of them without code.

Kept apart from ``config.py`` because it is the one section with rules rather than plain knobs.
Points tables are ``[[threshold, points], ...]``: the first row whose threshold the value reaches wins.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Interval = Literal["1m", "3m", "5m", "15m", "1h", "4h", "1d"]
VenueName = Literal["spot", "futures"]


class Section(BaseModel):
    """A frozen config section in which an unknown key is an error."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _descending(rows: list[tuple[float, float]]) -> list[tuple[float, float]]:
    if [t for t, _ in rows] != sorted((t for t, _ in rows), reverse=True):
        raise ValueError("rows must be ordered by threshold, highest first")
    return rows


class RsiRules(Section):
    """RSI 14 points: below ``oversold`` (rebound), inside ``accumulation``, inside ``bullish``; else 0."""

    oversold: float = 30.0
    oversold_points: float = Field(25.0, ge=0)
    accumulation: tuple[float, float] = (30.0, 45.0)
    accumulation_points: float = Field(15.0, ge=0)
    bullish: tuple[float, float] = (55.0, 70.0)
    bullish_points: float = Field(20.0, ge=0)


class MacdRules(Section):
    """MACD 3/10/16 points: a bullish cross within ``cross_within_bars`` with a positive histogram, else line
    above signal, else 0. Crosses count only after ``warmup_bars`` bars (the signal line's warm-up)."""

    cross_points: float = Field(20.0, ge=0)
    above_points: float = Field(10.0, ge=0)
    cross_within_bars: int = Field(3, ge=1)
    warmup_bars: int = Field(150, ge=0)


class ProbabilityWeights(Section):
    """Weights of the +7.5 % probability's factors; they must sum to 1 so the result stays a probability."""

    volatility: float = Field(0.25, ge=0)
    momentum: float = Field(0.30, ge=0)
    resistance: float = Field(0.20, ge=0)
    btc: float = Field(0.15, ge=0)
    liquidity: float = Field(0.10, ge=0)

    @model_validator(mode="after")
    def _sum_to_one(self) -> ProbabilityWeights:
        total = sum(self.model_dump().values())
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"weights must sum to 1 (they sum to {total:g})")
        return self


class ProbabilityRules(Section):
    target_pct: float = Field(7.5, gt=0)  # the move the probability is about
    # A model fitted by `cryptoscan backtest` (probability_model.json) replaces the weighted heuristic below
    # when its file says it beat it out of sample; the heuristic's factors are still shown.
    model: Path | None = None
    low_volatility_pct: float = Field(7.5, gt=0)  # 24 h volatility under this: factor low_volatility_factor
    low_volatility_factor: float = Field(0.3, ge=0, le=1)
    full_volatility_pct: float = Field(15.0, gt=0)  # else min(vol / this, 1)
    liquidity_floor_usd: float = Field(100_000.0, gt=0)  # 24 h quote volume scoring 0 ...
    liquidity_full_usd: float = Field(100_000_000.0, gt=0)  # ... and 1, on a log scale
    btc_velocity_full_pct: float = Field(2.0, gt=0)  # BTC's 1 h move that counts as full momentum
    weights: ProbabilityWeights = Field(default_factory=ProbabilityWeights)


class LevelRules(Section):
    """Minimum momentum score of each confidence level; below ``baja`` a pair is DESCARTADA."""

    fuerte: float = 85.0
    alta: float = 70.0
    media: float = 50.0
    baja: float = 30.0

    @model_validator(mode="after")
    def _ordered(self) -> LevelRules:
        if not self.fuerte > self.alta > self.media > self.baja:
            raise ValueError("levels must satisfy fuerte > alta > media > baja")
        return self


class CompositeWeights(Section):
    """Ranking key: momentum x ``momentum`` + probability (percent) x ``probability``."""

    momentum: float = Field(0.6, ge=0)
    probability: float = Field(0.4, ge=0)


class ScannerConfig(Section):
    interval: Interval = "1m"
    venues: list[VenueName] = Field(default_factory=lambda: list[VenueName](("spot", "futures")))
    # Ranking filters. The default price band leaves out BTC and ETH (priced above 1000): raise max_price to see them.
    min_volume_usd: float = Field(1_000_000, ge=0)
    min_price: float = Field(0.01, ge=0)
    max_price: float = Field(1000.0, gt=0)
    top: int = Field(10, gt=0)  # rows shown per confidence level
    rsi: RsiRules = Field(default_factory=RsiRules)
    macd: MacdRules = Field(default_factory=MacdRules)
    volume_spike: list[tuple[float, float]] = Field(
        default_factory=lambda: [(500.0, 25.0), (300.0, 20.0), (200.0, 15.0)]
    )  # percent of normal volume -> points
    velocity: list[tuple[float, float]] = Field(
        default_factory=lambda: [(3.0, 15.0), (1.5, 10.0)]
    )  # 1 h price change in percent -> points
    breakout_max_points: float = Field(15.0, ge=0)
    volume_lookback: int = Field(20, ge=2)  # bars in the volume spike's "normal"
    breakout_lookback: int = Field(20, ge=2)  # bars in the breakout's N-bar high
    levels: LevelRules = Field(default_factory=LevelRules)
    probability: ProbabilityRules = Field(default_factory=ProbabilityRules)
    composite: CompositeWeights = Field(default_factory=CompositeWeights)

    @field_validator("volume_spike", "velocity")
    @classmethod
    def _rows(cls, value: list[tuple[float, float]]) -> list[tuple[float, float]]:
        return _descending(value)

    @field_validator("venues")
    @classmethod
    def _some_venue(cls, value: list[VenueName]) -> list[VenueName]:
        if not value:
            raise ValueError("scan at least one venue")
        return list(dict.fromkeys(value))

    @model_validator(mode="after")
    def _price_range(self) -> ScannerConfig:
        if self.min_price >= self.max_price:
            raise ValueError(f"min_price ({self.min_price}) must be below max_price ({self.max_price})")
        return self
