"""Price and volume paths: a pure function of (seed, series, minute), computed one UTC day at a time.

Per asset, daily log returns (market factor times beta, plus idiosyncratic noise, scaled by market-wide
regimes) are drawn for the whole span at once; prefix sums give the log price at each day boundary. Inside
a day the 1-minute path is the linear interpolation of the day's return plus a Brownian bridge pinned at both
ends, plus event profiles. Day boundaries are computed by one scalar code path, so the last close of a day
equals the next day's open bit for bit, and any day can be generated alone.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np
from numpy.typing import NDArray

from cryptoscan.sim.market_events import AssetEvents, plan_events
from cryptoscan.sim.market_universe import DAY_MS, MIN_MS, SeriesSpec, Universe

I64 = NDArray[np.int64]
F64 = NDArray[np.float64]
MPD = 1440
HISTORY_DAYS = 1600
FUTURE_DAYS = 2048
MARKET_VOL = 0.025
_FRAC = np.arange(MPD + 1) / MPD
_J = np.arange(MPD + 1, dtype=np.int64) * MIN_MS
_SEASON = 1.0 + 0.35 * np.sin(2 * np.pi * (np.arange(MPD) / MPD - 0.375))
# regimes: (vol multiplier, daily drift)
_REGIMES = ((0.7, 0.0), (1.0, 0.0), (1.0, 0.006), (1.4, -0.008), (2.0, 0.0), (0.9, 0.003))

K = TypeVar("K")
V = TypeVar("V")


class Lru(Generic[K, V]):
    """A small bounded cache."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.data: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        v = self.data.get(key)
        if v is not None:
            self.data.move_to_end(key)
        return v

    def put(self, key: K, value: V) -> None:
        self.data[key] = value
        self.data.move_to_end(key)
        if len(self.data) > self.size:
            self.data.popitem(last=False)


def gen(*key: int) -> np.random.Generator:
    """Counter-based generator keyed by integers: any block can be drawn alone."""
    return np.random.Generator(np.random.Philox(np.random.SeedSequence([k & 0xFFFFFFFF for k in key])))


@dataclass(slots=True)
class DayBars:
    """1-minute bars of one series for one UTC day: prices in ticks, sizes in steps (all int64)."""

    o: I64
    h: I64
    l: I64  # noqa: E741
    c: I64
    v: I64  # base volume
    n: I64  # trades
    a: I64  # aggTrades
    tb: I64  # taker-buy base volume
    vw: I64  # price (ticks) that turns volume into quote volume


def bridge(rng: np.random.Generator, sigma: float) -> F64:
    w = np.empty(MPD + 1)
    w[0] = 0.0
    np.cumsum(rng.standard_normal(MPD) * sigma, out=w[1:])
    out: F64 = w - _FRAC * w[-1]
    return out


