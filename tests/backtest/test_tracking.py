"""Live tracking of alerts against outcomes: the same labels as the backtest, resolved as horizons pass."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cryptoscan.backtest.history import freqtrade_json_bars
from cryptoscan.backtest.labels import label_symbol
from cryptoscan.backtest.tracking import HOUR_MS, Tracker
from cryptoscan.market.rings import CLOSE, HIGH, LOW, OPEN_TIME

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "binance" / "klines" / "freqtrade_json_1h_2021H1"


def feed(tr: Tracker, bars: np.ndarray, lo: int, hi: int, symbol: str = "SOLUSDT") -> None:
    for i in range(lo, hi):
        tr.on_kline("spot", symbol, int(bars[OPEN_TIME, i]), float(bars[HIGH, i]), float(bars[LOW, i]),
                    float(bars[CLOSE, i]))  # fmt: skip


def test_outcomes_equal_the_backtests_labels_on_real_bars() -> None:
    bars = freqtrade_json_bars(DATA / "SOL_USDT-1h.json")
    tr = Tracker("1h")
    picks = list(range(200, 2200, 97))
    for i in picks:  # an alert in the middle of bar i, at that bar's close price
        tr.on_alert(int(bars[OPEN_TIME, i]) + 1_800_000, "spot", "SOLUSDT", "FUERTE", float(bars[CLOSE, i]))
    got = []
    for i in range(150, 2300):
        feed(tr, bars, i, i + 1)
        got += tr.resolve(int(bars[OPEN_TIME, i]) + HOUR_MS)
    want = label_symbol(bars, HOUR_MS, np.array(picks), bars[CLOSE, picks], horizons_ms=(4 * HOUR_MS, 24 * HOUR_MS))
    for h_i, h in enumerate((4, 24)):
        mine = {o.ts_ms // HOUR_MS * HOUR_MS: o.hit for o in got if o.horizon_h == h}
        theirs = {int(bars[OPEN_TIME, i]): int(want.hit[h_i, k]) for k, i in enumerate(picks)}
        assert mine == theirs
    assert sum(o.hit for o in got) > 0 and sum(1 - o.hit for o in got) > 0  # both outcomes occur in this data
    assert tr.waiting == 0 and tr.pending == {} and tr.bars == {}  # nothing kept once resolved


def test_a_horizon_resolves_only_when_its_last_bar_closed_and_a_hit_at_once() -> None:
    tr = Tracker("1h")
    t0 = 1_000 * HOUR_MS
    tr.on_alert(t0 + 60_000, "spot", "X", "ALTA", 100.0)
    rows = [(t0 + k * HOUR_MS, 101.0, 99.0, 100.0) for k in range(5)]  # decision bar + 4: no hit
    for t, h, lo, c in rows[:4]:
        tr.on_kline("spot", "X", t, h, lo, c)
    assert tr.resolve(t0 + 4 * HOUR_MS) == []  # the 4th bar of the horizon has not closed
    tr.on_kline("spot", "X", *rows[4])
    out = tr.resolve(t0 + 5 * HOUR_MS)
    assert [(o.horizon_h, o.hit) for o in out] == [(4, 0)]
    tr.on_kline("spot", "X", t0 + 5 * HOUR_MS, 107.5, 98.0, 106.0)  # exactly +7.5 % in hour 5 of 24
    out = tr.resolve(t0 + 6 * HOUR_MS)
    assert [(o.horizon_h, o.hit, o.time_to_hit_ms) for o in out] == [(24, 1, 5 * HOUR_MS)]
    assert out[0].max_drawdown_pct == pytest.approx(-2.0)  # the low of the hit bar counts (order unknown)


def test_a_gap_is_never_a_miss_and_limits_are_counted() -> None:
    tr = Tracker("1h", max_pending=1)
    t0 = 2_000 * HOUR_MS
    assert tr.on_alert(t0, "spot", "X", "FUERTE", 10.0)
    assert not tr.on_alert(t0, "spot", "Y", "FUERTE", 10.0) and tr.dropped == 1
    assert not Tracker("1h").on_alert(t0, "spot", "Z", "FUERTE", 0.0)  # no price, no outcome
    for k in (0, 1, 3, 4):  # hour 2 never arrives
        tr.on_kline("spot", "X", t0 + k * HOUR_MS, 10.1, 9.9, 10.0)
    assert tr.resolve(t0 + 6 * HOUR_MS) == []
    assert tr.resolve(t0 + 60 * HOUR_MS) == []  # given up after the grace day: unresolved, not a miss
    assert tr.waiting == 0


def test_precision_per_level_and_window() -> None:
    tr = Tracker("1h", horizons_h=(4,))
    now = 10_000 * HOUR_MS
    for d, hit in ((1, 107.6), (2, 101.0), (20, 108.0)):
        t = now - d * 24 * HOUR_MS
        tr.on_alert(t, "spot", f"P{d}", "FUERTE", 100.0)
        for k in range(5):
            tr.on_kline("spot", f"P{d}", t + k * HOUR_MS, hit if k == 2 else 100.5, 99.5, 100.0)
        tr.resolve(t + 5 * HOUR_MS)
    table = {(p.days, p.horizon_h): (p.alerts, p.hits) for p in tr.precision(now) if p.level == "FUERTE"}
    assert table == {(7, 4): (2, 1), (30, 4): (3, 2)}
