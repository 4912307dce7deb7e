"""Live tracking: every alert's outcome, resolved as its horizons pass, and live precision per level.

Sans-I/O: alerts, closed klines and ``now`` in; outcomes out. The outcome of an alert is labelled by the
backtest's own :func:`~cryptoscan.backtest.labels.label_symbol` (no second definition of "hit"), on the closed
bars of its pair kept since the alert: the alert's decision bar is the bar it was raised in (live alerts come
mid-bar), so its horizon starts at that bar's close, at most one bar after the alert (the conservative reading:
a high reached later in that same bar does not count). Entry is the alert's price.

Why in-process and not a query: a running ``serve`` holds the embedded store's write lock, and the closed
klines pass through here anyway; memory is bounded by the pending alerts (one horizon of bars per pair).
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import msgspec
import numpy as np

from cryptoscan.backtest.labels import HIT, UNRESOLVED, label_symbol
from cryptoscan.market.rings import CLOSE, HIGH, LOW, NFIELDS, OPEN_TIME
from cryptoscan.venues.binance.spec import INTERVAL_MS

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
Key = tuple[str, str]  # (venue, symbol)


class Outcome(msgspec.Struct, frozen=True, kw_only=True):
    """One alert's outcome at one horizon (``hit`` 1 or 0), or its extremes when known."""

    ts_ms: int  # the alert's time
    venue: str
    symbol: str
    level: str
    horizon_h: int
    entry: float
    hit: int
    max_gain_pct: float | None  # over the longest horizon; None until it is known
    max_drawdown_pct: float | None  # before the hit (or over the longest horizon)
    time_to_hit_ms: int  # -1: no hit within the longest horizon
    resolved_ms: int


@dataclass(slots=True)
class _Pending:
    ts_ms: int
    level: str
    entry: float
    decision_bar: int  # open time of the bar the alert was raised in
    open: list[int] = field(default_factory=list)  # horizons (h) not resolved yet


@dataclass(frozen=True, slots=True)
class LevelPrecision:
    level: str
    horizon_h: int
    days: int
    alerts: int  # resolved alerts in the window
    hits: int

    @property
    def precision(self) -> float | None:
        return self.hits / self.alerts if self.alerts else None


