"""``GeneratorSource``: the StreamSource backed by the market model.

poll(now) returns every message due in (previous now, now] for the wanted streams, in time order.
Snapshot-like streams (open kline, tickers, depth, bookTicker, markPrice) are coalesced to the latest cadence
tick of the window; closed klines and trades are never skipped. Payloads are msgspec Structs from
``venues.binance.schemas``; an unchanged snapshot is re-sent from a cached template with only its event time
swapped, which keeps a 600-symbol market at ``--speed 60`` cheap.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptoscan.sim.market import MarketModel, merge
from cryptoscan.sim.market_fmt import fmt_units
from cryptoscan.sim.market_live import Partial, partial_of
from cryptoscan.sim.market_paths import MPD, Lru
from cryptoscan.sim.market_rest import avg_price, pct, quote
from cryptoscan.sim.market_universe import MIN_MS, SeriesSpec
from cryptoscan.sim.stream_msgs import Emitter
from cryptoscan.sim.truth import BurstTruth, KlineTruth, TruthWriter
from cryptoscan.venues.binance.spec import INTERVAL_MS, VENUE_KINDS, Kind, Venue, parse_stream, stream_cadence_ms

WINDOW_MIN = {"1h": 60, "4h": 240, "1d": 1440}


@dataclass(slots=True)
class Sub:
    """A parsed, validated subscription."""

    kind: Kind
    series: SeriesSpec | None
    cadence: int
    ims: int = 0
    window: int = 1440
    levels: int = 20


class MinuteState:
    """One minute's trades as Python lists (cheap to index), plus the last partial built from them."""

    __slots__ = ("aid", "bars", "cnt", "cum_n", "j", "k", "maker", "minute", "p", "part", "q", "tid", "times",
                 "tq", "tr")

    def __init__(self, model: MarketModel, s: SeriesSpec, minute: int) -> None:
        self.minute = minute
        self.tr = tr = model.trades(s, minute)
        day, self.j = divmod(minute, MPD)
        self.bars = model.day_bars(s, day)
        self.times: list[int] = tr.t.tolist()
        self.p: list[int] = tr.p.tolist()
        self.q: list[int] = tr.q.tolist()
        self.cnt: list[int] = tr.cnt.tolist()
        self.cum_n: list[int] = tr.cum_n.tolist()
        self.maker: list[bool] = tr.maker.tolist()
        self.tq: list[int] = tr.tq.tolist()
        self.tid, self.aid = tr.first_tid, tr.first_aid
        self.k = 0
        self.part: Partial | None = None

    def at(self, t_ms: int) -> tuple[int, Partial]:
        """(aggTrades so far, aggregate so far) at ``t_ms`` inside this minute."""
        k = bisect_right(self.times, t_ms)
        if k != self.k or self.part is None:
            self.k = k
            self.part = partial_of(self.tr, self.bars, self.j, k)
        return k, self.part


