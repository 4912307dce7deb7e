"""The alerts the live rules would have sent during a replay: ``alerts.rules.AlertRules`` over each scan's rows.

Why after the replay and not inside it: the rules only read the rows at ALTA or higher, and those are all in the
ScoredBars, so alert settings (hold, cooldown, digest) can be tried again without replaying the scanner.

Each scan time in ``scored.scan_ms`` is fed, in order, with the same rows the live service hands the rules
(``alerts.service.alert_rows``: every eligible row at ALTA or higher, best composite first, ties to the lower
row), and the scan time as ``now``. Between scans the rules are ticked when their digest window closes, as the
live service's 1 s tick would, so an ALTA digest goes out ``digest_s`` after its first alert, not at the next
scan. A digest still open after the last scan goes out when its window closes.

A pair whose bar is missing at a scan counts as below ALTA there (live, it would keep its last level while its
24 h volume decays): this only matters for a gap in one pair's data while others trade.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import numpy as np

from cryptoscan.alerts.rules import Action, AlertRules, SendNow
from cryptoscan.backtest.frame import AlertRows, ScoredBars
from cryptoscan.config import AlertsConfig
from cryptoscan.scanner.levels import Level
from cryptoscan.scanner.result import INDICATORS, ScanRow
from cryptoscan.venues.binance.spec import INTERVAL_MS


def rules_from(cfg: AlertsConfig, interval: str) -> AlertRules:
    """The rules of the ``alerts`` config section for a scanner of ``interval`` (the live app's too)."""
    bar_ms = INTERVAL_MS[interval] if cfg.candle_confirms else None
    return AlertRules(hold_scans=cfg.hold_scans, cooldown_s=cfg.cooldown_s, digest_s=cfg.digest_s, bar_ms=bar_ms)


def scan_row(scored: ScoredBars, i: int, rank: int) -> ScanRow:
    """Row ``i`` of ``scored`` as the scanner's public row (what an alert carries)."""

    def num(x: float) -> float | None:
        return None if math.isnan(x) else x

    return ScanRow(
        rank=rank, venue=scored.venue, symbol=scored.symbols[int(scored.symbol_idx[i])],
        level=Level(int(scored.level[i])).name, price=float(scored.close[i]), momentum=float(scored.momentum[i]),
        probability=float(scored.probability[i]), composite=float(scored.composite[i]),
        volume_24h=float(scored.quote_volume_24h[i]), updated_ms=int(scored.time_ms[i]),
        components={k: float(v[i]) for k, v in scored.components.items()},
        factors={k: float(v[i]) for k, v in scored.factors.items()},
        indicators={k: num(float(scored.indicators[k][i])) for k in INDICATORS if k in scored.indicators},
    )  # fmt: skip


def _scan_rows(scored: ScoredBars, a: int, b: int) -> tuple[list[ScanRow], list[int]]:
    """The eligible rows at ALTA or higher among rows [a, b) (one scan), ranked, and their indices."""
    idx = np.arange(a, b)[scored.eligible[a:b]]
    if idx.size == 0:
        return [], []
    order = idx[np.lexsort((scored.symbol_idx[idx], -np.nan_to_num(scored.composite[idx], nan=0.0)))]
    high = np.flatnonzero(scored.level[order] >= Level.ALTA)
    picked = [int(order[p]) for p in high]
    return [scan_row(scored, i, int(p) + 1) for i, p in zip(picked, high, strict=True)], picked


def replay_alerts(scored: ScoredBars, rules: AlertRules | AlertsConfig | None = None) -> AlertRows:
    """Every alert the rules send over the replay, one entry per alert (a digest's alerts each count once)."""
    if not isinstance(rules, AlertRules):
        rules = rules_from(rules or AlertsConfig(), scored.interval)
    times = scored.scan_ms if scored.scan_ms.size else np.unique(scored.time_ms)
    if len(scored) and not bool(np.all(np.diff(scored.time_ms) >= 0)):
        raise ValueError("scored rows must be in time order")
    bounds = np.searchsorted(scored.time_ms, times, side="left")
    ends = np.searchsorted(scored.time_ms, times, side="right")
    where: dict[tuple[int, str], int] = {}  # (scan time, symbol) -> row, for the rows handed to the rules
    sent: list[tuple[int, int, int, bool]] = []  # row, level, sent_ms, upgrade

    def collect(actions: Iterable[Action]) -> None:
        for action in actions:
            alerts = (action.alert,) if isinstance(action, SendNow) else action.alerts
            for alert in alerts:
                row = where[(alert.ts_ms, alert.symbol)]
                sent.append((row, int(Level[alert.level]), action.alert.ts_ms if isinstance(action, SendNow)
                             else action.ts_ms, alert.kind == "upgrade"))  # fmt: skip

    for t, a, b in zip(times.tolist(), bounds.tolist(), ends.tolist(), strict=True):
        _tick_until(rules, t, collect)
        rows, picked = _scan_rows(scored, a, b)
        for row, i in zip(rows, picked, strict=True):
            where[(t, row.symbol)] = i
        collect(rules.on_scan(rows, t))
    _tick_until(rules, None, collect)
    sent.sort(key=lambda x: (x[2], x[0]))
    return AlertRows(
        rows=np.array([s[0] for s in sent], np.int64), level=np.array([s[1] for s in sent], np.int8),
        sent_ms=np.array([s[2] for s in sent], np.int64), upgrade=np.array([s[3] for s in sent], np.bool_),
    )  # fmt: skip


def _tick_until(rules: AlertRules, now: int | None, collect: Callable[[Iterable[Action]], None]) -> None:
    """Close the open digest if its window ends by ``now`` (None: whenever it ends), at that instant."""
    pending = rules.pending_digest
    if not pending:
        return
    due = min(a.ts_ms for a in pending) + rules.digest_ms
    if now is None or due <= now:
        collect(rules.tick(due))
