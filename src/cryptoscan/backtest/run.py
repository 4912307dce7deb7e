"""One whole backtest: history from the store or from kline files (freqtrade, Binance CSV), the replay, the alerts.

The entry point the CLI calls (``cryptoscan backtest``); it only loads and composes: reading is
:mod:`~cryptoscan.backtest.load` (the store) and :mod:`~cryptoscan.backtest.importers` (files), the work is
:mod:`~cryptoscan.backtest.replay` and :mod:`~cryptoscan.backtest.alert_replay`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from cryptoscan.alerts.rules import AlertRules
from cryptoscan.backtest import load
from cryptoscan.backtest.alert_replay import replay_alerts
from cryptoscan.backtest.frame import AlertRows, ScoredBars
from cryptoscan.backtest.history import History, HistoryError
from cryptoscan.backtest.importers import import_history
from cryptoscan.backtest.replay import Replay, Scored, check
from cryptoscan.backtest.universe import build_tape
from cryptoscan.config import AlertsConfig
from cryptoscan.config_scanner import ScannerConfig
from cryptoscan.scanner.probability import ProbabilityModel
from cryptoscan.sinks.store.backend import is_postgres
from cryptoscan.venues.binance.spec import INTERVAL_MS

STORE_SUFFIXES = (".duckdb", ".db")


def load_history(source: str | Path, *, venue: str = "spot", interval: str = "1h",
                 symbols: Collection[str] | None = None, until_ms: int | None = None) -> History:  # fmt: skip
    """The bars a backtest needs: from a store (a PostgreSQL URL or a ``.duckdb`` file), else from kline files or
    folders. ``until_ms``: only bars closed by then (a close time, as the replay's)."""
    if interval not in INTERVAL_MS:
        raise HistoryError(f"unknown interval {interval!r}")
    path = Path(source)
    if is_postgres(source) or path.suffix in STORE_SUFFIXES:
        if not is_postgres(source) and not path.is_file():
            raise HistoryError(f"{source}: no such store file")
        last_open = None if until_ms is None else until_ms - INTERVAL_MS[interval] + 1
        return load.load_history(source, venue, interval, symbols, until_ms=last_open)
    if not path.exists():
        raise HistoryError(f"{source}: no such file or folder")
    history = import_history([path], interval=interval, venue=venue).history
    if symbols is None:
        return history
    want = {s.upper() for s in symbols}
    return History(history.venue, history.interval, {s: b for s, b in history.bars.items() if s in want})


@dataclass(frozen=True, slots=True)
class BacktestRun:
    history: History
    scored: ScoredBars
    alerts: AlertRows
    stats: Counter[str] = field(default_factory=Counter)  # the scanner's counters (closed bars, gaps, ...)


def run_backtest(source: History | str | Path, cfg: ScannerConfig, *,
                 alerts: AlertsConfig | AlertRules | None = None, probability: ProbabilityModel | None = None,
                 start_ms: int | None = None, until_ms: int | None = None, warmup_bars: int | None = None,
                 scored: Scored = "all", venue: str = "spot", symbols: Collection[str] | None = None
                 ) -> BacktestRun:  # fmt: skip
    """Load (unless handed a History), replay through the scanner, replay the alert rules (``alerts``: the
    config section or ready rules; default: the config's defaults)."""
    history = source if isinstance(source, History) else load_history(
        source, venue=venue, interval=cfg.interval, symbols=symbols, until_ms=until_ms)  # fmt: skip
    check(history, cfg)
    rep = Replay(build_tape(history, until_ms=until_ms), cfg, probability=probability)
    rows = rep.run(start_ms=start_ms, warmup_bars=warmup_bars, scored=scored)
    return BacktestRun(history=history, scored=rows, alerts=replay_alerts(rows, alerts), stats=Counter(rep.stats))
