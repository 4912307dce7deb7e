"""One pair's candles with its RSI 14 and MACD series, kept up to date from its kline ring (sans-I/O).

Why here and incremental: the pair page charts the indicators the scanner scores, so they come from the
project's own indicator code (``indicators.rsi`` / ``indicators.macd``, the scanner's periods), run over every
closed kline the ring holds, then advanced one committed bar at a time; the forming bar is peeked, never
committed. :meth:`PairSeries.sync` takes the ring's state and returns only the bars that are new or changed
since the last call, so a page gets its chart once and then a few numbers per update.
"""

from __future__ import annotations

from collections import deque

import msgspec
import numpy as np

from cryptoscan.events import Kline
from cryptoscan.indicators.macd import Macd
from cryptoscan.indicators.params import RSI_PERIODS, IndicatorParams
from cryptoscan.indicators.rsi import Rsi, gains_losses
from cryptoscan.market.rings import RingState, kline_row
from cryptoscan.market.snapshot import window

COLUMNS = ("t", "o", "h", "l", "c", "v", "rsi", "macd", "signal", "hist")
_ROW = np.arange(1, dtype=np.intp)  # the one row of the one-pair indicator state


class Bars(msgspec.Struct, kw_only=True):
    """Columns for the chart, oldest first; ``full`` replaces what the page holds, else bars merge by ``t``
    (the same ``t`` replaces, a newer one appends). ``forming``: the last bar is the open one (peeked)."""

    full: bool
    forming: bool
    t: list[int]
    o: list[float]
    h: list[float]
    l: list[float]  # noqa: E741 (the chart's column names)
    c: list[float]
    v: list[float]
    rsi: list[float | None]
    macd: list[float | None]
    signal: list[float | None]
    hist: list[float | None]


def _num(x: float) -> float | None:
    return None if x != x else x


class PairSeries:
    """Candles and indicator series of one (venue, symbol, interval); ``show`` closed bars kept for the chart."""

    def __init__(self, interval: str = "1m", show: int = 240) -> None:
        params = IndicatorParams(interval=interval)
        self.show = show
        self._macd_periods = params.macd
        self._data: object = None  # the ring array seen last: a backfill swaps it, and then we rebuild
        self._appended = 0
        self._forming: Kline | None = None
        self._points: deque[tuple[float | None, ...]] = deque(maxlen=show)
        self._reset()

    def _reset(self) -> None:
        self._rsi = Rsi(1, RSI_PERIODS[0])
        self._macd = Macd(1, *self._macd_periods)
        self._n = np.zeros(1, dtype=np.int64)
        self._close = np.full(1, np.nan)
        self._points.clear()
        self._forming = None

    def _step(self, row: tuple[float, ...], commit: bool) -> tuple[float | None, ...]:
        t, _o, _h, _l, close = row[:5]
        c = np.array([close])
        gain, loss = gains_losses(c, self._close)
        if commit:
            rsi = self._rsi.update(_ROW, self._n, gain, loss)
            m = self._macd.update(_ROW, self._n, c)
            self._n += 1
            self._close = c
        else:
            rsi = self._rsi.peek(_ROW, self._n, gain, loss)
            m = self._macd.peek(_ROW, self._n, c)
        return (int(t), *row[1:6], _num(float(rsi[0])), _num(float(m.line[0])), _num(float(m.signal[0])),
                _num(float(m.hist[0])))  # fmt: skip

    def sync(self, state: RingState | None) -> Bars | None:
        """Bring the series to ``state``: a full Bars on the first call or after a backfill swapped the ring's
        array (or more closed bars arrived than it holds), only the new or changed bars after that, None
        when nothing changed."""
        if state is None:
            return None
        new = state.appended - self._appended
        if state.data is not self._data or new > state.size or new < 0:
            self._reset()
            self._data, self._appended = state.data, state.appended
            closed = window(state, state.size)
            for j in range(len(closed)):
                self._points.append(self._step(tuple(closed.rows[:, j].tolist()), commit=True))
            return self._bars(list(self._points), state.forming, full=True)
        fresh: list[tuple[float | None, ...]] = []
        if new > 0:
            closed = window(state, new)
            for j in range(len(closed)):
                point = self._step(tuple(closed.rows[:, j].tolist()), commit=True)
                self._points.append(point)
                fresh.append(point)
            self._appended = state.appended
        if not fresh and state.forming is self._forming:
            return None
        return self._bars(fresh, state.forming, full=False)

    def snapshot(self) -> Bars:
        """Everything held, for a page that just subscribed."""
        return self._bars(list(self._points), self._forming, full=True)

    def _bars(self, points: list[tuple[float | None, ...]], forming: Kline | None, *, full: bool) -> Bars:
        self._forming = forming
        if forming is not None:
            points = [*points, self._step(kline_row(forming), commit=False)]
        cols: list[list[float | None]] = [[p[k] for p in points] for k in range(len(COLUMNS))]
        return Bars(full=full, forming=forming is not None, **dict(zip(COLUMNS, cols, strict=True)))  # type: ignore[arg-type]
