"""Hand-computed cases: volume spike, velocity, breakout and resistance, realized volatility, flat RSI, MACD
cross age and its warm-up gate, NaN until each value is ready, parameters."""

from __future__ import annotations

import math

import numpy as np
import pytest
import talib
from indicator_driver import random_walk

from cryptoscan.indicators import NO_CROSS, IndicatorBank, IndicatorParams, IndicatorValues
from cryptoscan.indicators.values import FIELDS

HOUR = 3_600_000
T0 = 1_700_000_000_000 - 1_700_000_000_000 % HOUR  # an hour boundary
ROW = np.array([0])


def one(x: float) -> np.ndarray:
    return np.array([x], dtype=np.float64)


class Row:
    """One row of a bank, fed bar by bar; bar times advance by the interval from an hour boundary."""

    def __init__(self, **params: object) -> None:
        self.p = IndicatorParams(**params)  # type: ignore[arg-type]
        self.bank = IndicatorBank(1, self.p)
        self.t = T0

    def bar(
        self, close: float, high: float | None = None, volume: float = 1.0, low: float | None = None
    ) -> tuple[np.ndarray, ...]:
        h = close if high is None else high
        lo = close if low is None else low
        return ROW, np.array([self.t]), one(close), one(h), one(lo), one(close), one(volume)

    def add(self, close: float, high: float | None = None, volume: float = 1.0) -> IndicatorValues:
        self.bank.update(*self.bar(close, high, volume))
        self.t += self.p.interval_ms
        return self.bank.values()

    def peek(self, close: float, high: float | None = None, volume: float = 1.0) -> IndicatorValues:
        return self.bank.peek(*self.bar(close, high, volume))


def test_volume_spike() -> None:
    row = Row(interval="1h", volume_lookback=3)
    got = [row.add(10.0, volume=v).volume_spike[0] for v in (1.0, 2.0, 3.0, 4.0, 0.0, 0.0, 0.0)]
    assert np.isnan(got[:3]).all()
    assert got[3:] == [200.0, 0.0, 0.0, 0.0]  # 4 / mean(1, 2, 3); then zero volumes
    assert row.peek(10.0, volume=5.0).volume_spike[0] == 0.0  # previous mean 0 -> 0, not inf
    assert row.add(10.0, volume=6.0).volume_spike[0] == 0.0
    assert row.peek(10.0, volume=1.0).volume_spike[0] == pytest.approx(50.0)  # 1 / mean(0, 0, 6)


@pytest.mark.parametrize("interval", ["1h", "4h", "1d"])
def test_velocity_one_bar_back_on_hourly_and_longer(interval: str) -> None:
    row = Row(interval=interval)
    assert row.p.velocity_bars == 1
    assert np.isnan(row.add(100.0).velocity_1h[0])
    assert row.add(110.0).velocity_1h[0] == pytest.approx(10.0, rel=1e-12)
    assert row.add(99.0).velocity_1h[0] == pytest.approx(-10.0, rel=1e-12)


def test_velocity_one_minute_looks_60_bars_back() -> None:
    row = Row(interval="1m")
    closes = [100.0 + i for i in range(60)]
    got = [row.add(c).velocity_1h[0] for c in closes]
    assert np.isnan(got).all()  # fewer than 60 previous bars
    assert row.peek(103.0).velocity_1h[0] == pytest.approx(3.0, rel=1e-12)  # against bar 0 (100)
    assert row.add(202.0).velocity_1h[0] == pytest.approx(102.0, rel=1e-12)
    assert row.add(202.0).velocity_1h[0] == pytest.approx(100.0, rel=1e-12)  # against bar 1 (101)


def breakout_row() -> Row:
    """1h bars: high_n over 3 bars, resistance from the 200 high of bar 0; previous volumes 100."""
    row = Row(interval="1h", volume_lookback=3, breakout_lookback=3)
    row.add(150.0, high=200.0, volume=100.0)
    for h in (100.0, 101.0, 102.0):
        row.add(h - 1.0, high=h, volume=100.0)
    return row


