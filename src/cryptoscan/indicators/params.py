"""Indicator parameters: the product's periods, and the bar counts derived from the kline interval."""

from __future__ import annotations

from dataclasses import dataclass

from cryptoscan.venues.binance.spec import INTERVAL_MS

HOUR_MS = 3_600_000
DAY_MS = 86_400_000
RSI_PERIODS = (14, 21)  # fixed: the values are named after them (rsi14, rsi21)


@dataclass(frozen=True, slots=True)
class IndicatorParams:
    """Every knob of the bank. Periods are in bars of ``interval``; percentages are plain percent (150 = 1.5x)."""

    interval: str = "1m"
    macd: tuple[int, int, int] = (3, 10, 16)  # fast, slow, signal: the scanner's MACD
    macd_classic: tuple[int, int, int] = (12, 26, 9)
    macd_warmup: int = 150  # a MACD 3/10/16 cross counts only once the row has this many bars
    atr_period: int = 14
    volume_lookback: int = 20  # volume spike: mean of the previous N bars
    breakout_lookback: int = 20  # high_n: max high of the previous N bars
    resistance_hours: int = 24  # completed hourly buckets behind the resistance
    resistance_min_hours: int = 1  # resistance is NaN until this many hourly buckets have completed
    volume_confirm_pct: float = 150.0  # breakout counts in full at or above this volume spike
    volatility_min_returns: int = 60  # realized volatility is NaN until min(W, this) returns

    def __post_init__(self) -> None:
        if self.interval not in INTERVAL_MS:
            raise ValueError(f"unknown interval {self.interval!r}; one of {', '.join(INTERVAL_MS)}")
        for name in ("macd", "macd_classic"):
            fast, slow, signal = getattr(self, name)
            if not 1 <= fast < slow or signal < 1:
                raise ValueError(f"{name} needs 1 <= fast < slow and signal >= 1, got {(fast, slow, signal)}")
        positive = ("atr_period", "volume_lookback", "breakout_lookback", "resistance_hours", "resistance_min_hours",
                    "volatility_min_returns")  # fmt: skip
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.resistance_min_hours > self.resistance_hours:
            raise ValueError("resistance_min_hours must not exceed resistance_hours")
        if self.macd_warmup < 0:
            raise ValueError("macd_warmup must not be negative")

    @property
    def interval_ms(self) -> int:
        return INTERVAL_MS[self.interval]

    @property
    def velocity_bars(self) -> int:
        """k of the 1 h velocity: bars per hour (60 on 1m); 1 on intervals of an hour or more (one bar back)."""
        return max(1, HOUR_MS // self.interval_ms)

    @property
    def volatility_window(self) -> int:
        """W of the 24 h realized volatility: bars per day (1440 on 1m, 24 on 1h, 1 on 1d)."""
        return max(1, DAY_MS // self.interval_ms)