class GeneratorSource:
    """Market data from the generator, as the WebSocket routes ask for it; also writes the truth file."""

    def __init__(
        self,
        model: MarketModel,
        start_ms: int,
        truth: TruthWriter | Path | None = None,
        snapshot_floor_ms: int = 0,
    ) -> None:
        """``snapshot_floor_ms``: the shortest market-time interval between two messages of a snapshot stream."""
        self.model = model
        self.snapshot_floor_ms = snapshot_floor_ms
        self._t = start_ms
        self.truth = TruthWriter(truth) if isinstance(truth, Path) else truth
        self._subs: dict[tuple[Venue, str], Sub | None] = {}
        self._mins: Lru[tuple[int, int], MinuteState] = Lru(4096)
        self._wins: Lru[tuple[int, int, int], tuple[Partial | None, int, int]] = Lru(8192)
        self._cur: list[MinuteState | None] = [None] * len(model.uni.series)
        self._ids: Lru[tuple[int, int], int] = Lru(8192)
        self._next_minute = start_ms // MIN_MS  # first minute whose close is not yet in the truth file
        self._bursts_seen = 0
        self._pending: list[tuple[int, int, object]] = []
        self.emit = Emitter(self)
        self._plan_key: tuple[int, int] | None = None
        self._plan: list[tuple[int, list[tuple[Venue, str, Sub]]]] = []

    # --- subscriptions ------------------------------------------------------------------------------------
    def _sub(self, venue: Venue, stream: str) -> Sub | None:
        key = (venue, stream)
        if key in self._subs:
            return self._subs[key]
        sub: Sub | None = None
        p = parse_stream(stream)
        if p is not None and p.kind in VENUE_KINDS[venue]:
            series = None if p.symbol is None else self.model.series(venue, p.symbol)
            if p.symbol is None or series is not None:
                cadence = stream_cadence_ms(venue, p)
                if p.kind not in (Kind.TRADE, Kind.AGG_TRADE):
                    cadence = max(cadence, self.snapshot_floor_ms)
                sub = Sub(p.kind, series, cadence)
                if p.kind is Kind.KLINE and p.interval:
                    sub.ims = INTERVAL_MS[p.interval]
                if p.kind is Kind.ALL_ROLLING_TICKER and p.interval:
                    sub.window = WINDOW_MIN[p.interval]
                if p.levels:
                    sub.levels = p.levels
        self._subs[key] = sub
        return sub

    def knows(self, venue: Venue, stream: str) -> bool:
        sub = self._sub(venue, stream)
        return sub is not None and (sub.series is None or sub.series.info.status == "TRADING")

    # --- live state ---------------------------------------------------------------------------------------
    def minute(self, s: SeriesSpec, minute: int) -> MinuteState:
        cur = self._cur[s.idx]
        if cur is not None and cur.minute == minute:
            return cur
        st = self._minute(s, minute)
        if cur is None or minute > cur.minute:
            self._cur[s.idx] = st
        return st

    def _minute(self, s: SeriesSpec, minute: int) -> MinuteState:
        key = (s.idx, minute)
        st = self._mins.get(key)
        if st is None:
            st = MinuteState(self.model, s, minute)
            self._mins.put(key, st)
        return st

    def state(self, s: SeriesSpec, t_ms: int) -> tuple[MinuteState, int, Partial]:
        st = self.minute(s, t_ms // MIN_MS)
        k, part = st.at(t_ms)
        return st, k, part

    def first_id(self, s: SeriesSpec, minute: int) -> int:
        """First trade id of a minute (cached)."""
        key = (s.idx, minute)
        tid = self._ids.get(key)
        if tid is None:
            tid = self.model.ids.minute_ids(s, minute)[0]
            self._ids.put(key, tid)
        return tid

    def window(self, s: SeriesSpec, t_ms: int, minutes: int) -> tuple[Partial, int, int, int]:
        """Rolling window ending at t: (aggregate, open time, first trade id, last trade id)."""
        now_min = t_ms // MIN_MS
        key = (s.idx, now_min, minutes)
        got = self._wins.get(key)
        if got is None:
            m_a = now_min - minutes + 1
            got = (self.model.span(s, m_a, now_min), self.first_id(s, m_a), m_a * MIN_MS)
            self._wins.put(key, got)
        closed, first, open_ms = got
        st, k, part = self.state(s, t_ms)
        return merge(closed, part), open_ms, first, st.tid + st.cum_n[k - 1] - 1

    # --- polling ------------------------------------------------------------------------------------------
    def poll(self, now_ms: int, wanted: Mapping[Venue, Collection[str]]) -> list[tuple[Venue, str, bytes]]:
        prev = self._t
        if now_ms <= prev:
            return []
        self._t = now_ms
        out: list[tuple[int, Venue, str, bytes]] = []
        self._write_truth(prev, now_ms)
        emit = self.emit.stream
        for cadence, group in self._plan_for(wanted):
            # Every stream of a snapshot group shares one cadence: when its tick has not come, skip them all.
            if cadence and now_ms // cadence * cadence <= prev:
                continue
            for venue, name, sub in group:
                if sub.series is None or sub.series.info.status == "TRADING":
                    emit(venue, name, sub, prev, now_ms, out)
        out.sort(key=lambda m: m[0])
        return [(v, n, b) for _, v, n, b in out]

    def _plan_for(self, wanted: Mapping[Venue, Collection[str]]) -> list[tuple[int, list[tuple[Venue, str, Sub]]]]:
        """Wanted streams grouped by cadence (0: trades and closed klines, visited every poll); cached per
        ``wanted`` object and its size, which the hub keeps until a subscription changes."""
        key = (id(wanted), sum(len(v) for v in wanted.values()))
        if self._plan_key == key:
            return self._plan
        groups: dict[int, list[tuple[Venue, str, Sub]]] = {}
        for venue, streams in wanted.items():
            for name in streams:
                sub = self._sub(venue, name)
                if sub is None:
                    continue
                # Klines emit their close whenever it falls due, so they are visited every poll.
                cadence = 0 if sub.kind in (Kind.TRADE, Kind.AGG_TRADE, Kind.KLINE) else sub.cadence
                groups.setdefault(cadence, []).append((venue, name, sub))
        self._plan_key, self._plan = key, sorted(groups.items())
        return self._plan

    def close(self) -> None:
        if self.truth is not None:
            self.truth.close()

    # --- truth --------------------------------------------------------------------------------------------
    def _write_truth(self, prev: int, now_ms: int) -> None:
        truth = self.truth
        if truth is None:
            return
        bursts = self.model.bursts
        if len(bursts) != self._bursts_seen:
            self._bursts_seen = len(bursts)
            self._pending = sorted((b.start_ms, i, b) for i, b in enumerate(bursts) if b.start_ms > prev)
        while self._pending and self._pending[0][0] <= now_ms:
            b = self._pending.pop(0)[2]
            truth.write(BurstTruth(b.venue.value, b.symbol, b.start_ms, b.peak_ms, b.end_ms, b.pct, b.kind))  # type: ignore[attr-defined]
        while (self._next_minute + 1) * MIN_MS <= now_ms:
            m = self._next_minute
            day, j = divmod(m, MPD)
            for s in self.model.uni.series:
                if s.info.status != "TRADING":
                    continue
                b = self.model.day_bars(s, day)
                v, vw = int(b.v[j]), int(b.vw[j])
                p = s.tick_exp, s.out_price_dec
                truth.write(KlineTruth(
                    s.venue.value, s.symbol, "1m", m * MIN_MS, m * MIN_MS + MIN_MS - 1, fmt_units(int(b.o[j]), *p),
                    fmt_units(int(b.h[j]), *p), fmt_units(int(b.l[j]), *p), fmt_units(int(b.c[j]), *p),
                    fmt_units(v, s.step_exp, s.out_qty_dec), quote(s, v * vw), int(b.n[j]),
                ))
            self._next_minute += 1
        truth.flush()


__all__ = ["GeneratorSource", "Sub", "avg_price", "pct"]