def test_breakout_around_high_n_and_volume_confirmation() -> None:
    row = breakout_row()
    v = row.peek(101.99, volume=500.0)
    assert (v.high_n[0], v.resistance[0], v.breakout[0]) == (102.0, 200.0, 0.0)  # just below
    assert row.peek(102.0, volume=500.0).breakout[0] == 0.0  # at high_n
    above = 102.0 * 1.01  # 1 % above
    assert row.peek(above, volume=149.99).breakout[0] == pytest.approx(2.5, rel=1e-9)  # 5 x 1 % x 0.5
    assert row.peek(above, volume=150.0).volume_spike[0] == 150.0
    assert row.peek(above, volume=150.0).breakout[0] == pytest.approx(5.0, rel=1e-9)  # confirmed
    pct = (210.0 / 102.0 - 1.0) * 100.0  # above resistance too: +5
    assert row.peek(210.0, volume=150.0).breakout[0] == pytest.approx(5.0 * pct + 5.0, rel=1e-9)
    assert row.peek(210.0, volume=100.0).breakout[0] == pytest.approx((5.0 * pct + 5.0) * 0.5, rel=1e-9)
    assert row.peek(200.0, volume=150.0).breakout[0] == pytest.approx(5.0 * (200 / 102 - 1) * 100, rel=1e-9)


def test_breakout_not_ready_before_n_bars() -> None:
    row = Row(interval="1h", breakout_lookback=3)
    got = [row.add(10.0 + i) for i in range(4)]
    assert all(np.isnan(v.high_n[0]) and np.isnan(v.breakout[0]) for v in got[:3])
    assert got[3].high_n[0] == 12.0 and got[3].breakout[0] > 0.0


def test_resistance_hourly_drops_the_25th_bucket() -> None:
    row = breakout_row()  # bars 0..3; on 1h each bar is its own bucket
    for _ in range(20):
        row.add(99.0, high=100.0)
    assert row.bank.bars[0] == 24
    assert row.peek(99.0).resistance[0] == 200.0  # buckets 0..23: bar 0 still in
    row.add(99.0, high=100.0)
    assert row.peek(99.0).resistance[0] == 102.0  # buckets 1..24


def test_resistance_one_minute_buckets_exclude_the_current_hour() -> None:
    row = Row(interval="1m")
    first = [row.add(9.0, high=15.0 if i == 30 else 10.0) for i in range(60)]
    assert all(np.isnan(v.resistance[0]) for v in first)  # no hour completed yet
    assert row.peek(9.0, high=50.0).resistance[0] == 15.0  # first bar of hour 1 completes hour 0
    for _ in range(60):
        assert row.add(9.0, high=20.0).resistance[0] == 15.0  # hour 1's 20 is not completed yet
    assert row.add(9.0, high=12.0).resistance[0] == 20.0  # hour 2 begins


def test_resistance_window_and_skipped_hours() -> None:
    row = Row(interval="1m", resistance_hours=2)
    for hour_high in (30.0, 20.0, 10.0):
        for _ in range(60):
            row.add(5.0, high=hour_high)
    assert row.peek(5.0).resistance[0] == 20.0  # last 2 completed hours: 20 and 10
    row.t += 5 * HOUR  # five hours without a bar: only hours that had bars are kept
    assert row.add(5.0, high=1.0).resistance[0] == 20.0
    assert row.add(5.0, high=1.0).resistance[0] == 20.0


def test_resistance_min_hours() -> None:
    row = Row(interval="1h", resistance_min_hours=3)
    got = [row.add(10.0, high=10.0 + i).resistance[0] for i in range(5)]
    assert np.isnan(got[:3]).all() and got[3:] == [12.0, 13.0]


def test_realized_volatility_partial_and_full_window() -> None:
    row = Row(interval="1h", volatility_min_returns=5)  # W = 24, ready at min(24, 5) = 5 returns
    returns = [0.01 if i % 2 == 0 else -0.01 for i in range(39)] + [0.02] * 6
    closes = 100.0 * np.exp(np.concatenate(([0.0], np.cumsum(returns))))
    got = [row.add(c).volatility_24h[0] for c in closes]
    assert np.isnan(got[:5]).all()
    assert got[5] == pytest.approx(math.sqrt(5 * 1e-4 * 24 / 5) * 100, rel=1e-9)  # partial, scaled to 24 h
    assert got[39] == pytest.approx(math.sqrt(24 * 1e-4) * 100, rel=1e-9)
    assert got[45] == pytest.approx(math.sqrt(18 * 1e-4 + 6 * 4e-4) * 100, rel=1e-9)  # 18 of 1 %, 6 of 2 %


