"""Replay a History through the live scanner, bar by bar, with nothing from the future: one ScoredBars row per
(scan, symbol whose bar just closed).

Why the live code and not a vectorized twin: a second implementation of the score would drift from the one that
sends alerts. So each step's closed bars go into the scanner's pending buffer through
``Scanner.on_closed_bars`` (``on_kline``'s checks over arrays; a test holds it equal to feeding ``Kline``
events one by one); the 24 h quote volume a ticker would carry is set from the bars already closed
(:mod:`cryptoscan.backtest.universe`); then ``Scanner.scan(close time)`` runs, exactly as live after a burst of
closed klines. Steps are the union of open times; at each, the bars opened then are committed and one scan runs
at their close (the probability model is called once per scan). A symbol gets its scanner row at its first bar,
rows in order of listing, so ``ScoredBars.symbol_idx`` is the scanner's row and nothing about a symbol exists
before it traded. A symbol without a bar at a step keeps its row; its 24 h volume fades as its bars age out of
the window (a halted or delisted pair leaves the liquidity filter within a day), and it gets no ScoredBars row.
Before ``start_ms`` bars are committed without scanning (the warm-up the live scanner gets from REST history).

No lookahead, by construction and by test: every value a row holds depends only on bars closed by its time, so
replaying a history cut at T reproduces, bit for bit, every row up to T of the full replay.

What the replay cannot see: the live scanner also scans between closes and scores a forming bar once it is half
through its interval; closed bars carry no intrabar path, so the backtest scores closed bars only.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Literal

import numpy as np

from cryptoscan.backtest.frame import F64, I32, ScoredBars
from cryptoscan.backtest.history import History, HistoryError
from cryptoscan.backtest.universe import DAY_MS, Tape, build_tape
from cryptoscan.config_scanner import ScannerConfig
from cryptoscan.scanner.engine import Scanner
from cryptoscan.scanner.probability import ProbabilityModel
from cryptoscan.scanner.result import INDICATORS, ScanResult
from cryptoscan.scanner.score import PARTS

Scored = Literal["all", "eligible"]


def default_warmup(cfg: ScannerConfig) -> int:
    """Bars committed before the first scan: the MACD cross warm-up (150 bars by default)."""
    return cfg.macd.warmup_bars


def check(history: History, cfg: ScannerConfig) -> None:
    if history.interval != cfg.interval:
        raise HistoryError(f"history is {history.interval} bars but scanner.interval is {cfg.interval}")
    if history.venue not in cfg.venues:
        raise HistoryError(f"history is {history.venue} but scanner.venues is {cfg.venues}")


class Replay:
    """One replay of a Tape; ``stats`` (the scanner's counters) and ``timings`` (ns per phase) after :meth:`run`."""

    def __init__(self, tape: Tape, cfg: ScannerConfig, *, probability: ProbabilityModel | None = None) -> None:
        self.tape = tape
        self.cfg = cfg
        self.scanner = Scanner(cfg, capacity=max(1, len(tape.symbols)), probability=probability)
        self.timings: Counter[str] = Counter()
        self.steps = 0
        self.scans = 0

    @property
    def stats(self) -> Counter[str]:
        return self.scanner.stats

    def first_scan_step(self, start_ms: int | None, warmup_bars: int) -> int:
        """Index of the first step scanned: the first closing at or after ``start_ms``, else the one after
        ``warmup_bars`` steps (as live: history loaded, then the next closed bar is scanned)."""
        t = self.tape
        if start_ms is None:
            return min(max(warmup_bars, 0), t.steps)
        return int(np.searchsorted(t.times + t.step_ms, start_ms, side="left"))

    def run(self, *, start_ms: int | None = None, warmup_bars: int | None = None, scored: Scored = "all"
            ) -> ScoredBars:  # fmt: skip
        if self.steps:
            raise RuntimeError("a Replay runs once: its scanner holds the state of the run")
        t, s = self.tape, self.scanner
        k0 = self.first_scan_step(start_ms, default_warmup(self.cfg) if warmup_bars is None else warmup_bars)
        a0 = int(t.starts[min(k0, t.steps)])
        out = _Columns(len(t) - a0)
        venue, interval, step, names = t.venue, t.interval, t.step_ms, t.symbols
        open_ms = t.bars[0].astype(np.int64)
        last_close = np.full(len(names), -1, np.int64)  # per row: close time of its newest bar
        listed = 0
        clock = time.perf_counter_ns
        for k in range(t.steps):
            c0 = clock()
            a, b = int(t.starts[k]), int(t.starts[k + 1])
            while listed < len(names) and t.first_ms[listed] <= t.times[k]:
                if s.add(venue, names[listed]) != listed:
                    raise RuntimeError("scanner rows out of listing order")
                listed += 1
            rows = t.row[a:b]
            s.on_closed_bars(rows.astype(np.int64), open_ms[a:b], *(t.bars[f, a:b] for f in range(1, 6)))
            s.quote_volume[rows] = t.quote_volume_24h[a:b]  # the 24 h ticker's figure at this close
            now = t.close_ms(k)
            last_close[rows] = now
            seen = last_close[:listed]
            for r in np.flatnonzero((seen < now) & (seen + DAY_MS >= now)).tolist():  # no bar now: volume fades
                s.quote_volume[r] = t.trailing_at(r, now)
            c1 = clock()
            self.timings["feed"] += c1 - c0
            self.steps += 1
            if k < k0:
                s.commit()
                self.timings["warmup_commit"] += clock() - c1
                continue
            result = s.scan(now)
            c2 = clock()
            out.put(a - a0, b - a0, rows, result)
            self.scans += 1
            self.timings["scan"] += c2 - c1
            self.timings["collect"] += clock() - c2
        frame = ScoredBars(
            symbols=list(names), time_ms=open_ms[a0:] + step, symbol_idx=t.row[a0:].copy(),
            bar_index=t.bar_index[a0:].copy(), close=t.bars[4, a0:].copy(), momentum=out.momentum, level=out.level,
            probability=out.probability, composite=out.composite, eligible=out.eligible,
            quote_volume_24h=t.quote_volume_24h[a0:].copy(), components=out.components, factors=out.factors,
            indicators=out.indicators, venue=venue, interval=interval, scan_ms=t.times[k0:] + step,
        )  # fmt: skip
        return frame if scored == "all" else frame.take(frame.eligible)


class _Columns:
    """Output columns, preallocated; each scan writes the rows of the bars that just closed."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.momentum = np.full(n, np.nan)
        self.level = np.zeros(n, np.int8)
        self.probability = np.full(n, np.nan)
        self.composite = np.full(n, np.nan)
        self.eligible = np.zeros(n, np.bool_)
        self.components = {p: np.full(n, np.nan) for p in PARTS}
        self.factors: dict[str, F64] = {}
        self.indicators = {name: np.full(n, np.nan) for name in INDICATORS}
        self._mask = np.zeros(0, np.bool_)

    def put(self, i: int, j: int, rows: I32, r: ScanResult) -> None:
        self.momentum[i:j] = r.components.total[rows]
        self.level[i:j] = r.levels[rows]
        self.probability[i:j] = r.probability.probability[rows]
        self.composite[i:j] = r.composite[rows]
        if self._mask.shape[0] != r.levels.shape[0]:
            self._mask = np.zeros(r.levels.shape[0], np.bool_)
        mask = self._mask
        mask[:] = False
        mask[r.order] = True
        self.eligible[i:j] = mask[rows]
        for p, col in self.components.items():
            col[i:j] = getattr(r.components, p)[rows]
        for name, f in r.probability.factors.items():
            if name not in self.factors:
                self.factors[name] = np.full(self.n, np.nan)
            self.factors[name][i:j] = f[rows]
        for name, col in self.indicators.items():
            col[i:j] = getattr(r.values, name)[rows]


def replay(history: History, cfg: ScannerConfig, *, probability: ProbabilityModel | None = None,
           start_ms: int | None = None, until_ms: int | None = None, warmup_bars: int | None = None,
           scored: Scored = "all") -> ScoredBars:  # fmt: skip
    """Replay ``history`` through the scanner (see the module docstring).

    ``start_ms``: first scan time (default: the close of the step after the first ``warmup_bars`` steps,
    ``warmup_bars`` defaulting to the MACD warm-up); ``until_ms``: last scan time (bars closing later are never
    read); ``scored``: every scored row, or only those that passed the liquidity and price filters at the time.
    """
    check(history, cfg)
    tape = build_tape(history, until_ms=until_ms)
    return Replay(tape, cfg, probability=probability).run(start_ms=start_ms, warmup_bars=warmup_bars, scored=scored)
