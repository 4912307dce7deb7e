"""The scanner's state for every (venue, symbol) row and one full pass over it (sans-I/O: events and ``now``).

Klines arrive one by one (``on_kline``) and are only written into preallocated arrays: a closed bar into the
pending buffer, a forming bar over the row's open bar. ``scan(now)`` then does the whole market at once:
commit pending closed bars into the indicator bank, peek every open bar, score, classify, estimate the
probability and rank, all vectorized. Rows are reused after ``remove`` (the bank row is reset).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import numpy as np
from numpy.typing import NDArray

from cryptoscan.config_scanner import ScannerConfig
from cryptoscan.events import Kline, MiniTicker, Ticker
from cryptoscan.indicators.bank import IndicatorBank
from cryptoscan.indicators.params import IndicatorParams
from cryptoscan.indicators.values import IndicatorValues
from cryptoscan.market.rings import CLOSE, HIGH, LOW, OPEN, OPEN_TIME, VOLUME
from cryptoscan.market.snapshot import KlineWindow
from cryptoscan.scanner.correlation import BtcCorrelation
from cryptoscan.scanner.levels import classify
from cryptoscan.scanner.probability import HeuristicProbability, ProbabilityInputs, ProbabilityModel
from cryptoscan.scanner.ranking import by_level, composite, eligible, rank
from cryptoscan.scanner.result import ScanResult
from cryptoscan.scanner.score import Scorer
from cryptoscan.venues.binance.spec import INTERVAL_MS

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
VENUES = ("spot", "futures")
BTC = "BTCUSDT"
RIPE = 0.5  # share of its interval an open bar must have run before it is scored (peeked)


class Scanner:
    """Rows, pending bars and the indicator bank of one kline interval; see the module docstring."""

    def __init__(self, cfg: ScannerConfig, *, capacity: int = 2048, probability: ProbabilityModel | None = None
                 ) -> None:  # fmt: skip
        self.cfg = cfg
        self.interval = cfg.interval
        self.step = INTERVAL_MS[cfg.interval]
        self.capacity = capacity
        self.bank = IndicatorBank(capacity, IndicatorParams(
            interval=cfg.interval, volume_lookback=cfg.volume_lookback, breakout_lookback=cfg.breakout_lookback,
            macd_warmup=cfg.macd.warmup_bars))  # fmt: skip
        self.probability: ProbabilityModel = probability or HeuristicProbability(cfg.probability)
        self.scorer = Scorer(cfg)
        self.corr = BtcCorrelation(capacity)
        self.venues = tuple(v for v in VENUES if v in cfg.venues)
        self.rows: dict[tuple[str, str], int] = {}
        self.names: list[tuple[str, str]] = [("", "")] * capacity
        self._free = list(range(capacity - 1, -1, -1))  # popped from the end: lowest row first
        self.venue = np.zeros(capacity, np.int8)
        self.members = np.zeros((len(VENUES), capacity), np.bool_)  # live rows per venue code
        self.btc = [-1] * len(VENUES)  # BTCUSDT's row per venue code
        self.is_btc = np.zeros(capacity, np.bool_)
        self.btc_of = np.zeros(capacity, np.int64)  # the BTC row of each row's venue, where ``has_btc``
        self.has_btc = np.zeros(capacity, np.bool_)
        self.last_time = np.full(capacity, -1, np.int64)
        self.last_close = np.full(capacity, np.nan)
        self.updated_ms = np.zeros(capacity, np.int64)
        self.quote_volume = np.full(capacity, np.nan)
        self.ticker_price = np.full(capacity, np.nan)
        # The forming bar of each row (one per row: the newest wins).
        self.has_open = np.zeros(capacity, np.bool_)
        self.open_bar = np.zeros((7, capacity))  # open_time, open, high, low, close, volume, ts_event
        # The closed bar of each row waiting for the next pass; a second one commits the first at once.
        self._pend = np.zeros((6, capacity))  # open_time, open, high, low, close, volume
        self.has_pend = np.zeros(capacity, np.bool_)
        self._npend = 0
        self.scanned = np.zeros(capacity, np.bool_)  # live rows of the venues this scanner ranks
        self.hw = 0  # rows in use lie in [0, hw): rows are handed out lowest first, so a pass stops at hw
        self.stats: Counter[str] = Counter()
        self._names_copy: list[tuple[str, str]] | None = None

    @property
    def live(self) -> NDArray[np.bool_]:
        """Rows in use (of any venue)."""
        out: NDArray[np.bool_] = np.logical_or.reduce(self.members, axis=0)
        return out

    # --- rows ---------------------------------------------------------------------------------------------
    def add(self, venue: str, symbol: str) -> int:
        """The row of (venue, symbol), allocated and cleared if new. Raises when every row is taken."""
        key = (str(venue), symbol)
        row = self.rows.get(key)
        if row is not None:
            return row
        if not self._free:
            raise RuntimeError(f"scanner is full ({self.capacity} rows)")
        row = self._free.pop()
        self.rows[key] = row
        self.names[row] = key
        self._names_copy = None
        rows = np.array([row])
        self.bank.reset(rows)
        self.corr.reset(rows)
        code = VENUES.index(key[0]) if key[0] in VENUES else 0
        self.venue[row] = code
        self.members[code, row] = True
        self.scanned[row] = key[0] in self.venues
        self.hw = max(self.hw, row + 1)
        if symbol == BTC:
            self.btc[code] = row
            self.is_btc[row] = True
            self._link_btc()  # every row of the venue now has its BTC
        else:
            self.btc_of[row] = max(self.btc[code], 0)
            self.has_btc[row] = self.btc[code] >= 0
        self.last_time[row] = -1
        self.last_close[row] = np.nan
        self.updated_ms[row] = 0
        self.quote_volume[row] = np.nan
        self.ticker_price[row] = np.nan
        self.has_open[row] = False
        return row

    def remove(self, venue: str, symbol: str) -> None:
        """Forget a delisted pair; its pending bars are discarded with it."""
        row = self.rows.pop((str(venue), symbol), None)
        if row is None:
            return
        self.members[:, row] = False
        self.scanned[row] = False
        self.has_open[row] = False
        self.names[row] = ("", "")
        self._names_copy = None
        self.has_btc[row] = False
        if self.is_btc[row]:
            self.is_btc[row] = False
            self.btc = [-1 if r == row else r for r in self.btc]
            self._link_btc()  # the venue's rows have no BTC until it is back
        if self.has_pend[row]:
            self.has_pend[row] = False
            self._npend -= 1
        self._free.append(row)
        self._free.sort(reverse=True)  # the lowest free row is reused first, so rows in use stay below hw

    @property
    def pending(self) -> int:
        """Closed bars waiting for the next pass."""
        return self._npend

    def _link_btc(self) -> None:
        """Point every row at its venue's BTC row (after BTC itself is added or removed)."""
        self.has_btc[:] = False
        for code, btc in enumerate(self.btc):
            if btc >= 0:
                self.btc_of[self.members[code]] = btc
                self.has_btc |= self.members[code]

    def warm(self, series: Iterable[tuple[str, str, KlineWindow]]) -> int:
        """Commit closed history for new rows, vectorized over rows of equal length; returns bars committed.

        The indicator bank takes each length group at once (rows are independent there); returns go into the
        BTC correlation in time order over every group, so a pair with a shorter history than BTC's (a new
        listing, a pair added later) is matched bar by bar, not only at BTC's newest bar.
        """
        groups: dict[int, list[tuple[int, KlineWindow]]] = {}
        for venue, symbol, window in series:
            row = self.add(venue, symbol)
            w = _after(window, int(self.last_time[row]))
            if len(w):
                groups.setdefault(len(w), []).append((row, w))
        total = 0
        all_rows, all_times, all_close = [], [], []
        for length, items in groups.items():
            rows = np.array([r for r, _ in items], np.int64)
            stack = np.stack([w.rows for _, w in items])  # rows x fields x T
            ot, o, h, lo, c, v = (stack[:, f, :] for f in _FIELDS)
            self.bank.update_many(rows, ot.astype(np.int64), o, h, lo, c, v)
            all_rows.append(np.repeat(rows, length))
            all_times.append(ot.astype(np.int64).ravel())
            all_close.append(c.ravel())
            total += length * len(rows)
        if total:
            rows, times, close = np.concatenate(all_rows), np.concatenate(all_times), np.concatenate(all_close)
            order = np.argsort(times, kind="stable")
            rows, times, close = rows[order], times[order], close[order]
            cuts = np.flatnonzero(np.diff(times)) + 1
            for a, b in zip(np.r_[0, cuts].tolist(), np.r_[cuts, times.size].tolist(), strict=True):
                self._returns(rows[a:b], times[a:b], close[a:b])
            for items in groups.values():
                rows = np.array([r for r, _ in items], np.int64)
                self.last_time[rows] = [int(w.rows[OPEN_TIME, -1]) for _, w in items]
        self.stats["history_bars"] += total
        return total

    # --- events -------------------------------------------------------------------------------------------
    def on_kline(self, k: Kline) -> bool:
        """Take one kline of a tracked row; False when it is not ours (other interval, unknown pair, stale)."""
        if k.interval != self.interval:
            return False
        row = self.rows.get((k.venue, k.symbol))
        if row is None:
            self.stats["unknown"] += 1
            return False
        if k.open_time <= self.last_time[row]:
            self.stats["duplicates" if k.closed else "stale_forming"] += 1
            return False
        self.updated_ms[row] = k.ts_event
        if not k.closed:
            self.has_open[row] = True
            self.open_bar[:, row] = (k.open_time, k.open, k.high, k.low, k.close, k.volume, k.ts_event)
            return True
        if self.has_pend[row]:
            if k.open_time <= self._pend[0, row]:
                self.stats["duplicates"] += 1
                return False
            self.commit()  # a second bar of the row before a pass: the first is committed now, in order
        self._pend[:, row] = (k.open_time, k.open, k.high, k.low, k.close, k.volume)
        self.has_pend[row] = True
        self._npend += 1
        self.stats["closed"] += 1
        return True

    def on_closed_bars(self, rows: I64, open_time: I64, open_: F64, high: F64, low: F64, close: F64,
                       volume: F64) -> int:  # fmt: skip
        """Closed bars of tracked rows as arrays (a backtest's step), with ``on_kline``'s checks: at most one
        bar per row, stale ones counted as duplicates. Returns how many were taken."""
        if self.has_pend[rows].any():
            self.commit()  # at most one pending bar per row
        fresh = open_time > self.last_time[rows]
        if not fresh.all():
            self.stats["duplicates"] += int((~fresh).sum())
            rows, open_time = rows[fresh], open_time[fresh]
            open_, high, low, close, volume = open_[fresh], high[fresh], low[fresh], close[fresh], volume[fresh]
        k = int(rows.size)
        for i, a in enumerate((open_time, open_, high, low, close, volume)):
            self._pend[i, rows] = a
        self.has_pend[rows] = True
        self._npend += k
        self.updated_ms[rows] = open_time + self.step
        self.stats["closed"] += k
        return k

    def on_ticker(self, t: Ticker | MiniTicker) -> None:
        """24 h quote volume and last price for the liquidity filter and factor."""
        if isinstance(t, Ticker) and t.window != "24h":
            return
        row = self.rows.get((t.venue, t.symbol))
        if row is not None:
            self.quote_volume[row] = t.quote_volume
            self.ticker_price[row] = t.last if isinstance(t, Ticker) else t.close

    # --- the pass -----------------------------------------------------------------------------------------
    def commit(self) -> int:
        """Fold every pending closed bar into the bank; returns how many were committed."""
        if self._npend == 0:
            return 0
        self._npend = 0
        ids = np.flatnonzero(self.has_pend)  # ascending
        self.has_pend[ids] = False
        run = _run(ids)
        bar = self._pend[:, run]
        ot = bar[0].astype(np.int64)
        prev = self.last_time[run]
        fresh = ot > prev
        if not fresh.all():  # history warmed in after the bar was taken already holds it (or newer ones)
            self.stats["duplicates"] += int((~fresh).sum())
            ids, bar, ot, prev = ids[fresh], bar[:, fresh], ot[fresh], prev[fresh]
            run = _run(ids)
            if not ids.size:
                return 0
        self.stats["gaps"] += int(((prev >= 0) & (ot != prev + self.step)).sum())
        self.bank.update(run, ot, bar[1], bar[2], bar[3], bar[4], bar[5])
        self._returns(ids, ot, bar[4])
        self.last_time[run] = ot
        self.has_open[run] &= self.open_bar[0, run] > ot
        return int(ids.size)

    def _returns(self, rows: I64, times: I64, close: F64) -> None:
        """Returns into the BTC correlation, then matched against each row's BTC. When BTC's new bar is one
        that some row already holds a return for (that row closed it earlier), BTC's return goes in and is
        matched first, before those rows' returns are replaced."""
        prev = self.last_close[rows]
        with np.errstate(divide="ignore", invalid="ignore"):
            rets = close / prev
        rets -= 1.0
        rets[~(prev > 0.0)] = np.nan
        self.last_close[rows] = close
        is_btc = self.is_btc[rows]
        if is_btc.any() and bool((self.corr.ret_time[: self.hw] >= times[is_btc].min()).any()):
            self.corr.on_returns(rows[is_btc], times[is_btc], rets[is_btc])
            self.corr.match_all(self.btc_of[: self.hw], self.has_btc[: self.hw])
            rest = ~is_btc
            rows, times, rets = rows[rest], times[rest], rets[rest]
        self.corr.on_returns(rows, times, rets)
        self.corr.match_all(self.btc_of[: self.hw], self.has_btc[: self.hw])

    def scan(self, now_ms: int) -> ScanResult:
        """One full pass over the rows in use: commit, peek open bars, score, classify, probability, rank."""
        self.commit()
        n = self.hw
        rows, bar, volume = self._ripe_open_bars(n)
        v = self.bank.peek(_run(rows), bar[0].astype(np.int64), bar[1], bar[2], bar[3], bar[4], volume, size=n)
        comp = self.scorer(rsi=v.rsi14, macd=v.macd, macd_signal=v.macd_signal, macd_hist=v.macd_hist,
                           macd_cross_age=v.macd_cross_age, volume_spike=v.volume_spike, velocity_1h=v.velocity_1h,
                           breakout=v.breakout)  # fmt: skip
        levels = classify(comp.total, self.cfg.levels)
        price = np.where(v.close == v.close, v.close, self.ticker_price[:n])
        qv = self.quote_volume[:n]
        corr, btc_vel = self._btc_inputs(v, n)
        prob = self.probability(ProbabilityInputs(
            momentum=comp.total, volatility_24h=v.volatility_24h, close=price, resistance=v.resistance,
            btc_correlation=corr, btc_velocity_1h=btc_vel, quote_volume_24h=qv))  # fmt: skip
        key = composite(comp.total, prob.probability, self.cfg)
        mask = eligible(price, qv, self.scanned[:n] & (self.last_time[:n] >= 0), self.cfg)
        order = rank(key, mask)
        return ScanResult(
            ts_ms=now_ms, interval=self.interval, names=self._names_snapshot(), tracked=len(self.rows), order=order,
            groups=by_level(order, levels, self.cfg.top), levels=levels, components=comp, composite=key,
            probability=prob, price=price, quote_volume=qv.copy(), updated_ms=self.updated_ms[:n].copy(), values=v,
        )  # fmt: skip

    def _names_snapshot(self) -> list[tuple[str, str]]:
        """An immutable-by-convention copy of the row names, remade only after ``add``/``remove``."""
        if self._names_copy is None:
            self._names_copy = list(self.names)
        return self._names_copy

    def _ripe_open_bars(self, n: int) -> tuple[I64, F64, F64]:
        """Rows below ``n`` whose open bar is at least ``RIPE`` through its interval, those bars (fields x rows)
        and their volume projected to a whole bar.

        A bar a few seconds old has a few seconds of volume and a close next to its open: peeked as is, it
        would read as a volume collapse and hide a breakout. Such rows are scored on their last closed bar.
        """
        rows = np.flatnonzero(self.has_open[:n])
        bar = self.open_bar[:, _run(rows)]
        elapsed = bar[6] - bar[0]
        ripe = elapsed >= RIPE * self.step
        if not ripe.all():
            rows, bar, elapsed = rows[ripe], bar[:, ripe], elapsed[ripe]
        np.minimum(elapsed, self.step, out=elapsed)
        return rows, bar, bar[5] * (self.step / elapsed)

    def _btc_inputs(self, v: IndicatorValues, n: int) -> tuple[F64, F64]:
        """Each row's correlation with its venue's BTC, and that BTC's 1 h velocity (NaN without a BTC)."""
        btc_of, has_btc = self.btc_of[:n], self.has_btc[:n]
        corr = self.corr.correlations(btc_of, has_btc)
        vel = v.velocity_1h.take(btc_of)
        vel[~has_btc] = np.nan
        return corr, vel


_FIELDS = (OPEN_TIME, OPEN, HIGH, LOW, CLOSE, VOLUME)  # rows of KlineWindow.rows the bank takes


def _run(ids: I64) -> I64 | slice:
    """Ascending unique row indices as a slice when they are a run (the bank and every state array then
    take a view instead of a gather), else as they are."""
    if ids.size and int(ids[-1]) - int(ids[0]) + 1 == ids.size:
        return slice(int(ids[0]), int(ids[-1]) + 1)
    return ids


def _after(window: KlineWindow, last_time: int) -> KlineWindow:
    """The part of ``window`` newer than ``last_time``."""
    if last_time < 0 or len(window) == 0:
        return window
    keep = window.rows[0] > last_time
    return KlineWindow(window.rows[:, keep])
