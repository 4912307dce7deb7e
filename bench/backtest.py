"""Backtest replay throughput: bars per second through the full scanner, against reading the same bars from the
store (DuckDB), measured in the same run (not a test).

The bars are the real 1h klines of 50 USDT pairs (2021-01-01..2021-06-20, freqtrade files in the shared data);
``--pairs`` above 50 adds pairs resampled from them (each a real pair's log returns, volumes and bar shapes
rotated by a random offset, at its own price scale), so 400 pairs keep real-looking dynamics. The bars are
written once into a throwaway DuckDB file with the store's own schema, then, ``--runs`` times each:

* ``read``    ``backtest.load.load_history``: the klines table into a History (SELECT, numpy, split per pair):
  the least a backtest from the store costs, the ceiling;
* ``replay``  ``backtest.replay``: every bar as a Kline through ``Scanner.on_kline``, the 24 h volume from past
  bars, one full scanner pass per close (indicators, score, levels, probability, rank), the rows collected;
* ``alerts``  ``backtest.alert_replay.replay_alerts`` over the replay's rows (default alert rules).

Medians, bars per second, and the ratio replay / read. The replay's time is split by phase (feeding the klines,
the scanner passes, collecting rows, warm-up commits); ``--profile`` adds cProfile's top functions.

    .venv/bin/python bench/backtest.py [--pairs 50,400] [--runs 3] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np

from cryptoscan.backtest.alert_replay import replay_alerts
from cryptoscan.backtest.history import History
from cryptoscan.backtest.load import load_history as store_history
from cryptoscan.backtest.replay import Replay
from cryptoscan.backtest.run import load_history
from cryptoscan.backtest.universe import build_tape
from cryptoscan.config_scanner import ScannerConfig
from cryptoscan.market.rings import CLOSE, FIELDS, HIGH, LOW, OPEN, OPEN_TIME, QUOTE_VOLUME, VOLUME
from cryptoscan.sinks.store.schema import TABLES, column_list, create_statements, quote

DATA = Path(__file__).resolve().parents[1].parent / "shared/data/binance/klines/freqtrade_json_1h_2021H1"
H = 3_600_000


def resampled(real: History, pairs: int, seed: int = 7) -> History:
    """``real`` plus made-up pairs up to ``pairs``, each a rotated copy of a real pair's returns and volumes."""
    rng = np.random.default_rng(seed)
    names = sorted(real.bars)
    out = dict(real.bars)
    for i in range(len(names), pairs):
        src = real.bars[names[i % len(names)]]
        n = src.shape[1]
        shift = int(rng.integers(1, n))
        b = src.copy()
        logret = np.diff(np.log(src[CLOSE]), prepend=np.log(src[OPEN, 0]))
        rel = src[[OPEN, HIGH, LOW]] / src[CLOSE]  # bar shape relative to its close
        close = rng.uniform(0.05, 50.0) * np.exp(np.cumsum(np.roll(logret, shift)))
        b[[OPEN, HIGH, LOW]] = np.roll(rel, shift, axis=1) * close
        b[CLOSE] = close
        b[VOLUME] = np.roll(src[VOLUME], shift) / close * np.median(src[CLOSE])  # keep the quote volume's scale
        out[f"X{i:03d}USDT"] = b
    return History(real.venue, real.interval, out)


def write_store(history: History, path: Path) -> None:
    """Every bar into the store's klines table (its schema; whole numpy columns, one INSERT)."""
    parts: dict[str, list[np.ndarray]] = {name: [] for name in TABLES["klines"].names}
    for sym, b in history.bars.items():
        n = b.shape[1]
        qv = np.where(np.isfinite(b[QUOTE_VOLUME]), b[QUOTE_VOLUME], b[CLOSE] * b[VOLUME])
        parts["venue"].append(np.full(n, history.venue, object))
        parts["symbol"].append(np.full(n, sym, object))
        parts["interval"].append(np.full(n, history.interval, object))
        parts["open_time"].append(b[OPEN_TIME].astype(np.int64))
        parts["close_time"].append(b[OPEN_TIME].astype(np.int64) + H - 1)
        for f in ("open", "high", "low", "close", "volume"):
            parts[f].append(b[FIELDS.index(f)])
        parts["quote_volume"].append(qv)
        parts["trades"].append(np.zeros(n, np.int64))
        parts["taker_buy_volume"].append(np.zeros(n))
        parts["taker_buy_quote_volume"].append(np.zeros(n))
    cols = {k: np.concatenate(v) for k, v in parts.items()}
    with duckdb.connect(str(path)) as con:
        for stmt in create_statements("duckdb"):
            con.execute(stmt)
        con.register("bars", cols)
        con.execute(f"INSERT INTO klines ({column_list(TABLES['klines'])}) "
                    f"SELECT {', '.join(map(quote, TABLES['klines'].names))} FROM bars")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", default="50,400", help="comma-separated pair counts (50 are real, more resampled)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--profile", action="store_true", help="cProfile one replay per pair count, top functions")
    args = ap.parse_args()
    real = load_history(DATA)
    cfg = ScannerConfig(interval="1h", max_price=1e6)
    print(f"backtest replay, 1h bars, {len(real)} real pairs 2021H1 from {DATA.name}, {args.runs} runs each")
    for pairs in (int(x) for x in args.pairs.split(",")):
        history = resampled(real, pairs)
        bars = history.total_bars()
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "store.duckdb"
            write_store(history, path)
            reads, replays, alerts = [], [], []
            phases: dict[str, list[float]] = {}
            for _ in range(args.runs):
                t0 = time.perf_counter()
                loaded = store_history(path, history.venue, history.interval)
                reads.append(time.perf_counter() - t0)
                assert loaded.total_bars() == bars
                t0 = time.perf_counter()
                rep = Replay(build_tape(loaded), cfg)
                scored = rep.run()
                replays.append(time.perf_counter() - t0)
                for k, v in rep.timings.items():
                    phases.setdefault(k, []).append(v / 1e9)
                t0 = time.perf_counter()
                sent = replay_alerts(scored)
                alerts.append(time.perf_counter() - t0)
        rd, rp, al = statistics.median(reads), statistics.median(replays), statistics.median(alerts)
        print(f"\n{pairs} pairs ({min(pairs, len(real))} real), {bars:,} bars, {rep.steps:,} steps, {rep.scans:,} "
              f"scans, {len(scored):,} rows, {len(sent)} alerts")  # fmt: skip
        print(f"  read from DuckDB (ceiling): median {rd * 1e3:,.0f} ms = {bars / rd:,.0f} bars/s")
        print(f"  replay through the scanner: median {rp:,.2f} s = {bars / rp:,.0f} bars/s "
              f"({rp / rep.steps * 1e6:,.0f} us per step)")  # fmt: skip
        print(f"  alert rules over the rows:  median {al * 1e3:,.0f} ms")
        print(f"  ratio replay / read: {rp / rd:,.1f}x   (read is {rd / (rd + rp):.1%} of read + replay)")
        split = {k: statistics.median(v) for k, v in phases.items()}
        total = sum(split.values())
        print("  replay by phase: " + ", ".join(f"{k} {v:.2f} s ({v / total:.0%})" for k, v in split.items()))
        if args.profile:
            prof = cProfile.Profile()
            rep = Replay(build_tape(loaded), cfg)
            prof.runcall(rep.run)
            print("  cProfile, cryptoscan functions by cumulative time, then everything by own time:")
            pstats.Stats(prof).sort_stats("cumulative").print_stats("cryptoscan", 18)
            pstats.Stats(prof).sort_stats("tottime").print_stats(12)


if __name__ == "__main__":
    main()
