"""Outcome labels: the horizon's edges (a hit on its last bar counts, one bar later does not), unresolved at the end
of the data and through gaps (never a miss), the drawdown before the hit, and agreement with a plain loop on
real klines."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cryptoscan.backtest.frame import ScoredBars
from cryptoscan.backtest.history import History, freqtrade_json_bars
from cryptoscan.backtest.labels import HIT, MISS, UNRESOLVED, label, label_symbol

H = 3_600_000
T0 = 1_609_459_200_000  # 2021-01-01
DATA = Path("/work/shared/data/binance/klines/freqtrade_json_1h_2021H1")


def flat_bars(n: int, price: float = 100.0) -> np.ndarray:
    """``n`` 1h bars that never move 0.5 % from ``price``; tests poke highs and lows into them."""
    b = np.full((9, n), np.nan)
    b[0] = T0 + np.arange(n) * H
    b[1] = b[4] = price
    b[2] = price * 1.005
    b[3] = price * 0.995
    b[5] = 1.0
    return b


def one(bars: np.ndarray, j: int, entry: float = 100.0, horizons_h: tuple[int, ...] = (4, 24)) -> tuple:
    lab = label_symbol(bars, H, np.array([j]), np.array([entry]), target_pct=7.5,
                       horizons_ms=tuple(h * H for h in horizons_h))  # fmt: skip
    return lab, tuple(int(x) for x in lab.hit[:, 0])


def test_hit_on_the_last_bar_of_the_horizon_counts() -> None:
    b = flat_bars(40)
    b[2, 4] = 107.5  # bar 4: the 4th bar after the scored bar 0, closing exactly at decision + 4 h
    lab, (h4, h24) = one(b, 0)
    assert (h4, h24) == (HIT, HIT)
    assert lab.time_to_hit_ms[0] == 4 * H
    assert lab.max_gain_pct[0] == pytest.approx(7.5)


def test_hit_one_bar_after_the_horizon_is_a_miss_at_4h() -> None:
    b = flat_bars(40)
    b[2, 5] = 110.0  # bar 5 closes at decision + 5 h
    lab, (h4, h24) = one(b, 0)
    assert (h4, h24) == (MISS, HIT)
    assert lab.time_to_hit_ms[0] == 5 * H


def test_the_first_bar_after_the_decision_is_inside_and_the_scored_bar_is_not() -> None:
    b = flat_bars(40)
    b[2, 0] = 200.0  # the scored bar itself: known at the decision, not an outcome
    assert one(b, 0)[1] == (MISS, MISS)
    b[2, 1] = 107.6
    lab, hits = one(b, 0)
    assert hits == (HIT, HIT) and lab.time_to_hit_ms[0] == H


def test_intrabar_high_counts_even_when_the_close_does_not() -> None:
    b = flat_bars(40)
    b[2, 2] = 108.0
    assert b[4, 2] == 100.0
    assert one(b, 0)[1] == (HIT, HIT)


def test_unresolved_at_the_end_of_data_never_a_miss() -> None:
    b = flat_bars(30)
    _, hits = one(b, 20)  # 9 bars left: 4 h complete (miss), 24 h runs past the end
    assert hits == (MISS, UNRESOLVED)
    lab, hits = one(b, 27)  # 2 bars left
    assert hits == (UNRESOLVED, UNRESOLVED)
    assert np.isnan(lab.max_gain_pct[0]) and np.isnan(lab.max_drawdown_pct_before_hit[0])
    assert lab.time_to_hit_ms[0] == -1
    b[2, 29] = 120.0  # a hit inside the data is a hit, even if the horizon runs past the end
    assert one(b, 27)[1] == (HIT, HIT)
    assert one(b, 29)[1] == (UNRESOLVED, UNRESOLVED)  # the last bar: nothing after it


def test_a_gap_in_the_horizon_leaves_it_unresolved_unless_it_hit() -> None:
    b = np.delete(flat_bars(40), 3, axis=1)  # the bar opening at T0 + 3 h is missing
    assert one(b, 0)[1] == (UNRESOLVED, UNRESOLVED)
    b[2, 3] = 110.0  # now index 3 is the bar at T0 + 4 h: inside the 4 h horizon of bar 0
    lab, hits = one(b, 0)
    assert hits == (HIT, HIT) and lab.time_to_hit_ms[0] == 4 * H


def test_drawdown_is_measured_before_the_hit_with_the_hit_bar_included() -> None:
    b = flat_bars(40)
    b[3, 2] = 95.0  # dips 5 % first
    b[2, 3] = 108.0  # hits on bar 3, whose own low is 94 (order inside the bar unknown: counted)
    b[3, 3] = 94.0
    b[3, 6] = 80.0  # a crash after the hit is not a drawdown before it
    lab, hits = one(b, 0)
    assert hits == (HIT, HIT)
    assert lab.max_drawdown_pct_before_hit[0] == pytest.approx(-6.0)
    assert lab.max_gain_pct[0] == pytest.approx(8.0)
    b[2, 3] = 100.5  # no hit: the drawdown is over the whole 24 h
    lab, hits = one(b, 0)
    assert hits == (MISS, MISS)
    assert lab.max_drawdown_pct_before_hit[0] == pytest.approx(-20.0)
    assert lab.time_to_hit_ms[0] == -1


def test_drawdown_is_zero_when_price_never_goes_below_entry() -> None:
    b = flat_bars(40)
    lab, _ = one(b, 0, entry=90.0)  # entry 90, lows 99.5: hit 7.5 % = 96.75 on the first bar
    assert lab.max_drawdown_pct_before_hit[0] == 0.0 and lab.time_to_hit_ms[0] == H


def test_bad_rows_are_unresolved_not_errors() -> None:
    b = flat_bars(40)
    lab = label_symbol(b, H, np.array([0, -1, 99, 0, 0]), np.array([100.0, 100.0, 100.0, np.nan, 0.0]))
    assert lab.hit[:, 0].tolist() == [MISS, MISS]
    assert (lab.hit[:, 1:] == UNRESOLVED).all()


def test_horizon_must_be_whole_bars() -> None:
    hist = History("spot", "1h", {"AUSDT": flat_bars(10)})
    with pytest.raises(ValueError, match="whole number"):
        label(hist, _scored(["AUSDT"], [0], [0], [100.0]), horizons_h=(1.5,))


def _scored(symbols: list[str], sym: list[int], j: list[int], close: list[float]) -> ScoredBars:
    n = len(sym)
    z = np.zeros(n)
    return ScoredBars(symbols=symbols, time_ms=np.zeros(n, np.int64), symbol_idx=np.array(sym, np.int32),
                      bar_index=np.array(j, np.int32), close=np.array(close), momentum=z, level=np.zeros(n, np.int8),
                      probability=z, composite=z, eligible=np.ones(n, np.bool_), quote_volume_24h=z)  # fmt: skip


def test_label_maps_rows_to_their_symbol() -> None:
    a, b = flat_bars(40), flat_bars(40, price=10.0)
    b[2, 2] = 11.0
    hist = History("spot", "1h", {"AUSDT": a, "BUSDT": b})
    scored = _scored(["BUSDT", "AUSDT", "CUSDT"], [1, 0, 1, 2], [0, 0, 30, 0], [100.0, 10.0, 100.0, 1.0])
    lab = label(hist, scored)
    assert lab.hit_4h.tolist() == [MISS, HIT, MISS, UNRESOLVED]  # CUSDT: not in the history
    assert lab.hit_24h.tolist() == [MISS, HIT, UNRESOLVED, UNRESOLVED]


def test_agrees_with_a_plain_loop_on_real_klines() -> None:
    bars = freqtrade_json_bars(DATA / "CHZ_USDT-1h.json")[:, :1500]
    rng = np.random.default_rng(3)
    j = np.r_[rng.integers(0, bars.shape[1], 300), 970, 980, 986]  # the file lacks the bar after index 987
    entry = bars[4, j]
    lab = label_symbol(bars, H, j, entry, horizons_ms=(4 * H, 24 * H))
    gaps = 0
    for i, (jj, e) in enumerate(zip(j.tolist(), entry.tolist(), strict=True)):
        t = bars[0, jj] + H  # the decision: the scored bar's close
        for h, hours in enumerate((4, 24)):
            inside = (bars[0] >= t) & (bars[0] + H <= t + hours * H)
            window = bars[2, inside]
            want = HIT if (window >= e * 1.075).any() else MISS if window.size == hours else UNRESOLVED
            assert lab.hit[h, i] == want
        inside = (bars[0] >= t) & (bars[0] + H <= t + 24 * H)
        if inside.sum() == 24:
            assert lab.max_gain_pct[i] == pytest.approx((bars[2, inside].max() / e - 1) * 100)
        else:
            gaps += jj + 24 < bars.shape[1]
            assert np.isnan(lab.max_gain_pct[i])
    assert gaps >= 3
    assert (lab.hit[1] == HIT).sum() > 20 and (lab.hit[1] == MISS).sum() > 20  # both outcomes exercised
