"""Test data and a driver: real and random kline series, fed through an IndicatorBank with every value
recorded after every committed bar.

The real klines are ``shared/data/binance/klines/freqtrade_json_1h_2021H1``: 50 Binance 1h series of 2021 H1 as
collected by the MIT-licensed crypto-bot project (see LICENSE.crypto-bot.md beside that folder), freqtrade JSON
``[[open_ms, o, h, l, c, v], ...]``. Plain JSON; a gzipped copy would be read too. (No conftest.py here: the
suite imports the root one by name.)
"""

from __future__ import annotations

import functools
import gzip
import json
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from cryptoscan.indicators import IndicatorBank
from cryptoscan.indicators.values import FIELDS

Bars = NDArray[np.float64]  # shape (T, 6): open_time, open, high, low, close, volume
Record = dict[str, NDArray[np.float64]]  # field -> (rows, T) values after each bar (ages stored as float)
HOUR_MS = 3_600_000
KLINES = Path(__file__).resolve().parents[3] / "shared" / "data" / "binance" / "klines" / "freqtrade_json_1h_2021H1"


def _load(path: Path) -> Bars:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return np.asarray(json.loads(raw), dtype=np.float64)


@functools.cache
def load_pairs() -> dict[str, Bars]:
    """The 50 pairs, name -> bars of shape (T, 6) (lengths differ: two pairs were listed later). Read once."""
    out = {p.name.split("-")[0]: _load(p) for p in sorted(KLINES.glob("*-1h.json*"))}
    assert len(out) == 50, f"expected 50 pairs in {KLINES}"
    return out


def random_walk(seed: int, bars: int, scale: float, interval_ms: int = HOUR_MS, sigma: float = 0.01) -> Bars:
    """A geometric random walk of OHLCV bars around ``scale`` (highs and lows wrap open and close)."""
    rng = np.random.default_rng(seed)
    close = scale * np.exp(np.cumsum(rng.normal(0.0, sigma, bars)))
    open_ = np.concatenate(([scale], close[:-1]))
    high = np.maximum(open_, close) * (1.0 + np.abs(rng.normal(0.0, sigma / 2, bars)))
    low = np.minimum(open_, close) * (1.0 - np.abs(rng.normal(0.0, sigma / 2, bars)))
    volume = rng.lognormal(3.0, 1.0, bars)
    t0 = 1_600_000_000_000 - 1_600_000_000_000 % HOUR_MS
    t = t0 + interval_ms * np.arange(bars)
    return np.column_stack([t, open_, high, low, close, volume]).astype(np.float64)


def commit(bank: IndicatorBank, rows: NDArray[np.intp], bars: list[Bars], at: NDArray[np.intp]) -> None:
    """Commit bar ``at[i]`` of ``bars[rows[i]]`` for every i, in one ``bank.update``."""
    b = np.stack([bars[r][t] for r, t in zip(rows.tolist(), at.tolist(), strict=True)])
    bank.update(rows, b[:, 0].astype(np.int64), b[:, 1], b[:, 2], b[:, 3], b[:, 4], b[:, 5])


def feed(bank: IndicatorBank, bars: list[Bars], rng: np.random.Generator | None = None) -> Record:
    """Row i gets ``bars[i]``. Without ``rng``: rows that have a bar at the same open time are updated together
    (ascending), time by time. With ``rng``: each step updates a random subset of the unfinished rows, in a
    random order. Returns every field of row i after its bar t at ``[k][i, t]`` (NaN past its last bar)."""
    lengths = np.array([len(b) for b in bars])
    rec = {k: np.full((len(bars), int(lengths.max())), np.nan) for k in FIELDS}
    pos = np.zeros(len(bars), dtype=np.intp)
    while (pos < lengths).any():
        left = np.flatnonzero(pos < lengths)
        if rng is None:
            times = np.array([bars[r][pos[r], 0] for r in left])
            rows = left[times == times.min()]
        else:
            rows = rng.permutation(left)[: rng.integers(1, left.size + 1)]
        commit(bank, rows, bars, pos[rows])
        values = bank.values()
        for k in FIELDS:
            rec[k][rows, pos[rows]] = getattr(values, k)[rows]
        pos[rows] += 1
    return rec
