"""Kline history in one in-memory shape, whatever it came from (the store, Binance CSV, freqtrade files).

Why this shape: it is the market layer's own (``market.rings.FIELDS`` rows by bars, oldest first), so the
backtest hands it to the very scanner code the live path uses (``KlineWindow``, ``Scanner.warm``), with no
second representation. Fields a source does not carry (freqtrade files have no quote volume, trade count or
taker volume) are NaN, never guessed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import numpy as np

from cryptoscan.market.rings import FIELDS, NFIELDS, OPEN_TIME, VOLUME, FloatArray
from cryptoscan.market.snapshot import KlineWindow


class HistoryError(ValueError):
    """History that cannot be used as given (unsorted times, wrong shape, unreadable file)."""


def check_bars(symbol: str, bars: FloatArray) -> FloatArray:
    """``bars`` as a (NFIELDS, n) float64 array with strictly increasing open times, else HistoryError."""
    a = np.asarray(bars, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] != NFIELDS:
        raise HistoryError(f"{symbol}: bars must be {NFIELDS} rows ({', '.join(FIELDS)}), got shape {a.shape}")
    if a.shape[1] > 1 and not bool(np.all(np.diff(a[OPEN_TIME]) > 0)):
        raise HistoryError(f"{symbol}: open times must strictly increase")
    return a


@dataclass(frozen=True, slots=True)
class History:
    """Closed klines of one venue and interval, per symbol."""

    venue: str
    interval: str
    bars: Mapping[str, FloatArray] = field(default_factory=dict)  # symbol -> (NFIELDS, n), oldest first

    def __post_init__(self) -> None:
        for symbol, b in self.bars.items():
            check_bars(symbol, b)

    def __len__(self) -> int:
        return len(self.bars)

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self.bars))

    def window(self, symbol: str) -> KlineWindow:
        return KlineWindow(self.bars[symbol].copy())

    def total_bars(self) -> int:
        return sum(int(b.shape[1]) for b in self.bars.values())

    def span(self) -> tuple[int, int]:
        """First and last open time over every symbol (ms); (0, -1) when empty."""
        firsts = [int(b[OPEN_TIME, 0]) for b in self.bars.values() if b.shape[1]]
        lasts = [int(b[OPEN_TIME, -1]) for b in self.bars.values() if b.shape[1]]
        return (min(firsts), max(lasts)) if firsts else (0, -1)


def empty_bars(n: int) -> FloatArray:
    """(NFIELDS, n) of NaN, to fill field by field."""
    return np.full((NFIELDS, n), np.nan)


_FREQTRADE_ROWS = msgspec.json.Decoder(list[tuple[int, float, float, float, float, float]])


def freqtrade_json_decode(data: bytes, source: str) -> FloatArray:
    """freqtrade JSON kline bytes as (NFIELDS, n) bars, not yet checked: importers check row by row first, so
    a bad row is named by its place rather than refused with the whole file."""
    try:
        raw = _FREQTRADE_ROWS.decode(data)
    except msgspec.DecodeError as e:
        raise HistoryError(f"{source}: not a freqtrade kline file: {e}") from e
    out = empty_bars(len(raw))
    if raw:
        cols = np.asarray(raw, dtype=np.float64).T
        out[OPEN_TIME:VOLUME + 1] = cols
    return out


def freqtrade_json_bars(path: Path) -> FloatArray:
    """One freqtrade ``*.json`` kline file: ``[[open_ms, open, high, low, close, base_volume], ...]``."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise HistoryError(f"{path}: not a freqtrade kline file: {e}") from e
    return check_bars(path.name, freqtrade_json_decode(data, str(path)))


def freqtrade_symbol(path: Path) -> str:
    """``BTC_USDT-1h.json`` -> ``BTCUSDT``."""
    pair = path.name.split("-", 1)[0]
    return pair.replace("_", "").upper()


