from __future__ import annotations

import pytest

from cryptoscan.feed.gaps import AggTradeGaps, GapTracker, KlineRequest
from cryptoscan.venues.binance.spec import Venue

M = 60_000
S = Venue.SPOT


def bars(reqs: list[KlineRequest] | tuple[KlineRequest, ...]) -> list[int]:
    """Every open time the requests ask for."""
    out: list[int] = []
    for r in reqs:
        assert 1 <= r.limit <= 1000
        step = M if r.interval == "1m" else 3_600_000
        assert r.end_time == r.start_time + r.limit * step - 1
        out.extend(r.start_time + i * step for i in range(r.limit))
    return out


def test_contiguous_series_has_no_gap() -> None:
    g = GapTracker()
    for i in range(10):
        v = g.on_closed(S, "BTCUSDT", "1m", i * M)
        assert v.accept and v.requests == ()


def test_gap_found_exactly_and_filled_by_backfill() -> None:
    g = GapTracker()
    g.on_closed(S, "BTCUSDT", "1m", 0)
    v = g.on_closed(S, "BTCUSDT", "1m", 5 * M)
    assert v.accept and bars(v.requests) == [M, 2 * M, 3 * M, 4 * M]
    (r,) = v.requests
    assert r.params() == {
        "symbol": "BTCUSDT",
        "interval": "1m",
        "startTime": str(M),
        "endTime": str(5 * M - 1),
        "limit": "4",
    }
    assert r.path == "/api/v3/klines" and r.weight == 2
    assert g.holes(S, "BTCUSDT", "1m") == [(M, 4 * M)]
    assert g.on_closed(S, "BTCUSDT", "1m", 3 * M).accept  # backfill in the middle splits the hole
    assert g.holes(S, "BTCUSDT", "1m") == [(M, 2 * M), (4 * M, 4 * M)]
    for t in (M, 2 * M, 4 * M):
        assert g.on_closed(S, "BTCUSDT", "1m", t).accept
    assert g.holes(S, "BTCUSDT", "1m") == []
    assert not g.on_closed(S, "BTCUSDT", "1m", 3 * M).accept  # now a duplicate
    assert not g.on_closed(S, "BTCUSDT", "1m", 5 * M).accept
    assert g.duplicates == 2


def test_long_outage_split_into_1000_bar_requests() -> None:
    g = GapTracker()
    g.seed(Venue.FUTURES, "ETHUSDT", "1m", 0)
    now = 2500 * M + 30_000  # bar 2499 closed; bar 2500 is still open
    reqs = g.on_reconnect(now)
    assert [r.limit for r in reqs] == [1000, 1000, 499]
    assert bars(reqs) == [i * M for i in range(1, 2500)]
    assert reqs[0].path == "/fapi/v1/klines" and reqs[0].weight == 5
    assert g.on_reconnect(now) == []  # nothing new
    v = g.on_closed(Venue.FUTURES, "ETHUSDT", "1m", 2500 * M)  # live resumes: contiguous
    assert v.accept and v.requests == ()
    for t in range(1, 2500):
        assert g.on_closed(Venue.FUTURES, "ETHUSDT", "1m", t * M).accept
    assert g.holes(Venue.FUTURES, "ETHUSDT", "1m") == [] and g.duplicates == 0


def test_reconnect_only_for_the_venue_and_lookback_cap() -> None:
    g = GapTracker(max_lookback_bars=100)
    g.seed(S, "BTCUSDT", "1h", 0)
    g.seed(Venue.FUTURES, "BTCUSDT", "1h", 0)
    reqs = g.on_reconnect(1000 * 3_600_000, venue=S)
    assert {r.venue for r in reqs} == {S}
    assert bars(reqs) == [i * 3_600_000 for i in range(899, 1000)][1:]
    assert g.skipped == 899


def test_custom_max_bars_validated() -> None:
    with pytest.raises(ValueError):
        GapTracker(max_bars=1001)
    g = GapTracker(max_bars=3)
    g.on_closed(S, "X", "1m", 0)
    assert [r.limit for r in g.on_closed(S, "X", "1m", 8 * M).requests] == [3, 3, 1]


def test_aggtrade_ids() -> None:
    a = AggTradeGaps()
    assert [a.on_trade(S, "BTCUSDT", i) for i in (10, 11, 12)] == [0, 0, 0]
    assert a.on_trade(S, "BTCUSDT", 20) == 7
    assert a.on_trade(S, "BTCUSDT", 20) == -1 and a.repeats == 1
    assert a.on_trade(S, "BTCUSDT", 22) == 1
    assert a.on_trade(S, "ETHUSDT", 500) == 0
    assert a.gaps[(S, "BTCUSDT")] == 2 and a.missing[(S, "BTCUSDT")] == 8


def test_reconnect_only_for_the_connections_symbols() -> None:
    """A reconnect opens holes only in the series of the connection that came back; the others are live."""
    g = GapTracker()
    for sym in ("BTCUSDT", "ETHUSDT", "SOLUSDT"):
        g.seed(S, sym, "1m", 0)
    reqs = g.on_reconnect(4 * M + 1, venue=S, symbols={"ETHUSDT"})
    assert {r.symbol for r in reqs} == {"ETHUSDT"}
    assert bars(reqs) == [M, 2 * M, 3 * M]
    # The untouched series still continue live with no hole and no duplicate.
    assert g.on_closed(S, "BTCUSDT", "1m", M).requests == ()
    assert g.holes(S, "SOLUSDT", "1m") == [] and g.duplicates == 0
