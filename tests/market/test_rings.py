"""Kline ring buffers: wraparound, order, forming-kline replace, rejection, backfill."""

from __future__ import annotations

import numpy as np
import pytest

from cryptoscan.events import Kline
from cryptoscan.market.rings import CLOSE, OPEN_TIME, KlineRing, Outcome

MIN = 60_000
T0 = 1_700_000_000_000 // MIN * MIN


def kl(i: int, closed: bool = True, close: float | None = None, symbol: str = "BTCUSDT") -> Kline:
    c = float(100 + i) if close is None else close
    t = T0 + i * MIN
    return Kline(
        "spot", symbol, "1m", t, t + MIN - 1, c - 0.5, c + 1, c - 1, c, 10.0 + i, c * (10.0 + i), 5 + i,
        4.0, 400.0, closed, 1, 2, t + MIN, t + MIN,
    )  # fmt: skip


def test_append_in_order_and_last_n() -> None:
    ring = KlineRing(5, MIN)
    assert ring.last_open_time is None
    assert [ring.apply(kl(i)) for i in range(3)] == [Outcome.APPENDED] * 3
    rows = ring.last_n(10)
    assert rows.shape == (9, 3)
    assert rows[CLOSE].tolist() == [100.0, 101.0, 102.0]
    assert ring.last_open_time == T0 + 2 * MIN


def test_wraparound_keeps_newest_in_order() -> None:
    ring = KlineRing(4, MIN)
    for i in range(11):
        ring.apply(kl(i))
    assert len(ring) == 4
    assert ring.last_n(4)[CLOSE].tolist() == [107.0, 108.0, 109.0, 110.0]
    assert ring.last_n(2)[CLOSE].tolist() == [109.0, 110.0]
    assert ring.last_n(4)[OPEN_TIME].tolist() == [float(T0 + i * MIN) for i in range(7, 11)]


def test_duplicate_and_out_of_order_rejected_and_counted() -> None:
    ring = KlineRing(8, MIN)
    for i in range(5):
        ring.apply(kl(i))
    assert ring.apply(kl(4, close=999.0)) is Outcome.DUPLICATE
    assert ring.apply(kl(2)) is Outcome.OUT_OF_ORDER
    assert (ring.duplicates, ring.out_of_order) == (1, 1)
    assert ring.last_n(8)[CLOSE].tolist() == [100.0, 101.0, 102.0, 103.0, 104.0]


def test_gap_is_appended_and_reported() -> None:
    ring = KlineRing(8, MIN)
    ring.apply(kl(0))
    assert ring.apply(kl(3)) is Outcome.GAP
    assert ring.gaps == 1
    assert ring.last_gap == (T0 + MIN, T0 + 2 * MIN)  # what to backfill
    assert len(ring) == 2


def test_open_kline_replaced_in_place_then_closed() -> None:
    ring = KlineRing(8, MIN)
    ring.apply(kl(0))
    assert ring.apply(kl(1, closed=False, close=1.0)) is Outcome.OPENED
    assert ring.apply(kl(1, closed=False, close=2.0)) is Outcome.REPLACED_OPEN
    assert ring.forming is not None and ring.forming.close == 2.0
    assert len(ring) == 1  # the forming kline is not in the closed history
    assert ring.apply(kl(0, closed=False)) is Outcome.STALE_OPEN  # already closed
    assert ring.apply(kl(1, close=3.0)) is Outcome.APPENDED
    assert ring.forming is None
    assert ring.apply(kl(1, closed=False, close=9.0)) is Outcome.STALE_OPEN
    assert ring.stale_open == 2
    assert ring.last_n(5)[CLOSE].tolist() == [100.0, 3.0]


def test_backfill_fills_hole_in_order_without_duplicates() -> None:
    ring = KlineRing(10, MIN)
    for i in (0, 1, 5, 6):
        ring.apply(kl(i))
    before = ring.state().data
    added = ring.backfill([kl(4), kl(2), kl(3), kl(1, close=-1.0), kl(7, closed=False)])
    assert added == 3
    rows = ring.last_n(10)
    assert rows[CLOSE].tolist() == [100.0, 101.0, 102.0, 103.0, 104.0, 105.0, 106.0]  # ours won for i=1
    assert np.all(np.diff(rows[OPEN_TIME]) == MIN)
    assert ring.state().data is not before  # a fresh array: old snapshots stay intact
    assert ring.apply(kl(7)) is Outcome.APPENDED


def test_backfill_trims_to_capacity_and_appends_fast_path() -> None:
    ring = KlineRing(4, MIN)
    assert ring.backfill(kl(i) for i in range(6)) == 6  # empty ring: plain appends
    assert ring.last_n(4)[CLOSE].tolist() == [102.0, 103.0, 104.0, 105.0]
    ring2 = KlineRing(4, MIN)
    for i in (3, 4, 5):
        ring2.apply(kl(i))
    assert ring2.backfill([kl(0), kl(1), kl(2)]) == 1  # only kl(2) fits
    assert ring2.last_n(4)[CLOSE].tolist() == [102.0, 103.0, 104.0, 105.0]
    assert ring2.backfill([]) == 0


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError):
        KlineRing(0, MIN)
