"""Inside one minute: the trades that make up a 1-minute bar, and trade/aggTrade id bookkeeping.

Trades are drawn from the finished bar (o, h, l, c, v, n, aggTrades), so the aggregate of all trades of a
minute *is* the bar: first trade at o, last at c, one at h, one at l, quantities summing to v. The open
kline at time t is the aggregate of the trades up to t, so the final x=true kline equals the REST row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from cryptoscan.sim.market_paths import MPD, DayBars, PathEngine, gen
from cryptoscan.sim.market_universe import DAY_MS, MIN_MS, SeriesSpec

I64 = NDArray[np.int64]


@dataclass(slots=True)
class MinuteTrades:
    """The aggTrades of one minute (parallel arrays) plus per-trade quantities for the trade stream."""

    minute: int
    t: I64  # event time (ms), ascending, t[0] = minute start
    p: I64  # price (ticks)
    q: I64  # aggTrade quantity (steps)
    cnt: I64  # trades in each aggTrade (1..3)
    maker: NDArray[np.bool_]  # buyer is maker
    tq: I64  # quantity of every single trade (steps)
    cum_q: I64
    cum_n: I64
    cum_hi: I64
    cum_lo: I64
    first_tid: int  # id of the minute's first trade
    first_aid: int  # id of the minute's first aggTrade

    def upto(self, t_ms: int) -> int:
        """How many aggTrades have happened at ``t_ms`` (at least 1 once the minute has begun)."""
        return int(np.searchsorted(self.t, t_ms, side="right"))


@dataclass(slots=True)
class Partial:
    """A bar built from the first k aggTrades of a minute (or a whole closed bar when k is all)."""

    o: int
    h: int
    l: int  # noqa: E741
    c: int
    v: int
    n: int
    tb: int
    q: int  # quote volume in units of tick*step
    qb: int  # taker-buy quote volume, same units


def make_trades(seed: int, s: SeriesSpec, minute: int, bars: DayBars, j: int, tid: int, aid: int) -> MinuteTrades:
    o, h, low, c = int(bars.o[j]), int(bars.h[j]), int(bars.l[j]), int(bars.c[j])
    v, n, a = int(bars.v[j]), int(bars.n[j]), int(bars.a[j])
    rng = gen(seed, 9, s.idx, minute)
    t = np.sort(rng.integers(0, MIN_MS, a)).astype(np.int64) + minute * MIN_MS
    t[0] = minute * MIN_MS
    inner = rng.permutation(np.arange(1, a - 1))[:2]
    frac = np.arange(a) / max(a - 1, 1)
    span = max(h - low, 1)
    p = np.rint(o + (c - o) * frac + rng.standard_normal(a) * span * 0.25).astype(np.int64)
    p = np.clip(p, low, h)
    p[inner[0]], p[inner[1]] = h, low
    p[0], p[-1] = o, c
    extra = n - a
    cnt = np.ones(a, np.int64)
    if extra > 0:
        cnt += np.bincount(rng.choice(2 * a, extra, replace=False) // 2, minlength=a).astype(np.int64)
    w = rng.exponential(size=n)
    tq = 1 + np.floor(w / w.sum() * (v - n)).astype(np.int64)
    tq[int(np.argmax(w))] += v - int(tq.sum())
    starts = np.concatenate([[0], np.cumsum(cnt)[:-1]])
    q = np.add.reduceat(tq, starts)
    up = np.sign(np.diff(p, prepend=o))
    maker = rng.random(a) < (0.5 - 0.3 * up)
    return MinuteTrades(
        minute=minute, t=t, p=p, q=q, cnt=cnt, maker=maker, tq=tq, cum_q=np.cumsum(q), cum_n=np.cumsum(cnt),
        cum_hi=np.maximum.accumulate(p), cum_lo=np.minimum.accumulate(p), first_tid=tid, first_aid=aid,
    )


def partial_of(tr: MinuteTrades, bars: DayBars, j: int, k: int) -> Partial:
    """Aggregate of the first ``k`` aggTrades; equal to the bar itself when k is all of them."""
    v_all, tb_all, vw = int(bars.v[j]), int(bars.tb[j]), int(bars.vw[j])
    v = int(tr.cum_q[k - 1])
    tb = tb_all if v == v_all else v * tb_all // v_all
    return Partial(
        o=int(tr.p[0]), h=int(tr.cum_hi[k - 1]), l=int(tr.cum_lo[k - 1]), c=int(tr.p[k - 1]), v=v,
        n=int(tr.cum_n[k - 1]), tb=tb, q=v * vw, qb=tb * vw,
    )


class IdBook:
    """First trade / aggTrade id of any day at or after the start day, per series (prefix sums over days)."""

    def __init__(self, seed: int, engine: PathEngine) -> None:
        self.seed = seed
        self.engine = engine
        self._anchor: dict[tuple[int, int], tuple[int, int]] = {}
        self._sums: dict[tuple[int, int], tuple[int, int]] = {}

    def day_sums(self, s: SeriesSpec, day: int) -> tuple[int, int]:
        key = (s.idx, day)
        hit = self._sums.get(key)
        if hit is None:
            b = self.engine.bars(s, day)
            hit = (int(b.n.sum()), int(b.a.sum()))
            self._sums[key] = hit
        return hit

    def anchor(self, s: SeriesSpec, day: int) -> tuple[int, int]:
        key = (s.idx, day)
        hit = self._anchor.get(key)
        if hit is not None:
            return hit
        day0 = self.engine.uni.day0
        if day <= day0:
            rng = gen(self.seed, 10, s.idx)
            tid = int(rng.integers(10_000_000, 900_000_000) * max(1.0, s.qvol / 1e8))
            hit = (tid, tid * 3 // 5)
            for d in range(day0 - 1, day - 1, -1):
                n, a = self.day_sums(s, d)
                hit = (hit[0] - n, hit[1] - a)
        else:
            d = day - 1
            while d > day0 and (s.idx, d) not in self._anchor:
                d -= 1
            hit = self.anchor(s, d)
            for dd in range(d, day):
                n, a = self.day_sums(s, dd)
                hit = (hit[0] + n, hit[1] + a)
                self._anchor[(s.idx, dd + 1)] = hit
        self._anchor[key] = hit
        return hit

    def minute_ids(self, s: SeriesSpec, minute: int) -> tuple[int, int]:
        day, j = divmod(minute, MPD)
        tid, aid = self.anchor(s, day)
        b = self.engine.bars(s, day)
        return tid + int(b.n[:j].sum()), aid + int(b.a[:j].sum())

    def forget_after(self, s: SeriesSpec, t_ms: int) -> None:
        """Drop cached sums and anchors a new event starting at ``t_ms`` may change."""
        day = t_ms // DAY_MS
        for cache in (self._anchor, self._sums):
            for key in [k for k in cache if k[0] == s.idx and k[1] >= day]:
                del cache[key]