class PathEngine:
    """Asset log paths and series minute bars, cached per day."""

    def __init__(self, seed: int, uni: Universe) -> None:
        self.seed = seed
        self.uni = uni
        self.origin = uni.day0 - HISTORY_DAYS
        self.ndays = HISTORY_DAYS + FUTURE_DAYS
        rng = gen(seed, 2)
        vm = np.empty(self.ndays)
        drift = np.empty(self.ndays)
        i = 0
        while i < self.ndays:
            dur = int(rng.integers(3, 25))
            vmul, dr = _REGIMES[int(rng.integers(0, len(_REGIMES)))]
            vm[i : i + dur], drift[i : i + dur] = vmul, dr
            i += dur
        self.vm, self.drift = vm, drift
        m = drift + MARKET_VOL * vm * rng.standard_normal(self.ndays)
        self.m = m
        self.cum_m = self._cum(m)
        self._daily: dict[int, tuple[F64, F64]] = {}
        self._events: dict[int, AssetEvents] = {}
        self._e0: dict[int, float] = {}
        self._mkt: Lru[int, F64] = Lru(64)
        self._apath: Lru[tuple[int, int], tuple[F64, F64]] = Lru(2048)
        self.bars_cache: Lru[tuple[int, int], DayBars] = Lru(1600)

    def _cum(self, r: F64) -> F64:
        cum = np.concatenate([[0.0], np.cumsum(r)])
        out: F64 = cum - cum[self.uni.day0 - self.origin]
        return out

    def _i(self, day: int) -> int:
        i = day - self.origin
        if not 0 <= i < self.ndays:
            raise ValueError(f"day {day} outside the simulated span")
        return i

    def daily(self, a: int) -> tuple[F64, F64]:
        d = self._daily.get(a)
        if d is None:
            spec = self.uni.assets[a]
            r = spec.vol * np.sqrt(self.vm) * gen(self.seed, 3, a).standard_normal(self.ndays)
            d = (r, self._cum(r))
            self._daily[a] = d
        return d

    def events(self, a: int) -> AssetEvents:
        ev = self._events.get(a)
        if ev is None:
            spec = self.uni.assets[a]
            gap = spec.burst_gap_days * max(1.0, (spec.qvol / 2e7) ** 0.5)
            lo = self.origin * DAY_MS
            hi = (self.origin + self.ndays) * DAY_MS
            ev = AssetEvents()
            ev.add(*plan_events(gen(self.seed, 4, a), lo, hi, gap))
            self._events[a] = ev
            self._e0[a] = ev.at(self.uni.day0 * DAY_MS)
        return ev

    def inject(self, a: int, start: int, peak: int, end: int, pct: float, spike: float = 6.0) -> None:
        ev = self.events(a)
        ev.add(np.array([start]), np.array([peak]), np.array([end]), np.array([pct]), np.array([0.5]),
               np.array([spike]))
        day = start // DAY_MS
        for cache in (self._apath, self.bars_cache):
            for key in [k for k in cache.data if k[1] >= day]:
                del cache.data[key]

    def market(self, day: int) -> F64:
        p = self._mkt.get(day)
        if p is None:
            i = self._i(day)
            sig = MARKET_VOL * self.vm[i] / math.sqrt(MPD)
            p = self.cum_m[i] + _FRAC * self.m[i] + bridge(gen(self.seed, 5, day), sig)
            p[MPD] = self.cum_m[i + 1]
            self._mkt.put(day, p)
        return p

    def asset_path(self, a: int, day: int) -> tuple[F64, F64]:
        """(log price at the 1441 minute boundaries of ``day``, volume multiplier per boundary)."""
        key = (a, day)
        hit = self._apath.get(key)
        if hit is not None:
            return hit
        spec = self.uni.assets[a]
        i = self._i(day)
        r, cum = self.daily(a)
        sig = spec.vol * math.sqrt(self.vm[i]) / math.sqrt(MPD)
        idio = cum[i] + _FRAC * r[i] + bridge(gen(self.seed, 6, a, day), sig)
        idio[MPD] = cum[i + 1]
        ev = self.events(a)
        off, vol, chop = ev.profile(day * DAY_MS + _J)
        lp = math.log(spec.price) + idio + spec.beta * self.market(day) + (off - self._e0[a])
        if chop.any():
            wobble = gen(self.seed, 8, a, day).standard_normal(MPD + 1) * chop
            wobble[0] = wobble[MPD] = 0.0  # day boundaries stay exact
            lp = lp + wobble
        out = (lp, vol)
        self._apath.put(key, out)
        return out

    def series_log(self, s: SeriesSpec, day: int) -> tuple[F64, F64]:
        lp: F64 | None = None
        vol: F64 | None = None
        for a, w in s.components:
            p, vm = self.asset_path(a, day)
            lp = w * p if lp is None else lp + w * p
            vol = vm if vol is None else vol
        assert lp is not None and vol is not None
        lp = lp + (s.const - sum(w * math.log(self.uni.assets[a].price) for a, w in s.components))
        if s.basis_amp:
            t = day * DAY_MS + _J
            ph = (t % s.basis_period_ms) / s.basis_period_ms
            lp = lp + s.basis + s.basis_amp * (4.0 * np.abs(ph - 0.5) - 1.0)
        return lp, vol

    def bars(self, s: SeriesSpec, day: int) -> DayBars:
        key = (s.idx, day)
        hit = self.bars_cache.get(key)
        if hit is not None:
            return hit
        b = self._make_bars(s, day)
        self.bars_cache.put(key, b)
        return b

    def _make_bars(self, s: SeriesSpec, day: int) -> DayBars:
        lp, evol = self.series_log(s, day)
        scale = 10.0**s.tick_exp
        px = np.exp(lp) * scale
        px[0] = math.exp(float(lp[0])) * scale  # boundaries through one scalar path: exact day joins
        px[MPD] = math.exp(float(lp[MPD])) * scale
        ticks = np.maximum(np.rint(px), 1).astype(np.int64)
        o, c = ticks[:-1], ticks[1:]
        rng = gen(self.seed, 7, s.idx, day)
        z = rng.standard_normal((5, MPD))
        u = rng.random(MPD)
        day_f = math.exp(0.25 * float(rng.standard_normal()) + 3.0 * abs(float(self.m[self._i(day)])))
        sig = float(s.extra.get("msig", 9e-4))
        hi_f = np.exp(np.abs(z[0]) * sig * 0.6)
        lo_f = np.exp(-np.abs(z[1]) * sig * 0.6)
        h = np.maximum(np.maximum(o, c), np.rint(np.maximum(o, c) * hi_f).astype(np.int64))
        low = np.maximum(np.minimum(np.minimum(o, c), np.rint(np.minimum(o, c) * lo_f).astype(np.int64)), 1)
        ret = np.log(c / o)
        base_q = s.qvol / MPD
        activity = 1.0 + 0.4 * np.minimum(np.abs(ret) / sig, 6.0)
        vq = base_q * _SEASON * np.exp(0.6 * z[2] - 0.18) * day_f * evol[:-1] * activity
        mid = (o + c) * (0.5 / scale)
        v = np.rint(vq / (mid * 10.0 ** (-s.step_exp))).astype(np.int64)
        n = 4 + np.floor(s.trade_rate * (vq / base_q) ** 0.6 * np.exp(0.35 * z[3] - 0.06)).astype(np.int64)
        n = np.minimum(n, 4 + 40 * int(s.trade_rate))
        v = np.maximum(v, n)
        a = 4 + np.floor((0.5 + 0.5 * u) * (n - 4)).astype(np.int64)
        share = np.clip(0.5 + 0.12 * z[4] + 0.15 * np.clip(ret / sig, -2, 2), 0.05, 0.95)
        tb = np.floor(v * share).astype(np.int64)
        vw = (o + h + low + c) // 4
        return DayBars(o.copy(), h, low, c.copy(), v, n, a, tb, vw)
