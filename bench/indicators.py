"""Indicator bank cost per scanner pass against a ceiling measured in the same run (not a test).

A bank of ``--rows`` rows (default 2000) on the 1m interval, warmed up with ``--warmup`` bars of geometric
random walks through ``update_many`` (1500 by default, so the 24 h volatility rings have wrapped), then
``--loops`` new bars. Prints the median time of:

* ``update``  ``bank.update`` of one closed bar for every row (the fast path: rows is 0..rows-1);
* ``peek``    ``bank.peek`` of the open bar for every row (values for every row, nothing committed);
* the same two with ``rows`` a shuffled 95 % of the rows (the fancy-indexing path);
* ``copy``    copying every state array of the bank once (``np.copyto`` into preallocated arrays): the least
  a pass that touches all the state could cost; and ``copy rows`` the same for the per-row arrays only
  (without the rings: the 1440-slot volatility ring alone is 1440 x 8 bytes per row).

and the ratios to those ceilings. The scanner's whole pass budget is 1 ms, so update + peek should stay well
under 0.5 ms for 2000 rows.

    .venv/bin/python bench/indicators.py [--rows 2000] [--warmup 1500] [--loops 300]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np

from cryptoscan.indicators import IndicatorBank, IndicatorParams

MINUTE_MS = 60_000


class Tape:
    """Random-walk 1m bars for every row, one column per bar."""

    def __init__(self, rows: int, bars: int, seed: int = 1) -> None:
        rng = np.random.default_rng(seed)
        scale = 10.0 ** rng.uniform(-4, 4, (rows, 1))
        self.close = scale * np.exp(np.cumsum(rng.normal(0.0, 0.002, (rows, bars)), axis=1))
        self.open = np.concatenate([scale, self.close[:, :-1]], axis=1)
        wick = 1.0 + np.abs(rng.normal(0.0, 0.001, (2, rows, bars)))
        self.high = np.maximum(self.open, self.close) * wick[0]
        self.low = np.minimum(self.open, self.close) / wick[1]
        self.volume = rng.lognormal(3.0, 1.0, (rows, bars))
        t0 = 1_700_000_000_000 - 1_700_000_000_000 % 3_600_000
        self.open_time = np.broadcast_to(t0 + MINUTE_MS * np.arange(bars, dtype=np.int64), (rows, bars))

    def bar(self, t: int, rows: np.ndarray) -> tuple[np.ndarray, ...]:
        return tuple(np.ascontiguousarray(a[rows, t])
                     for a in (self.open_time, self.open, self.high, self.low, self.close, self.volume))  # fmt: skip


def median_us(fn: Callable[[], object], loops: int) -> float:
    times = []
    for _ in range(loops):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--warmup", type=int, default=1500)
    ap.add_argument("--loops", type=int, default=300)
    args = ap.parse_args()
    n, w, loops = args.rows, args.warmup, args.loops
    tape = Tape(n, w + 4 * loops)
    every = np.arange(n)
    bank = IndicatorBank(n, IndicatorParams(interval="1m"))
    t0 = time.perf_counter()
    bank.update_many(every, *(a[:, :w] for a in (tape.open_time, tape.open, tape.high, tape.low, tape.close,
                                                  tape.volume)))  # fmt: skip
    warm_s = time.perf_counter() - t0

    def pass_of(rows: np.ndarray, start: int) -> tuple[float, float]:
        """Median update of ``loops`` new bars, then median peek of as many open bars (inputs prepared first)."""
        closed = iter([tape.bar(t, rows) for t in range(start, start + loops)])
        opened = iter([tape.bar(t, rows) for t in range(start + loops, start + 2 * loops)])
        up = median_us(lambda: bank.update(rows, *next(closed)), loops)
        pk = median_us(lambda: bank.peek(rows, *next(opened)), loops)
        return up, pk

    up, pk = pass_of(every, w)
    subset = np.random.default_rng(2).permutation(n)[: n * 95 // 100]
    up_sub, pk_sub = pass_of(subset, w + 2 * loops)  # rows outside the subset simply miss these bars

    state = bank.arrays()
    spare = {k: np.empty_like(a) for k, a in state.items()}
    per_row = [k for k, a in state.items() if a.ndim == 1]

    def copy(names: list[str]) -> None:
        for k in names:
            np.copyto(spare[k], state[k])

    copy_all = median_us(lambda: copy(list(state)), loops)
    copy_rows = median_us(lambda: copy(per_row), loops)
    nbytes = sum(a.nbytes for a in state.values())
    row_bytes = sum(state[k].nbytes for k in per_row)

    print(f"indicator bank: {n} rows, 1m, warmed with {w} bars in {warm_s:.2f} s ({warm_s / w * 1e3:.2f} ms/bar)")
    print(f"state: {nbytes / 2**20:.1f} MiB in {len(state)} arrays ({row_bytes / n:.0f} B/row outside rings)")
    print(f"{'':24}{'median us':>10}{'/ copy':>9}{'/ copy rows':>13}")
    rows_out = [("update, every row", up), ("peek, every row", pk), ("update + peek", up + pk),
                ("update, 95 % shuffled", up_sub), ("peek, 95 % shuffled", pk_sub),
                ("update + peek, 95 %", up_sub + pk_sub)]  # fmt: skip
    for name, us in rows_out:
        print(f"{name:24}{us:10.1f}{us / copy_all:9.2f}{us / copy_rows:13.2f}")
    print(f"{'copy (every array)':24}{copy_all:10.1f}")
    print(f"{'copy rows (no rings)':24}{copy_rows:10.1f}")
    verdict = "OK" if up + pk < 500 else "OVER"
    print(f"target: update + peek for {n} rows well under 500 us: {up + pk:.0f} us ({verdict})")


if __name__ == "__main__":
    main()
