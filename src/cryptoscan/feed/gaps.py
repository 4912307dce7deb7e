"""Gap tracking: missing closed klines (to backfill over REST) and aggTrade id gaps (counted).

Driven by: :meth:`GapTracker.on_closed` with every closed kline, live or backfilled (venue, symbol, interval,
open_time), and :meth:`GapTracker.on_reconnect` when a connection comes back (``now`` in ms).
Returns: a :class:`Verdict` (pass the kline on, or drop it as a duplicate, and the :class:`KlineRequest` list
covering any newly found hole) or, on reconnect, the requests for every bar that closed while we were away.
Requests are ``/klines`` calls with ``startTime``/``endTime``/``limit``, at most ``max_bars`` (1000) bars each,
so a long outage becomes several requests. A backfilled bar fills its hole; a closed bar seen before (and not
in a hole) is dropped and counted in ``duplicates``. Memory: two ints and the open holes per series.

:class:`AggTradeGaps` checks that aggregate-trade ids rise by exactly 1 per symbol and counts the misses.
The REST side (pacing these requests under the weight budget) is :mod:`cryptoscan.feed.budget`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass, field

from cryptoscan.venues.binance.spec import INTERVAL_MS, Venue, futures_rest_weight, spot_rest_weight

MAX_BARS = 1000


@dataclass(frozen=True, slots=True)
class KlineRequest:
    """One REST ``/klines`` call: bars with open time in [start_time, end_time]."""

    venue: Venue
    symbol: str
    interval: str
    start_time: int  # open time of the first missing bar
    end_time: int  # close time of the last missing bar
    limit: int  # number of bars expected

    @property
    def path(self) -> str:
        return "/api/v3/klines" if self.venue is Venue.SPOT else "/fapi/v1/klines"

    def params(self) -> dict[str, str]:
        return {
            "symbol": self.symbol.upper(),
            "interval": self.interval,
            "startTime": str(self.start_time),
            "endTime": str(self.end_time),
            "limit": str(self.limit),
        }

    @property
    def weight(self) -> int:
        weigh = spot_rest_weight if self.venue is Venue.SPOT else futures_rest_weight
        return weigh(self.path, self.params())


@dataclass(frozen=True, slots=True)
class Verdict:
    accept: bool
    requests: tuple[KlineRequest, ...] = ()


SeriesKey = tuple[Venue, str, str]  # venue, symbol, interval


@dataclass(slots=True)
class _Series:
    last: int  # newest closed open_time accepted
    holes: list[list[int]] = field(default_factory=list)  # [first, last] open times still missing


class GapTracker:
    def __init__(self, max_bars: int = MAX_BARS, max_lookback_bars: int | None = None) -> None:
        if not 1 <= max_bars <= MAX_BARS:
            raise ValueError("max_bars must be within 1..1000")
        self.max_bars = max_bars
        self.max_lookback_bars = max_lookback_bars  # None: backfill every missing bar however old
        self._series: dict[SeriesKey, _Series] = {}
        self.duplicates = 0
        self.skipped = 0  # bars beyond max_lookback_bars, given up

    def seed(self, venue: Venue, symbol: str, interval: str, last_open_time: int) -> None:
        """Start a series from known history (e.g. the newest closed bar of an initial REST load)."""
        self._series[(venue, symbol, interval)] = _Series(last_open_time)

    def holes(self, venue: Venue, symbol: str, interval: str) -> list[tuple[int, int]]:
        s = self._series.get((venue, symbol, interval))
        return [(a, b) for a, b in s.holes] if s else []

    def open_holes(self) -> int:
        """Holes not yet filled, over every series (each hole is a run of missing bars)."""
        return sum(len(s.holes) for s in self._series.values())

    def on_closed(self, venue: Venue, symbol: str, interval: str, open_time: int) -> Verdict:
        key = (venue, symbol, interval)
        step = INTERVAL_MS[interval]
        s = self._series.get(key)
        if s is None:
            self._series[key] = _Series(open_time)
            return Verdict(True)
        if open_time > s.last:
            first = s.last + step
            s.last = open_time
            return Verdict(True, tuple(self._open_hole(key, s, first, open_time - step)))
        if _fill(s.holes, open_time, step):
            return Verdict(True)
        self.duplicates += 1
        return Verdict(False)

    def on_reconnect(
        self, now: int, venue: Venue | None = None, symbols: Collection[str] | None = None
    ) -> list[KlineRequest]:
        """Holes for every bar that closed up to ``now`` and was not seen (all venues, or just ``venue``; all
        symbols, or just ``symbols``: those of the connection that came back; other series are still live)."""
        out: list[KlineRequest] = []
        for key, s in self._series.items():
            if (venue is not None and key[0] is not venue) or (symbols is not None and key[1] not in symbols):
                continue
            step = INTERVAL_MS[key[2]]
            newest_closed = (now // step) * step - step
            if newest_closed > s.last:
                first = s.last + step
                s.last = newest_closed
                out.extend(self._open_hole(key, s, first, newest_closed))
        return out

    def _open_hole(self, key: SeriesKey, s: _Series, first: int, last: int) -> Iterator[KlineRequest]:
        if last < first:
            return
        venue, symbol, interval = key
        step = INTERVAL_MS[interval]
        if self.max_lookback_bars is not None:
            earliest = last - (self.max_lookback_bars - 1) * step
            if first < earliest:
                self.skipped += (earliest - first) // step
                first = earliest
        s.holes.append([first, last])
        start = first
        while start <= last:
            n = min(self.max_bars, (last - start) // step + 1)
            yield KlineRequest(venue, symbol, interval, start, start + n * step - 1, n)
            start += n * step


def _fill(holes: list[list[int]], t: int, step: int) -> bool:
    """Remove open time ``t`` from the holes; False if it was not missing."""
    for i, (a, b) in enumerate(holes):
        if a <= t <= b:
            if a == b:
                del holes[i]
            elif t == a:
                holes[i][0] = a + step
            elif t == b:
                holes[i][1] = b - step
            else:
                holes[i : i + 1] = [[a, t - step], [t + step, b]]
            return True
    return False


class AggTradeGaps:
    """aggTrade ids rise by exactly 1 per symbol; count the gaps (and the ids missed) and the repeats."""

    def __init__(self) -> None:
        self._last: dict[tuple[str, str], int] = {}
        self.gaps: dict[tuple[str, str], int] = {}
        self.missing: dict[tuple[str, str], int] = {}
        self.repeats = 0

    def on_trade(self, venue: str, symbol: str, agg_id: int) -> int:
        """Ids missed just before ``agg_id`` (0 when contiguous or first seen); -1 for a repeat (an id already
        seen: a duplicated message, or the overlap of two sockets), which the caller drops."""
        key = (venue, symbol)
        last = self._last.get(key)
        if last is not None and agg_id <= last:
            self.repeats += 1
            return -1
        self._last[key] = agg_id
        if last is None or agg_id == last + 1:
            return 0
        missed = agg_id - last - 1
        self.gaps[key] = self.gaps.get(key, 0) + 1
        self.missing[key] = self.missing.get(key, 0) + missed
        return missed
