"""Live precision per level next to the backtest's: the main page's panel and ``GET /api/tracking``.

Live figures come from the running :class:`~cryptoscan.backtest.tracking.Tracker` (in-process: a running
``serve`` holds the store's write lock, so the dashboard cannot read the ``outcomes`` table the way
``cryptoscan status`` does); the backtest's from its ``report.json``, read once and again only when the file's
modification time or size changes, so a new backtest shows up without a restart. Both sides use the numbers
exactly as the tracker and the report give them, in the shape ``cryptoscan status`` prints.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from cryptoscan.backtest.tracking import LEVEL_ORDER, LevelPrecision
from cryptoscan.log import get_logger

log = get_logger(__name__)

DAYS = (7, 30)
SHOWN = ("FUERTE", "ALTA")  # always shown; another level only once an alert of it was resolved
_HORIZON = re.compile(r"^(\d+)h$")


@dataclass(frozen=True, slots=True)
class TrackingState:
    """The tracker's counters; ``resolved`` and ``newest_ms`` together move whenever its outcomes do."""

    enabled: bool = False  # a tracker is attached
    horizons_h: tuple[int, ...] = (4, 24)
    pending: int = 0  # alerts with a horizon still open
    dropped: int = 0  # alerts that could not be tracked (no price, or too many pending)
    resolved: int = 0  # outcomes kept (the last 30 days and the longest horizon)
    newest_ms: int = 0  # when the newest kept outcome was resolved


class Interval(msgspec.Struct, frozen=True):
    value: float
    lo: float | None
    hi: float | None


@dataclass(frozen=True, slots=True)
class BacktestFigures:
    """The report's precision per (level, horizon in hours); ``path`` is None when there is no usable report."""

    path: str | None = None
    precision: Mapping[tuple[str, int], Interval] = field(default_factory=dict)


def _number(x: Any) -> float | None:
    ok = isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)
    return float(x) if ok else None


LEVELS = ("FUERTE", "ALTA", "MEDIA", "BAJA")


def parse_report(doc: Any) -> dict[tuple[str, int], Interval]:
    """Per (level, horizon) the backtest's precision ``{"value", "lo", "hi"}``: of its *alerts* at that level
    (``doc["alerts"][LEVEL]``, what live tracking measures) where the report has them, else of its scored rows
    at that level (``doc["levels"][LEVEL]``); anything else is skipped."""
    out: dict[tuple[str, int], Interval] = {}
    for section in ("levels", "alerts"):  # alerts last: they win where both have the level
        levels = doc.get(section) if isinstance(doc, dict) else None
        for level, per in (levels or {}).items() if isinstance(levels, dict) else ():
            if not isinstance(per, dict) or (section == "alerts" and (level not in LEVELS or not per.get("count"))):
                continue  # "all", "upgrades": not a level; no alerts at a level: keep the rows' figure
            for key, group in per.items():
                m = _HORIZON.match(str(key))
                p = group.get("precision") if isinstance(group, dict) else None
                value = _number(p.get("value")) if isinstance(p, dict) else None
                if m and isinstance(p, dict) and value is not None:
                    out[(str(level), int(m.group(1)))] = Interval(value, _number(p.get("lo")), _number(p.get("hi")))
    return out


class BacktestFile:
    """The backtest report at ``path``: read on first use and again when it changes; missing is not an error."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.unreadable = 0  # versions of the file that were not JSON (a half-written file, a wrong path)
        self._stamp: tuple[int, int] | None = None
        self._figures = BacktestFigures()

    def figures(self) -> BacktestFigures:
        """One ``stat`` per call; the file is parsed only when its mtime or size moved."""
        if self.path is None:
            return self._figures
        try:
            st = self.path.stat()
        except OSError:
            self._stamp, self._figures = None, BacktestFigures()
            return self._figures
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp != self._stamp:
            self._stamp = stamp
            self._figures = self._read(self.path)
        return self._figures

    def _read(self, path: Path) -> BacktestFigures:
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            self.unreadable += 1
            log.warning("backtest report unreadable, no backtest column", path=str(path), error=str(exc)[:200])
            return BacktestFigures()
        figures = parse_report(doc)
        return BacktestFigures(str(path), figures) if figures else BacktestFigures()


class LiveCell(msgspec.Struct, frozen=True):
    alerts: int  # alerts resolved in the window (by alert time)
    hits: int
    precision: float | None  # None: no resolved alert


class TrackingRow(msgspec.Struct, frozen=True):
    level: str
    horizon_h: int
    live_7d: LiveCell
    live_30d: LiveCell
    backtest: Interval | None


class TrackingFrame(msgspec.Struct, frozen=True, kw_only=True):
    """The panel's content, pushed to the main page as it changes and answered by ``GET /api/tracking``."""

    type: str = "tracking"
    enabled: bool
    now_ms: int  # market time the windows end at
    target_pct: float
    pending: int
    dropped: int
    resolved: int
    backtest_report: str | None
    rows: list[TrackingRow]


def _order(level: str) -> int:
    return LEVEL_ORDER.index(level) if level in LEVEL_ORDER else len(LEVEL_ORDER)


def tracking_frame(live: Iterable[LevelPrecision], state: TrackingState, backtest: BacktestFigures, *, now_ms: int,
                   target_pct: float) -> TrackingFrame:  # fmt: skip
    """Rows per level (FUERTE and ALTA always, others once resolved) and horizon: live 7 d and 30 d, backtest."""
    cells: dict[tuple[str, int, int], LiveCell] = {}
    for p in live:
        cells[(p.level, p.horizon_h, p.days)] = LiveCell(p.alerts, p.hits, p.precision)
    levels = sorted(set(SHOWN) | {level for level, _, _ in cells}, key=_order)
    empty = LiveCell(0, 0, None)
    rows = [
        TrackingRow(level, h, cells.get((level, h, DAYS[0]), empty), cells.get((level, h, DAYS[1]), empty),
                    backtest.precision.get((level, h)))
        for level in levels for h in state.horizons_h
    ]  # fmt: skip
    return TrackingFrame(enabled=state.enabled, now_ms=now_ms, target_pct=target_pct, pending=state.pending,
                         dropped=state.dropped, resolved=state.resolved, backtest_report=backtest.path,
                         rows=rows)  # fmt: skip


def same_figures(a: TrackingFrame, b: TrackingFrame) -> bool:
    """Equal but for ``now_ms``: nothing to push."""
    return msgspec.structs.replace(a, now_ms=0) == msgspec.structs.replace(b, now_ms=0)