def test_realized_volatility_default_needs_60_returns_and_daily_is_one_return() -> None:
    row = Row(interval="1m")
    got = [row.add(100.0 * (1.001 if i % 2 else 1.0)).volatility_24h[0] for i in range(62)]
    assert np.isnan(got[:60]).all() and not np.isnan(got[60:]).any()
    assert got[60] == pytest.approx(math.sqrt(60 * math.log(1.001) ** 2 * 1440 / 60) * 100, rel=1e-9)
    daily = Row(interval="1d")
    assert daily.p.volatility_window == 1
    daily.add(100.0)
    assert daily.add(110.0).volatility_24h[0] == pytest.approx(math.log(1.1) * 100, rel=1e-12)


def test_realized_volatility_recovers_from_a_huge_return() -> None:
    """A 1e6x jump then a calm day: the running sum re-adds its ring, so the result is the calm day's."""
    row = Row(interval="1h", volatility_min_returns=1)
    closes = [1.0, 1e6] + [1e6 * (1.0 + 1e-7 * (i % 2)) for i in range(60)]
    got = [row.add(c).volatility_24h[0] for c in closes]
    assert got[-1] == pytest.approx(math.sqrt(24 * math.log(1.0 + 1e-7) ** 2) * 100, rel=1e-6)


def test_realized_volatility_running_sums_recover_in_every_row_whatever_rows_commit() -> None:
    """50 rows, each with a 1e6x jump at its own bar, committed in random subsets and all together: once the
    jump has left the window and the head has come round, each running sum equals its ring's sum again."""
    rng = np.random.default_rng(9)
    p = IndicatorParams(interval="1h")  # W = 24 bars
    n, bars = 50, 200
    closes = np.exp(np.cumsum(rng.normal(0, 1e-4, (n, bars)), axis=1))
    for r in range(n):
        closes[r, 20 + r :] *= 1e6
    for subsets in (False, True):
        bank = IndicatorBank(n, p)
        for j in range(bars):
            rows = np.arange(n)
            if subsets:  # the same bars, rows committed in two shuffled halves
                rows = rng.permutation(n)
            for part in (np.sort(rows[: n // 2]), np.sort(rows[n // 2 :])) if subsets else (rows,):
                t = T0 + j * p.interval_ms
                c = closes[part, j]
                bank.update(part, np.full(part.size, t), c, c, c, c, np.ones(part.size))
        vol = bank.volatility
        truth = vol.ring.data.sum(axis=0)
        np.testing.assert_allclose(vol.total, truth, rtol=1e-9, atol=0)
        assert truth.min() < 1e-6  # the window holds only calm returns: without the re-add the error would be ~1e-14


def test_flat_rsi_is_50_where_talib_says_0() -> None:
    row = Row(interval="1h")
    got = [row.add(20.0) for _ in range(25)]
    assert all(np.isnan(v.rsi14[0]) for v in got[:14]) and all(np.isnan(v.rsi21[0]) for v in got[:21])
    assert [v.rsi14[0] for v in got[14:]] == [50.0] * 11 and got[24].rsi21[0] == 50.0
    assert talib.RSI(np.full(25, 20.0), 14)[14] == 0.0  # the documented difference
    assert row.add(21.0).rsi14[0] == 100.0  # the first gain after a flat stretch


def test_rsi_on_tiny_prices() -> None:
    """Moves of 1e-9 on a 1e-4 coin: a real RSI (old TA-Lib releases returned 0 below a 1e-8 sum)."""
    closes = 1e-4 + 1e-9 * np.cumsum(np.where(np.arange(60) % 2 == 0, 2.0, -1.0))
    row = Row(interval="1h")
    ours = np.array([row.add(c).rsi14[0] for c in closes])
    assert all(60.0 < r < 72.0 for r in ours[14:])  # gains twice the losses: about 66.7
    np.testing.assert_allclose(ours[14:], talib.RSI(closes, 14)[14:], rtol=0, atol=1e-9)


def cross_series() -> tuple[np.ndarray, int]:
    """Closes that fall ever faster for 200 bars, then jump: MACD 3/10/16 crosses above its signal at the jump."""
    closes = np.concatenate([100.0 - 0.0005 * np.arange(200) ** 2, np.full(6, 90.0)])
    _, _, hist = talib.MACD(closes, 3, 10, 16)
    assert hist[199] <= 0.0 < hist[200] and (hist[200:] > 0).all()  # the series does what it says
    return closes, 200


@pytest.mark.parametrize("warmup", [0, 150, 201])
def test_cross_age_counts_from_the_cross(warmup: int) -> None:
    closes, jump = cross_series()  # the cross is bar 200: the row has 201 bars then
    row = Row(interval="1h", macd_warmup=warmup)
    ages = [row.add(c).macd_cross_age[0] for c in closes[:jump]]
    assert ages == [NO_CROSS] * jump  # a steady fall never crosses
    assert row.peek(closes[jump]).macd_cross_age[0] == 0
    ages = [row.add(c).macd_cross_age[0] for c in closes[jump:]]
    assert ages == [0, 1, 2, 3, 4, 5]


def test_cross_from_an_exactly_zero_histogram_counts() -> None:
    """A flat series has hist exactly 0 (not below): a rise from there is a cross (hist_prev <= 0)."""
    row = Row(interval="1h")
    flat = [row.add(50.0) for _ in range(160)]
    assert flat[-1].macd_hist[0] == 0.0 and flat[-1].macd_cross_age[0] == NO_CROSS
    assert row.add(51.0).macd_cross_age[0] == 0
    assert row.add(51.0).macd_cross_age[0] == 1


def test_cross_before_the_warmup_never_counts() -> None:
    closes, jump = cross_series()
    row = Row(interval="1h", macd_warmup=jump + 2)  # the cross bar is the row's 201st: one short
    ages = [row.add(c).macd_cross_age[0] for c in closes]
    assert ages == [NO_CROSS] * len(closes)


def test_each_value_is_nan_until_ready_then_never() -> None:
    bars = random_walk(1, 260, 10.0, interval_ms=60_000)
    bank = IndicatorBank(1, IndicatorParams(interval="1m"))
    first_ready: dict[str, int] = {}
    for t, b in enumerate(bars):
        bank.update(ROW, b[:1].astype(np.int64), *(b[j : j + 1] for j in range(1, 6)))
        v = bank.values()
        for k in FIELDS:
            x = getattr(v, k)[0]
            ready = x != NO_CROSS if k == "macd_cross_age" else not np.isnan(x)
            if k in first_ready:
                assert ready, (k, t)
            elif ready:
                first_ready[k] = t
    expected = {"rsi14": 14, "rsi21": 21, "macd": 9, "macd_signal": 24, "macd_hist": 24, "macd_classic": 25,
                "macd_classic_signal": 33, "macd_classic_hist": 33, "volume_spike": 20, "velocity_1h": 60,
                "high_n": 20, "resistance": 60, "breakout": 20, "volatility_24h": 60, "atr": 14,
                "close": 0}  # fmt: skip
    cross = first_ready.pop("macd_cross_age", None)
    assert first_ready == expected
    assert cross is None or cross >= 149  # crosses count from the 150th bar


@pytest.mark.parametrize(
    ("interval", "k", "w"), [("1m", 60, 1440), ("5m", 12, 288), ("15m", 4, 96), ("1h", 1, 24), ("4h", 1, 6)]
)
def test_params_derive_bar_counts(interval: str, k: int, w: int) -> None:
    p = IndicatorParams(interval=interval)
    assert (p.velocity_bars, p.volatility_window) == (k, w)


BAD_PARAMS = [{"interval": "2m"}, {"macd": (10, 3, 16)}, {"macd_classic": (12, 26, 0)}, {"volume_lookback": 0},
              {"resistance_min_hours": 25}, {"macd_warmup": -1}]  # fmt: skip


@pytest.mark.parametrize("bad", BAD_PARAMS)
def test_params_reject_nonsense(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        IndicatorParams(**bad)  # type: ignore[arg-type]


def test_bank_rejects_malformed_input() -> None:
    bank = IndicatorBank(4)
    with pytest.raises(ValueError):
        bank.update(np.zeros((2, 2), dtype=np.intp), *([np.zeros(2)] * 6))
    with pytest.raises(ValueError):
        z = np.zeros((2, 3))
        bank.update_many(np.arange(2), z, z, z, z, z, np.zeros((2, 4)))
    with pytest.raises(IndexError):
        bank.update(np.arange(3, 5), *([np.zeros(2)] * 6))
