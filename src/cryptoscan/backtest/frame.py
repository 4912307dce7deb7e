"""What a backtest replay produces: one row per (decision time, symbol) the scanner scored, columnar.

Why columnar numpy and not row objects: a year of 1h bars over 400 pairs is 3.5 M rows; labelling, base rates,
bootstrap and model fitting are all vectorized over columns. Every column has one entry per row.

A row is what the live scanner knew at ``time_ms``: the scan run when bar ``bar_index`` of ``symbol`` closed
(``time_ms`` = that bar's open time + the interval). Outcomes look only at bars after ``bar_index``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
I32 = NDArray[np.int32]
I8 = NDArray[np.int8]
B = NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class ScoredBars:
    symbols: list[str]  # symbol_idx -> symbol
    time_ms: I64  # decision time: close of the scored bar (its open time + interval), epoch ms
    symbol_idx: I32
    bar_index: I32  # index of the scored (just closed) bar in History.bars[symbol]
    close: F64  # entry price: the scored bar's close
    momentum: F64  # 0-100
    level: I8  # scanner.levels.Level value
    probability: F64  # percent, from the scanner's probability model (heuristic unless replaced)
    composite: F64
    eligible: B  # passed the liquidity/price filters at that time (from past data only)
    quote_volume_24h: F64  # trailing 24 h quote volume known at time_ms (USDT)
    components: dict[str, F64] = field(default_factory=dict)  # scanner.score.PARTS -> points
    factors: dict[str, F64] = field(default_factory=dict)  # scanner.probability.FACTORS -> [0, 1]
    indicators: dict[str, F64] = field(default_factory=dict)  # scanner.result.INDICATORS -> value (NaN warming)
    venue: str = "spot"
    interval: str = "1h"
    scan_ms: I64 = field(default_factory=lambda: np.zeros(0, np.int64))  # every scan's time, rows or not (ascending)

    def __len__(self) -> int:
        return int(self.time_ms.shape[0])

    def take(self, mask: B | I64) -> ScoredBars:
        """The rows selected by a boolean mask or an index array, every column alike."""
        return ScoredBars(
            symbols=self.symbols, time_ms=self.time_ms[mask], symbol_idx=self.symbol_idx[mask],
            bar_index=self.bar_index[mask], close=self.close[mask], momentum=self.momentum[mask],
            level=self.level[mask], probability=self.probability[mask], composite=self.composite[mask],
            eligible=self.eligible[mask], quote_volume_24h=self.quote_volume_24h[mask],
            components={k: v[mask] for k, v in self.components.items()},
            factors={k: v[mask] for k, v in self.factors.items()},
            indicators={k: v[mask] for k, v in self.indicators.items()},
            venue=self.venue, interval=self.interval, scan_ms=self.scan_ms,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class AlertRows:
    """The alerts the live alert rules (alerts.rules.AlertRules) would have sent during the replay."""

    rows: I64  # index into the ScoredBars the alert came from (its level, price, components...)
    level: I8  # the alerted level (ALTA or FUERTE)
    sent_ms: I64 = field(default_factory=lambda: np.zeros(0, np.int64))  # when it went out (a digest: its close)
    upgrade: B = field(default_factory=lambda: np.zeros(0, np.bool_))  # an ALTA alert's pair reaching FUERTE

    def __len__(self) -> int:
        return int(self.rows.shape[0])
