"""The simulated market: symbols, deterministic price/volume history and live state, as Binance serves it.

Everything is a pure function of (seed, symbol, time), computed on demand and cached, so history of any
depth costs nothing up front and REST history agrees exactly with what the streams later send. REST payload
builders live in ``market_rest``; the generator paths in ``market_paths``; trades in ``market_live``.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from cryptoscan.sim import market_rest
from cryptoscan.sim.market_events import Burst
from cryptoscan.sim.market_live import IdBook, MinuteTrades, Partial, make_trades, partial_of
from cryptoscan.sim.market_paths import MARKET_VOL, MPD, DayBars, Lru, PathEngine
from cryptoscan.sim.market_universe import DAY_MS, MIN_MS, SeriesSpec, SymbolInfo, Universe
from cryptoscan.venues.binance.spec import INTERVAL_MS, Venue

__all__ = ["Burst", "MarketModel", "Partial", "SymbolInfo"]


def merge(a: Partial | None, b: Partial) -> Partial:
    """Aggregate of two consecutive bars."""
    if a is None:
        return b
    return Partial(a.o, max(a.h, b.h), min(a.l, b.l), b.c, a.v + b.v, a.n + b.n, a.tb + b.tb, a.q + b.q,
                   a.qb + b.qb)


class MarketModel:
    """Symbols, history and live state of the simulated Binance spot and USD-M futures markets."""

    def __init__(self, seed: int, start_ms: int, n_spot: int = 400, n_futures: int = 200,
                 trade_rate: float = 16.0) -> None:
        self.seed = seed
        self.start_ms = start_ms
        self.uni = Universe(seed, start_ms, n_spot, n_futures, trade_rate)
        for s in self.uni.series:
            a = self.uni.assets[s.components[0][0]]
            s.extra["msig"] = math.hypot(a.beta * MARKET_VOL, a.vol) / math.sqrt(MPD)
        self.engine = PathEngine(seed, self.uni)
        self.ids = IdBook(seed, self.engine)
        self._trades: Lru[tuple[int, int], MinuteTrades] = Lru(2048)
        self._spans: Lru[tuple[int, int, int], Partial] = Lru(8192)
        self._days: dict[tuple[int, int], Partial] = {}
        self._injected: list[Burst] = []
        self._bursts: list[Burst] | None = None
        self._rates: Lru[tuple[int, int], float] = Lru(4096)
        self._book_q: Lru[tuple[int, int], tuple[list[int], list[int]]] = Lru(2048)

    # --- symbols ------------------------------------------------------------------------------------------
    def series(self, venue: Venue, symbol: str) -> SeriesSpec | None:
        return self.uni.by_symbol.get((venue, symbol.upper()))

    def all_series(self, venue: Venue | None = None) -> list[SeriesSpec]:
        return [s for s in self.uni.series if venue is None or s.venue is venue]

    def symbols(self, venue: Venue) -> list[SymbolInfo]:
        return [s.info for s in self.uni.series if s.venue is venue]

    def info(self, venue: Venue, symbol: str) -> SymbolInfo | None:
        s = self.series(venue, symbol)
        return None if s is None else s.info

    def set_status(self, venue: Venue, symbol: str, status: str) -> None:
        s = self.series(venue, symbol)
        if s is None:
            raise KeyError(symbol)
        s.info = dataclasses.replace(s.info, status=status)

    # --- events -------------------------------------------------------------------------------------------
    def _listed_of_asset(self, asset: int) -> list[SeriesSpec]:
        return [s for s in self.uni.series if s.components == ((asset, 1.0),) or (s.components[0][0] == asset
                and len(s.components) == 1)]

    def inject_burst(self, venue: Venue, symbol: str, pct: float, duration_ms: int, now_ms: int) -> Burst:
        """A pump (pct > 0) or dump from the next minute on; what happened before stays as it was."""
        s = self.series(venue, symbol)
        if s is None:
            raise KeyError(symbol)
        start = (now_ms // MIN_MS + 1) * MIN_MS
        peak = start + max(1, round(duration_ms / MIN_MS)) * MIN_MS
        end = peak + 2 * (peak - start)
        asset = s.components[0][0]
        self.engine.inject(asset, start, peak, end, pct)
        for t in self.uni.series:
            if any(a == asset for a, _ in t.components):
                self.ids.forget_after(t, start)
                for key in [k for k in self._days if k[0] == t.idx and k[1] >= start // DAY_MS]:
                    del self._days[key]
                for key in [k for k in self._trades.data if k[0] == t.idx and k[1] >= start // MIN_MS]:
                    del self._trades.data[key]
        kind = "pump" if pct > 0 else "dump"
        out = [Burst(t.venue, t.symbol, start, peak, end, pct, kind) for t in self._listed_of_asset(asset)]
        self._injected.extend(out)
        if self._bursts is not None:
            self._bursts.extend(out)
        return next(b for b in out if b.symbol == s.symbol and b.venue is venue)

    def bursts_between(self, lo_ms: int, hi_ms: int) -> list[Burst]:
        """Every burst or dump (planned or injected) starting in [lo_ms, hi_ms), in start order."""
        out: list[Burst] = []
        for a in range(len(self.uni.assets)):
            listed = self._listed_of_asset(a)
            if not listed:
                continue
            ev = self.engine.events(a)
            for k in np.nonzero((ev.start >= lo_ms) & (ev.start < hi_ms))[0]:
                pct = float(ev.pct[k])
                for s in listed:
                    out.append(Burst(s.venue, s.symbol, int(ev.start[k]), int(ev.peak[k]), int(ev.end[k]), pct,
                                     "pump" if pct > 0 else "dump"))
        out.sort(key=lambda b: (b.start_ms, b.venue.value, b.symbol))
        return out

    @property
    def bursts(self) -> list[Burst]:
        """Known bursts from 30 days before the start to 30 days after (plus injected ones)."""
        if self._bursts is None:
            self._bursts = self.bursts_between(self.start_ms - 30 * DAY_MS, self.start_ms + 30 * DAY_MS)
        return self._bursts

    # --- bars ---------------------------------------------------------------------------------------------
    def day_bars(self, s: SeriesSpec, day: int) -> DayBars:
        return self.engine.bars(s, day)

    def trades(self, s: SeriesSpec, minute: int) -> MinuteTrades:
        key = (s.idx, minute)
        tr = self._trades.get(key)
        if tr is None:
            day, j = divmod(minute, MPD)
            tid, aid = self.ids.minute_ids(s, minute)
            tr = make_trades(self.seed, s, minute, self.engine.bars(s, day), j, tid, aid)
            self._trades.put(key, tr)
        return tr

    def minute_partial(self, s: SeriesSpec, now_ms: int) -> tuple[Partial, MinuteTrades, int]:
        """The open minute at ``now_ms``: its aggregate so far, its trades, and how many aggTrades happened."""
        minute = now_ms // MIN_MS
        tr = self.trades(s, minute)
        k = tr.upto(now_ms)
        day, j = divmod(minute, MPD)
        return partial_of(tr, self.engine.bars(s, day), j, k), tr, k

    def span(self, s: SeriesSpec, m_a: int, m_b: int) -> Partial | None:
        """Aggregate of the closed minutes [m_a, m_b) (None when empty)."""
        if m_b <= m_a:
            return None
        if m_b - m_a == MPD and m_a % MPD == 0:
            key2 = (s.idx, m_a // MPD)
            hit = self._days.get(key2)
            if hit is None:
                hit = self._span_raw(s, m_a, m_b)
                self._days[key2] = hit
            return hit
        key = (s.idx, m_a, m_b)
        got = self._spans.get(key)
        if got is None:
            got = self._span_raw(s, m_a, m_b)
            self._spans.put(key, got)
        return got

    def _span_raw(self, s: SeriesSpec, m_a: int, m_b: int) -> Partial:
        out: Partial | None = None
        m = m_a
        while m < m_b:
            day, j = divmod(m, MPD)
            j_end = min(MPD, j + (m_b - m))
            if j == 0 and j_end == MPD and (s.idx, day) in self._days:
                part = self._days[(s.idx, day)]
            else:
                b = self.engine.bars(s, day)
                sl = slice(j, j_end)
                v, vw, tb = b.v[sl], b.vw[sl], b.tb[sl]
                part = Partial(int(b.o[j]), int(b.h[sl].max()), int(b.l[sl].min()), int(b.c[j_end - 1]),
                               int(v.sum()), int(b.n[sl].sum()), int(tb.sum()), int((v * vw).sum()),
                               int((tb * vw).sum()))
            out = merge(out, part)
            m += j_end - j
        assert out is not None
        return out

    def bar_at(self, s: SeriesSpec, interval_ms: int, open_ms: int, now_ms: int) -> tuple[Partial, bool, int, int]:
        """(aggregate, closed, first trade id, last trade id) of the kline opening at ``open_ms``."""
        m0 = open_ms // MIN_MS
        k = interval_ms // MIN_MS
        now_min = now_ms // MIN_MS
        first_tid = self.ids.minute_ids(s, m0)[0]
        if m0 + k <= now_min:
            bar = self.span(s, m0, m0 + k)
            assert bar is not None
            return bar, True, first_tid, first_tid + bar.n - 1
        cur, _, _ = self.minute_partial(s, now_ms)
        bar = merge(self.span(s, m0, now_min), cur)
        return bar, False, first_tid, first_tid + bar.n - 1

    def closed_rows(self, s: SeriesSpec, interval_ms: int, first_open_ms: int, count: int) -> list[Partial]:
        """Closed klines from ``first_open_ms`` on, vectorised per day."""
        k = interval_ms // MIN_MS
        out: list[Partial] = []
        m = first_open_ms // MIN_MS
        while len(out) < count:
            day, j = divmod(m, MPD)
            if k == MPD:
                bar = self.span(s, m, m + MPD)
                assert bar is not None
                out.append(bar)
                m += MPD
                continue
            b = self.engine.bars(s, day)
            rows = min(count - len(out), (MPD - j) // k)
            sl = slice(j, j + rows * k)
            shp = (rows, k)
            v, tb, vw = b.v[sl].reshape(shp), b.tb[sl].reshape(shp), b.vw[sl].reshape(shp)
            cols = (b.o[sl].reshape(shp)[:, 0], b.h[sl].reshape(shp).max(1), b.l[sl].reshape(shp).min(1),
                    b.c[sl].reshape(shp)[:, -1], v.sum(1), b.n[sl].reshape(shp).sum(1), tb.sum(1),
                    (v * vw).sum(1), (tb * vw).sum(1))
            lists = [c.tolist() for c in cols]
            out.extend(Partial(*row) for row in zip(*lists, strict=True))
            m += rows * k
        return out

    # --- snapshots ----------------------------------------------------------------------------------------
    def window(self, s: SeriesSpec, now_ms: int, minutes: int) -> tuple[Partial, int, int, int, int]:
        """Rolling window ending now: (aggregate, open time, first trade id, last trade id, previous close)."""
        now_min = now_ms // MIN_MS
        m_a = now_min - minutes + 1
        cur, tr, k = self.minute_partial(s, now_ms)
        bar = merge(self.span(s, m_a, now_min), cur)
        first = self.ids.minute_ids(s, m_a)[0]
        last = tr.first_tid + int(tr.cum_n[k - 1]) - 1
        day, j = divmod(m_a, MPD)
        prev_close = int(self.engine.bars(s, day).o[j])
        return bar, m_a * MIN_MS, first, last, prev_close

    def book(self, s: SeriesSpec, now_ms: int, levels: int) -> tuple[int, list[tuple[int, int]], list[tuple[int, int]]]:
        """(update id, bids, asks) as (ticks, steps) around the last trade; changes only when trades happen."""
        tr = self.trades(s, now_ms // MIN_MS)
        k = tr.upto(now_ms)
        uid = 3 * (tr.first_tid + int(tr.cum_n[k - 1])) + 7
        bids, asks = self.book_levels(s, tr.minute, int(tr.p[k - 1]), bool(tr.maker[k - 1]), levels)
        return uid, bids, asks

    def book_levels(self, s: SeriesSpec, minute: int, last: int, maker: bool, levels: int) -> tuple[
            list[tuple[int, int]], list[tuple[int, int]]]:
        """Book levels next to the last trade (at the bid when the buyer was maker); sizes fixed per minute."""
        spread = s.spread_ticks
        bid0 = last if maker else last - spread
        gap = max(1, spread // 2) if spread > 2 else 1
        qb, qa = self.book_sizes(s, minute, levels)
        bids = [(bid0 - i * gap, qb[i]) for i in range(levels) if bid0 - i * gap > 0]
        asks = [(bid0 + spread + i * gap, qa[i]) for i in range(levels)]
        return bids, asks

    def book_sizes(self, s: SeriesSpec, minute: int, levels: int) -> tuple[list[int], list[int]]:
        key = (s.idx, minute)
        qs = self._book_q.get(key)
        if qs is None or len(qs[0]) < levels:
            rng = np.random.Generator(np.random.Philox(np.random.SeedSequence([self.seed, 11, s.idx, minute])))
            day, j = divmod(minute, MPD)
            price = max(int(self.engine.bars(s, day).o[j]), 1) * 10.0 ** (-s.tick_exp)
            base = max(1.0, s.qvol / MPD / price * 10.0**s.step_exp * 0.02)
            depth = np.arange(max(levels, 20))
            mult = (1.0 + depth / 6.0) * rng.lognormal(0.0, 0.8, (2, len(depth)))
            qty = np.maximum(1, np.rint(base * mult)).astype(np.int64)
            qs = (qty[0].tolist(), qty[1].tolist())
            self._book_q.put(key, qs)
        return qs

    def last_trade(self, s: SeriesSpec, now_ms: int) -> tuple[int, int]:
        """(price ticks, quantity steps) of the latest aggTrade."""
        tr = self.trades(s, now_ms // MIN_MS)
        k = tr.upto(now_ms)
        return int(tr.p[k - 1]), int(tr.q[k - 1])

    def funding_rate(self, s: SeriesSpec, period: int) -> float:
        """Funding rate of one 8 h period: about 1e-4, with noise and the symbol's basis."""
        key = (s.idx, period)
        r = self._rates.get(key)
        if r is None:
            z = float(np.random.Generator(np.random.Philox(np.random.SeedSequence(
                [self.seed, 12, s.idx, period]))).standard_normal())
            r = float(np.clip(1e-4 + 6e-5 * z + 0.2 * s.basis, -7.5e-4, 7.5e-4))
            self._rates.put(key, r)
        return r

    def mark_from(self, s: SeriesSpec, last_ticks: int, index_ticks: int | None, now_ms: int) -> tuple[
            float, float, float, int]:
        """Futures (mark, index, funding rate, next funding time) from the last prices of futures and spot."""
        last = last_ticks * 10.0 ** (-s.tick_exp)
        if s.index_of is not None and index_ticks is not None:
            index = index_ticks * 10.0 ** (-self.uni.series[s.index_of].tick_exp)
        else:
            index = last * (1.0 - s.basis)
        period = now_ms // (8 * 3_600_000)
        wob = ((now_ms // 1000) * 2654435761 % 1000) / 1000.0 - 0.5
        return last * (1.0 + 1e-4 * wob), index, self.funding_rate(s, period), (period + 1) * 8 * 3_600_000

    def mark(self, s: SeriesSpec, now_ms: int) -> tuple[float, float, float, int]:
        """Futures (mark price, index price, funding rate, next funding time)."""
        spot = None if s.index_of is None else self.last_trade(self.uni.series[s.index_of], now_ms)[0]
        return self.mark_from(s, self.last_trade(s, now_ms)[0], spot, now_ms)

    # --- REST payloads (see market_rest) -----------------------------------------------------------------
    def rest_klines(self, venue: Venue, symbol: str, interval: str, start_ms: int | None, end_ms: int | None,
                    limit: int, now_ms: int) -> list[list[object]]:
        s = self.series(venue, symbol)
        if s is None or interval not in INTERVAL_MS:
            return []
        return market_rest.klines(self, s, INTERVAL_MS[interval], start_ms, end_ms, limit, now_ms)

    def rest_ticker_24h(self, venue: Venue, symbol: str | None, now_ms: int) -> dict[str, object] | list[
            dict[str, object]]:
        if symbol is not None:
            s = self.series(venue, symbol)
            return {} if s is None else market_rest.ticker_24h(self, s, now_ms)
        return [market_rest.ticker_24h(self, s, now_ms) for s in self.all_series(venue)
                if s.info.status == "TRADING"]

    def rest_depth(self, venue: Venue, symbol: str, limit: int, now_ms: int) -> dict[str, object]:
        s = self.series(venue, symbol)
        return {} if s is None else market_rest.depth(self, s, limit, now_ms)

    def rest_premium_index(self, symbol: str | None, now_ms: int) -> dict[str, object] | list[dict[str, object]]:
        if symbol is not None:
            s = self.series(Venue.FUTURES, symbol)
            return {} if s is None else market_rest.premium_index(self, s, now_ms)
        return [market_rest.premium_index(self, s, now_ms) for s in self.all_series(Venue.FUTURES)
                if s.info.status == "TRADING"]

    def exchange_info(self, venue: Venue, now_ms: int) -> dict[str, object]:
        return market_rest.exchange_info(self, venue, now_ms)
