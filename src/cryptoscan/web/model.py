"""The opportunities table as the browser shows it, and what changed since the last pass (sans-I/O).

Why a model of its own: the browser patches single ``<tr>`` elements, so the server must say exactly which
rows changed and which left. :meth:`TableModel.apply` takes one :class:`ScanResult`, picks the top ``top``
eligible rows of each shown level straight from its arrays (no :class:`ScanRow` built for rows that are not
shown), and returns only the rows whose shown values differ, plus the keys that left. No I/O, no clock:
the pass's own ``ts_ms`` is its time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import msgspec
import numpy as np

from cryptoscan.scanner.levels import Level
from cryptoscan.scanner.result import ScanResult

SHOWN: tuple[Level, ...] = (Level.FUERTE, Level.ALTA, Level.MEDIA)


class TableRow(msgspec.Struct, frozen=True, kw_only=True):
    """One shown row; ``key`` is ``venue:SYMBOL``. Floats are rounded so noise below display precision does not
    count as a change; None stands for a value not known yet (NaN in the scanner)."""

    key: str
    venue: str
    symbol: str
    level: str
    rank: int
    price: float | None
    momentum: float
    probability: float | None
    volume: float | None  # 24 h quote volume, USDT
    updated_ms: int  # exchange time of the newest kline


class TableMeta(msgspec.Struct, frozen=True, kw_only=True):
    ts_ms: int  # the pass's time (market time under the demo)
    interval: str
    tracked: int
    eligible: int
    counts: dict[str, int]  # eligible pairs per level, highest first


@dataclass(frozen=True, slots=True)
class TableDiff:
    meta: TableMeta
    upsert: list[TableRow]
    remove: list[str]

    @property
    def empty(self) -> bool:
        return not self.upsert and not self.remove


def _num(x: float, digits: int | None = None) -> float | None:
    if math.isnan(x):
        return None
    return round(x, digits) if digits is not None else x


def pick(result: ScanResult, top: int, levels: tuple[Level, ...] = SHOWN) -> list[TableRow]:
    """The best ``top`` eligible rows of each level in ``levels``, ranked over every eligible row."""
    order = result.order
    ranked_levels = result.levels[order]
    out: list[TableRow] = []
    for level in levels:
        for pos in np.flatnonzero(ranked_levels == level)[:top]:
            i = int(order[pos])
            venue, symbol = result.names[i]
            out.append(TableRow(
                key=f"{venue}:{symbol}", venue=venue, symbol=symbol, level=level.name, rank=int(pos) + 1,
                price=_num(float(result.price[i])), momentum=round(float(result.components.total[i]), 2),
                probability=_num(float(result.probability.probability[i]), 2),
                volume=_num(float(result.quote_volume[i]), 0), updated_ms=int(result.updated_ms[i]),
            ))  # fmt: skip
    return out


def meta_of(result: ScanResult) -> TableMeta:
    counts = np.bincount(result.levels[result.order], minlength=len(Level))
    return TableMeta(
        ts_ms=result.ts_ms, interval=result.interval, tracked=result.tracked, eligible=int(result.order.size),
        counts={lv.name: int(counts[lv]) for lv in sorted(Level, reverse=True)},
    )  # fmt: skip


class TableModel:
    """The rows on screen; :meth:`apply` moves them to the next pass and says what changed."""

    def __init__(self, top: int = 10, levels: tuple[Level, ...] = SHOWN) -> None:
        if top < 1:
            raise ValueError("top must be at least 1")
        self.top = top
        self.levels = levels
        self.rows: dict[str, TableRow] = {}
        self.meta: TableMeta | None = None

    def apply(self, result: ScanResult) -> TableDiff:
        fresh = {r.key: r for r in pick(result, self.top, self.levels)}
        upsert = [r for key, r in fresh.items() if self.rows.get(key) != r]
        remove = [key for key in self.rows if key not in fresh]
        self.rows = fresh
        self.meta = meta_of(result)
        return TableDiff(self.meta, upsert, remove)

    def snapshot(self) -> tuple[TableMeta | None, list[TableRow]]:
        """What a client that just connected needs: every shown row (ranked order) and the pass's meta."""
        return self.meta, list(self.rows.values())
