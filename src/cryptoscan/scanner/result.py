"""One scan's outcome: arrays for every row, plus the ranked order; rows become objects only when shown.

:class:`ScanRow` and :class:`ScanSnapshot` are the public, JSON-ready shapes (``scan --once --json``, Redis,
the dashboard). Each row keeps its score components, probability factors and indicator values, so a user
can see why a pair ranks where it does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import msgspec
import numpy as np
from numpy.typing import NDArray

from cryptoscan.indicators.values import IndicatorValues
from cryptoscan.scanner.levels import LEVELS_HIGH_FIRST, Level
from cryptoscan.scanner.probability import ProbabilityOutput
from cryptoscan.scanner.score import PARTS, Components

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
INDICATORS = ("rsi14", "rsi21", "macd", "macd_signal", "macd_hist", "volume_spike", "velocity_1h", "breakout",
              "volatility_24h", "atr", "high_n", "resistance")  # fmt: skip


class ScanRow(msgspec.Struct, frozen=True, kw_only=True):
    rank: int  # 1 = best composite among the pairs that passed the filters
    venue: str
    symbol: str
    level: str
    price: float
    momentum: float  # 0-100
    probability: float  # percent, of +target_pct within 4-24 h
    composite: float
    volume_24h: float  # quote volume, USDT
    updated_ms: int  # exchange time of the newest kline
    components: dict[str, float]  # points per score part
    factors: dict[str, float]  # probability factors, each 0-1
    indicators: dict[str, float | None]  # None while warming up


class ScanSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    ts_ms: int
    interval: str
    tracked: int  # pairs with state
    eligible: int  # pairs that passed the volume and price filters
    counts: dict[str, int]  # eligible pairs per level
    levels: dict[str, list[ScanRow]]  # top rows per level, highest level first


def _num(x: float) -> float | None:
    return None if math.isnan(x) else x


@dataclass(frozen=True, slots=True)
class ScanResult:
    ts_ms: int
    interval: str
    names: list[tuple[str, str]]
    tracked: int
    order: I64  # eligible rows, best first
    groups: dict[Level, I64]  # top rows per level
    levels: NDArray[np.int8]
    components: Components
    composite: F64
    probability: ProbabilityOutput
    price: F64
    quote_volume: F64
    updated_ms: I64
    values: IndicatorValues

    def row(self, index: int, rank: int) -> ScanRow:
        """The public row of array index ``index``."""
        venue, symbol = self.names[index]
        c, p, v = self.components, self.probability, self.values
        return ScanRow(
            rank=rank, venue=venue, symbol=symbol, level=Level(int(self.levels[index])).name,
            price=float(self.price[index]), momentum=float(c.total[index]),
            probability=float(p.probability[index]), composite=float(self.composite[index]),
            volume_24h=float(self.quote_volume[index]), updated_ms=int(self.updated_ms[index]),
            components={name: float(getattr(c, name)[index]) for name in PARTS},
            factors={name: float(f[index]) for name, f in p.factors.items()},
            indicators={name: _num(float(getattr(v, name)[index])) for name in INDICATORS},
        )  # fmt: skip

    def top(self, n: int) -> list[ScanRow]:
        """The best ``n`` eligible rows over all levels."""
        return [self.row(int(i), k + 1) for k, i in enumerate(self.order[:n])]

    def snapshot(self) -> ScanSnapshot:
        rank_of = {int(i): k + 1 for k, i in enumerate(self.order)}
        counts = np.bincount(self.levels[self.order], minlength=len(Level))
        return ScanSnapshot(
            ts_ms=self.ts_ms, interval=self.interval, tracked=self.tracked, eligible=int(self.order.size),
            counts={lv.name: int(counts[lv]) for lv in LEVELS_HIGH_FIRST},
            levels={lv.name: [self.row(int(i), rank_of[int(i)]) for i in self.groups[lv]] for lv in LEVELS_HIGH_FIRST},
        )  # fmt: skip
