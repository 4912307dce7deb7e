"""What the bank hands to the scanner: one 1-D array per indicator, one entry per row."""

from __future__ import annotations

from dataclasses import dataclass, fields

from ._arrays import F64, I64


@dataclass(frozen=True, slots=True)
class IndicatorValues:
    """Indicator values of every row (length = bank capacity), as of each row's evaluated bar: its open bar
    for rows passed to :meth:`IndicatorBank.peek`, else its last committed bar. NaN = not ready (warm-up,
    or a row that never had a bar). The arrays are the caller's: the bank keeps no reference to them.

    Units:
      rsi14, rsi21: RSI points, 0-100 (flat series: 50).
      macd, macd_signal, macd_hist: MACD 3/10/16 line, signal, line - signal; price units.
      macd_cross_age: int64 bars since MACD 3/10/16 last crossed above its signal (0 = on the evaluated bar);
        NO_CROSS when none counted yet (crosses count once the row has ``macd_warmup`` bars).
      macd_classic, macd_classic_signal, macd_classic_hist: MACD 12/26/9, price units.
      volume_spike: percent of the previous N bars' mean volume (300 = 3x normal).
      velocity_1h: percent change of the close over the last hour of bars.
      high_n: price, max high of the previous N bars.
      resistance: price, max high of the last 24 completed hourly buckets.
      breakout: score points (uncapped; the scorer caps them).
      volatility_24h: percent, realized volatility of log returns scaled to 24 h.
      atr: price units, Wilder ATR 14.
      close: price, the evaluated bar's close.
    """

    rsi14: F64
    rsi21: F64
    macd: F64
    macd_signal: F64
    macd_hist: F64
    macd_cross_age: I64
    macd_classic: F64
    macd_classic_signal: F64
    macd_classic_hist: F64
    volume_spike: F64
    velocity_1h: F64
    high_n: F64
    resistance: F64
    breakout: F64
    volatility_24h: F64
    atr: F64
    close: F64


FIELDS = tuple(f.name for f in fields(IndicatorValues))
