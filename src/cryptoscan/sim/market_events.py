"""Bursts and dumps: smooth log-price ramps with a volume spike, as deterministic functions of time.

Profile of one event with log amplitude A = log(1 + pct/100):
rise from 0 to A over [start, peak] in ``LEGS`` legs, as real pumps move: each leg climbs its share with a
smoothstep over its first ``MOVE`` fraction, then consolidates; retrace a fraction ``retr`` of it over
[peak, end], and keep A * (1 - retr) afterwards. The volume multiplier is ``1 + spike`` while a leg climbs,
``1 + PAUSE_VOLUME * spike`` while it consolidates, fading to 1 halfway through the retrace.

Real pumps are choppy: volatility rises with volume, and a climb is a run of big green candles with red ones
between, not a straight line. So an event also has a *chop* amplitude: ``CHOP`` times the leg's mean
per-minute climb while it rises, fading like the volume through the retrace. The path adds it times an
independent standard normal per minute boundary (``market_paths``): a mean-zero wobble around the ramp that
changes candles, RSI and volatility but not where the event goes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from cryptoscan.sim.market_universe import MIN_MS
from cryptoscan.venues.binance.spec import Venue

F64 = NDArray[np.float64]
LEGS = 3  # legs of a rise
MOVE = 0.4  # share of a leg spent climbing; the rest consolidates
PAUSE_VOLUME = 0.0  # share of the spike left while a leg consolidates (volume dries up)
CHOP = 1.5  # per-minute wobble while an event runs, in units of its legs' mean per-minute climb


@dataclass(frozen=True, slots=True)
class Burst:
    """A pump or dump as clients should detect it (one per listed symbol of the asset)."""

    venue: Venue
    symbol: str
    start_ms: int
    peak_ms: int
    end_ms: int
    pct: float
    kind: str  # "pump" | "dump"


class AssetEvents:
    """Events of one asset as parallel arrays, sorted by start; residuals of finished ones prefix-summed."""

    __slots__ = ("amp", "end", "keep_cum", "pct", "peak", "retr", "spike", "start")

    def __init__(self) -> None:
        self.start = np.zeros(0, np.int64)
        self.peak = np.zeros(0, np.int64)
        self.end = np.zeros(0, np.int64)
        self.amp = np.zeros(0)
        self.retr = np.zeros(0)
        self.spike = np.zeros(0)
        self.pct = np.zeros(0)
        self.keep_cum = np.zeros(1)

    def add(self, start: NDArray[Any], peak: NDArray[Any], end: NDArray[Any], pct: NDArray[Any],
            retr: NDArray[Any], spike: NDArray[Any]) -> None:
        self.start = np.concatenate([self.start, np.asarray(start, np.int64)])
        self.peak = np.concatenate([self.peak, peak])
        self.end = np.concatenate([self.end, end])
        self.pct = np.concatenate([self.pct, pct])
        self.amp = np.log1p(self.pct / 100.0)
        self.retr = np.concatenate([self.retr, retr])
        self.spike = np.concatenate([self.spike, spike])
        order = np.argsort(self.end, kind="stable")
        for name in ("start", "peak", "end", "pct", "amp", "retr", "spike"):
            setattr(self, name, getattr(self, name)[order])
        self.keep_cum = np.concatenate([[0.0], np.cumsum(self.amp * (1.0 - self.retr))])

    def profile(self, t: NDArray[np.int64]) -> tuple[F64, F64, F64]:
        """(log offset, volume multiplier, chop amplitude in log units) at each time in ``t`` (ascending)."""
        t0, t1 = int(t[0]), int(t[-1])
        done = int(np.searchsorted(self.end, t0, side="right"))
        off = np.full(t.shape, self.keep_cum[done])
        vol = np.ones(t.shape)
        chop = np.zeros(t.shape)
        for k in range(done, len(self.end)):
            s, p, e = int(self.start[k]), int(self.peak[k]), int(self.end[k])
            if s >= t1:
                continue
            a, r = float(self.amp[k]), float(self.retr[k])
            x = np.clip((t - s) / max(p - s, 1), 0.0, 1.0)
            y = np.clip((t - p) / max(e - p, 1), 0.0, 1.0)
            leg = np.minimum(np.floor(x * LEGS), LEGS - 1)
            z = np.clip((x * LEGS - leg) / MOVE, 0.0, 1.0)  # progress of the current leg's climb
            rise = (leg + z * z * (3.0 - 2.0 * z)) / LEGS
            fall = y * y * (3.0 - 2.0 * y)
            off += a * (rise - r * fall)
            climbing = np.where(z < 1.0, 1.0, PAUSE_VOLUME)
            w = np.where(t < p, np.where(t >= s, climbing, 0.0), np.clip(1.0 - 2.0 * y, 0.0, 1.0))
            vol += float(self.spike[k]) * w
            climb_minutes = max(MOVE * (p - s) / LEGS / MIN_MS, 1.0)
            # 0 at the start itself, so the path up to an injected burst stays as it was
            chop += CHOP * abs(a) / LEGS / climb_minutes * np.where(t < p, (t > s) * 1.0, w)
        return off, vol, chop

    def at(self, t_ms: int) -> float:
        return float(self.profile(np.array([t_ms, t_ms + 1], np.int64))[0][0])


def plan_events(rng: np.random.Generator, t_lo: int, t_hi: int, gap_days: float) -> tuple[NDArray[Any], ...]:
    """Random events over [t_lo, t_hi): (start, peak, end) int arrays and (pct, retr, spike) floats."""
    span_days = (t_hi - t_lo) / 86_400_000
    n = int(rng.poisson(span_days / gap_days))
    start = (t_lo + rng.integers(0, (t_hi - t_lo) // MIN_MS, n) * MIN_MS).astype(np.int64)
    rise = (rng.integers(60, 12 * 60 + 1, n) * MIN_MS).astype(np.int64)
    decay = (rise * rng.uniform(1.5, 4.0, n)).astype(np.int64) // MIN_MS * MIN_MS
    pump = rng.random(n) < 0.65
    size = rng.random(n)
    pct = np.where(pump, 7.5 * (40.0 / 7.5) ** size, -7.5 * (30.0 / 7.5) ** size)
    retr = rng.uniform(0.3, 0.8, n)
    spike = rng.uniform(3.0, 10.0, n)
    return start, start + rise, start + rise + decay, pct, retr, spike