class Tracker:
    """Pending alerts per pair and the closed bars they need; resolved outcomes kept for ``keep_days``."""

    def __init__(self, interval: str = "1m", *, target_pct: float = 7.5, horizons_h: Sequence[int] = (4, 24),
                 keep_days: int = 30, max_pending: int = 10_000) -> None:  # fmt: skip
        self.step = INTERVAL_MS[interval]
        self.interval = interval
        self.target_pct = target_pct
        self.horizons_h = tuple(sorted(horizons_h))
        self.horizons_ms = tuple(h * HOUR_MS for h in self.horizons_h)
        self.keep_ms = keep_days * DAY_MS
        self.max_pending = max_pending
        self.pending: dict[Key, list[_Pending]] = {}
        self.bars: dict[Key, dict[int, tuple[float, float, float]]] = {}  # open time -> (high, low, close)
        self.outcomes: deque[Outcome] = deque()
        self.dropped = 0  # alerts refused because max_pending were already waiting

    @property
    def waiting(self) -> int:
        return sum(len(v) for v in self.pending.values())

    def on_alert(self, ts_ms: int, venue: str, symbol: str, level: str, price: float) -> bool:
        """Track one alert; False (and counted) when it cannot be: no price, or too many pending."""
        if not price > 0 or self.waiting >= self.max_pending:
            self.dropped += 1
            return False
        bar = ts_ms // self.step * self.step
        self.pending.setdefault((venue, symbol), []).append(
            _Pending(ts_ms, level, price, bar, list(self.horizons_h)))
        self.bars.setdefault((venue, symbol), {})
        return True

    def on_kline(self, venue: str, symbol: str, open_time: int, high: float, low: float, close: float) -> None:
        """A closed kline of a pair; ignored unless an alert of that pair is pending."""
        bars = self.bars.get((venue, symbol))
        if bars is not None:
            bars[open_time] = (high, low, close)

    def resolve(self, now_ms: int) -> list[Outcome]:
        """Outcomes that became known (a hit, or a horizon fully closed) since the last call."""
        out: list[Outcome] = []
        for key in list(self.pending):
            out += self._resolve_pair(key, now_ms)
        self.outcomes.extend(out)
        while self.outcomes and self.outcomes[0].ts_ms < now_ms - self.keep_ms - max(self.horizons_ms):
            self.outcomes.popleft()
        return out

    def _resolve_pair(self, key: Key, now_ms: int) -> list[Outcome]:
        alerts, got = self.pending[key], self.bars[key]
        first = min(p.decision_bar for p in alerts)
        times = sorted(t for t in got if t >= first)
        arr = np.full((NFIELDS, len(times)), np.nan)
        arr[OPEN_TIME] = times
        for i, t in enumerate(times):
            arr[HIGH, i], arr[LOW, i], arr[CLOSE, i] = got[t]
        out: list[Outcome] = []
        idx = np.array([bisect.bisect_left(times, p.decision_bar) for p in alerts], np.int64)
        present = np.array([i < len(times) and times[i] == p.decision_bar for i, p in zip(idx, alerts, strict=True)])
        # An alert whose own bar is missing is labelled from the bar before its horizon: a fake decision bar.
        if not present.all():
            return self._resolve_without_decision_bar(key, now_ms)
        lab = label_symbol(arr, self.step, idx, np.array([p.entry for p in alerts]), target_pct=self.target_pct,
                           horizons_ms=self.horizons_ms)  # fmt: skip
        keep: list[_Pending] = []
        for j, p in enumerate(alerts):
            for h_i, h in enumerate(self.horizons_h):
                if h not in p.open:
                    continue
                hit = int(lab.hit[h_i, j])
                expired = now_ms >= p.decision_bar + self.step + self.horizons_ms[h_i] + DAY_MS
                if hit == UNRESOLVED and not expired:
                    continue  # bars may still arrive (a late close, a backfill)
                p.open.remove(h)
                if hit == UNRESOLVED:
                    continue  # a gap that never filled: never counted as a miss
                gain, dd = float(lab.max_gain_pct[j]), float(lab.max_drawdown_pct_before_hit[j])
                out.append(Outcome(
                    ts_ms=p.ts_ms, venue=key[0], symbol=key[1], level=p.level, horizon_h=h, entry=p.entry, hit=hit,
                    max_gain_pct=None if np.isnan(gain) else gain, max_drawdown_pct=None if np.isnan(dd) else dd,
                    time_to_hit_ms=int(lab.time_to_hit_ms[j]), resolved_ms=now_ms,
                ))  # fmt: skip
            if p.open:
                keep.append(p)
        self._keep(key, keep)
        return out

    def _resolve_without_decision_bar(self, key: Key, now_ms: int) -> list[Outcome]:
        """Alerts whose own bar never arrived get a placeholder bar (NaN high: never a hit) so the shared
        labeller sees the bars after it."""
        got = self.bars[key]
        for p in self.pending[key]:
            got.setdefault(p.decision_bar, (float("nan"), float("nan"), float("nan")))
        return self._resolve_pair(key, now_ms)

    def _keep(self, key: Key, keep: list[_Pending]) -> None:
        if not keep:
            del self.pending[key], self.bars[key]
            return
        self.pending[key] = keep
        first = min(p.decision_bar for p in keep)
        got = self.bars[key]
        for t in [t for t in got if t < first]:
            del got[t]

    def precision(self, now_ms: int, days: Iterable[int] = (7, 30)) -> list[LevelPrecision]:
        return precision(self.outcomes, now_ms, self.horizons_h, days)


LEVEL_ORDER = ("FUERTE", "ALTA", "MEDIA", "BAJA")


def precision(outcomes: Iterable[Outcome], now_ms: int, horizons_h: Iterable[int] = (4, 24),
              days: Iterable[int] = (7, 30)) -> list[LevelPrecision]:  # fmt: skip
    """Resolved alerts and hits per (level, horizon, window of the last ``days`` days by alert time)."""
    items = list(outcomes)
    rows: list[LevelPrecision] = []
    levels = sorted({o.level for o in items}, key=lambda s: LEVEL_ORDER.index(s) if s in LEVEL_ORDER else 9)
    for level in levels:
        for h in horizons_h:
            for d in days:
                sel = [o for o in items if o.level == level and o.horizon_h == h and o.ts_ms >= now_ms - d * DAY_MS]
                rows.append(LevelPrecision(level, h, d, len(sel), sum(o.hit == HIT for o in sel)))
    return rows
