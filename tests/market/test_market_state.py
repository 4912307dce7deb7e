"""MarketState: events in, latest values and rings; snapshots immutable and cheap; memory bounded."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from cryptoscan.events import BookTop, Kline, MarkPrice, MiniTicker, Ticker
from cryptoscan.market import MarketState, Outcome, SnapshotExpired
from cryptoscan.market.rings import NFIELDS, OPEN_TIME

MIN = 60_000
T0 = 1_700_000_000_000 // MIN * MIN


def kl(i: int, closed: bool = True, symbol: str = "BTCUSDT", venue: str = "spot", interval: str = "1m") -> Kline:
    c = float(100 + i)
    t = T0 + i * MIN
    return Kline(
        venue, symbol, interval, t, t + MIN - 1, c, c + 1, c - 1, c, 1.0 + i, c, 3, 0.5, 50.0, closed, 1, 2, t, t
    )


def book(symbol: str, update_id: int, bid: float) -> BookTop:
    return BookTop("spot", symbol, bid, 1.0, bid + 0.1, 2.0, update_id, 0, 0)


def mini(symbol: str, ts: int, close: float) -> MiniTicker:
    return MiniTicker("spot", symbol, close, 1.0, 2.0, 0.5, 10.0, 100.0, ts, ts)


def ticker(symbol: str, window: str, ts: int) -> Ticker:
    return Ticker("spot", symbol, window, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 2.5, 1.0, 1, 0, 1, None, None, ts, ts)


def test_apply_routes_klines_and_latest_values() -> None:
    st = MarketState("spot", intervals=["1m"], capacity=10)
    for i in range(3):
        assert st.apply(kl(i)) is Outcome.APPENDED
    assert st.apply(kl(3, closed=False)) is Outcome.OPENED
    assert st.apply(book("BTCUSDT", 5, 10.0)) is Outcome.UPDATED
    assert st.apply(book("BTCUSDT", 4, 9.0)) is Outcome.STALE  # an older update id never rolls back
    assert st.apply(mini("BTCUSDT", 7, 42.0)) is Outcome.UPDATED
    assert st.apply(ticker("BTCUSDT", "1h", 7)) is Outcome.UPDATED
    assert st.apply(kl(0, interval="5m")) is Outcome.IGNORED  # unwatched interval
    assert st.apply(kl(9, venue="futures")) is Outcome.IGNORED
    assert st.apply(MarkPrice("BTCUSDT", 1.0, None, 1.0, 0.0001, 0, 1, 1)) is Outcome.IGNORED  # spot state
    assert st.book_tops["BTCUSDT"].bid == 10.0
    assert st.mini_tickers["BTCUSDT"].close == 42.0
    assert st.tickers["1h"]["BTCUSDT"].price_change_percent == 2.5
    w = st.last_n("BTCUSDT", "1m", 2)
    assert w.close.tolist() == [101.0, 102.0]
    assert w.volume.tolist() == [2.0, 3.0]
    assert st.last_n("BTCUSDT", "1m", 3, include_open=True).close.tolist() == [101.0, 102.0, 103.0]
    assert len(st.last_n("NOPE", "1m", 5)) == 0
    assert st.outcomes[Outcome.IGNORED] == 3


def test_futures_state_keeps_mark_price() -> None:
    st = MarketState("futures", intervals=["1m"])
    assert st.apply(MarkPrice("ETHUSDT", 2000.0, 1999.0, 2000.5, 0.0001, 0, 10, 10)) is Outcome.UPDATED
    assert st.apply(MarkPrice("ETHUSDT", 1.0, 1.0, 1.0, 0.0, 0, 9, 9)) is Outcome.STALE
    assert st.mark_prices["ETHUSDT"].mark == 2000.0


def test_duplicates_counted_across_rings() -> None:
    st = MarketState("spot", intervals=["1m"], capacity=10)
    st.apply(kl(0))
    st.apply(kl(1))
    assert st.apply(kl(1)) is Outcome.DUPLICATE
    assert st.apply(kl(0)) is Outcome.OUT_OF_ORDER
    assert st.rejected() == {"duplicate": 1, "out_of_order": 1, "stale_open": 0, "gaps": 0}


def test_symbol_limit_and_removal() -> None:
    st = MarketState("spot", intervals=["1m"], capacity=4, max_symbols=2)
    st.apply(kl(0, symbol="A"))
    st.apply(book("B", 1, 1.0))
    assert st.apply(kl(0, symbol="C")) is Outcome.IGNORED
    st.remove_symbol("A")
    assert st.ring("A", "1m") is None
    assert st.apply(kl(0, symbol="C")) is Outcome.APPENDED
    assert st.symbols == {"B", "C"}


def test_snapshot_is_immutable() -> None:
    st = MarketState("spot", intervals=["1m"], capacity=10)
    for i in range(4):
        st.apply(kl(i))
    st.apply(book("BTCUSDT", 1, 10.0))
    snap = st.snapshot()
    view = snap.ring("BTCUSDT", "1m")
    assert view is not None
    with pytest.raises(ValueError):
        view.data[0, 0] = 1.0
    w = snap.last_n("BTCUSDT", "1m", 3)
    with pytest.raises(ValueError):
        w.close[0] = 1.0
    with pytest.raises(TypeError):
        snap.book_tops["X"] = book("X", 1, 1.0)  # type: ignore[index]
    with pytest.raises(AttributeError):
        snap.seq = 5  # type: ignore[misc]
    # later state changes do not show in the snapshot
    st.apply(book("BTCUSDT", 2, 11.0))
    st.apply(book("ETHUSDT", 1, 5.0))
    st.apply(kl(4))
    assert snap.book_tops["BTCUSDT"].bid == 10.0
    assert "ETHUSDT" not in snap.book_tops
    assert snap.last_n("BTCUSDT", "1m", 10).close.tolist() == [100.0, 101.0, 102.0, 103.0]
    assert st.snapshot().seq > snap.seq


def test_snapshot_expires_rather_than_mixing_times() -> None:
    st = MarketState("spot", intervals=["1m"], capacity=4)
    for i in range(4):
        st.apply(kl(i))
    snap = st.snapshot()
    st.apply(kl(4))  # overwrites the snapshot's oldest slot
    assert snap.last_n("BTCUSDT", "1m", 3).close.tolist() == [101.0, 102.0, 103.0]
    with pytest.raises(SnapshotExpired):
        snap.last_n("BTCUSDT", "1m", 4)
    old = st.snapshot()
    assert st.backfill("BTCUSDT", "1m", [kl(0)]) == 0  # older than the window: trimmed
    st.apply(kl(5))
    assert old.last_n("BTCUSDT", "1m", 3).close.tolist() == [102.0, 103.0, 104.0]


def test_snapshot_includes_forming_kline_as_of_then() -> None:
    st = MarketState("spot", intervals=["1m"], capacity=8)
    st.apply(kl(0))
    st.apply(kl(1, closed=False))
    snap = st.snapshot()
    st.apply(kl(1))
    st.apply(kl(2, closed=False))
    assert snap.last_n("BTCUSDT", "1m", 5, include_open=True).open_time.tolist() == [T0, T0 + MIN]


def test_memory_600_pairs_by_1000_klines() -> None:
    """600 symbols x 1000 klines of one interval: 43.2 MB of float64, measured."""
    rows = np.ones((NFIELDS, 1000), dtype=np.float64)
    rows[OPEN_TIME] = T0 + np.arange(1000) * MIN
    tracemalloc.start()
    try:
        st = MarketState("spot", intervals=["1m"], capacity=1000)
        for s in range(600):
            st.apply(kl(0, symbol=f"S{s}USDT"))
            ring = st.ring(f"S{s}USDT", "1m")
            assert ring is not None
            ring.load(rows)  # fills (touches) the whole array
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert st.nbytes() == 600 * 1000 * NFIELDS * 8
    assert current < 60_000_000, current
    assert peak < 80_000_000, peak
    snap = st.snapshot()
    assert len(snap.last_n("S599USDT", "1m", 1000)) == 1000


def test_forming_many_is_forming_per_kline_and_reports_the_stale_ones() -> None:
    one = MarketState("spot", intervals=["1m"], capacity=10)
    many = MarketState("spot", intervals=["1m"], capacity=10)
    for st in (one, many):
        st.apply(kl(0, closed=True, symbol="ETHUSDT"))
    batch = [kl(1, closed=False), kl(0, closed=False, symbol="ETHUSDT"), kl(1, closed=False, symbol="SOLUSDT"),
             kl(2, closed=False, interval="5m")]  # fmt: skip
    for k in batch:
        one.forming(k)
    stale = many.forming_many(batch)
    assert stale == [batch[1]]  # ETHUSDT's bar 0 is closed already
    assert many.seq == one.seq
    for sym in ("BTCUSDT", "ETHUSDT", "SOLUSDT"):
        a, b = one.ring(sym, "1m"), many.ring(sym, "1m")
        assert a is not None and b is not None and a.forming == b.forming
    assert many.rejected() == one.rejected() == {"duplicate": 0, "out_of_order": 0, "stale_open": 1, "gaps": 0}
