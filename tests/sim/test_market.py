"""The market generator: deterministic, Binance-shaped, with the statistics the scanner is tested against."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from cryptoscan.sim.market import MarketModel
from cryptoscan.venues.binance.spec import INTERVAL_MS, Venue, is_leveraged_token

START = 1_700_000_000_000
NOW = START + 5 * 3_600_000 + 12_345


@pytest.fixture(scope="module")
def model() -> MarketModel:
    return MarketModel(7, START)


def test_same_seed_same_market_other_seed_other_market(model: MarketModel) -> None:
    again = MarketModel(7, START)
    other = MarketModel(8, START)
    rows = model.rest_klines(Venue.SPOT, "SOLUSDT", "5m", None, None, 50, NOW)
    assert rows == again.rest_klines(Venue.SPOT, "SOLUSDT", "5m", None, None, 50, NOW)
    assert [i.symbol for i in model.symbols(Venue.SPOT)] == [i.symbol for i in again.symbols(Venue.SPOT)]
    assert rows != other.rest_klines(Venue.SPOT, "SOLUSDT", "5m", None, None, 50, NOW)


def test_universe_counts_and_extras(model: MarketModel) -> None:
    spot = model.symbols(Venue.SPOT)
    fut = model.symbols(Venue.FUTURES)
    usdt_spot = [i for i in spot if i.quote == "USDT" and i.status == "TRADING" and not is_leveraged_token(i.base)]
    perps = [i for i in fut if i.quote == "USDT" and i.status == "TRADING" and i.contract_type == "PERPETUAL"]
    assert len(usdt_spot) >= 400 and len(perps) >= 200
    assert {"ETHBTC", "BTCFDUSD", "BTCEUR", "BTCUPUSDT", "ETHDOWNUSDT"} <= {i.symbol for i in spot}
    assert any(i.status == "BREAK" for i in spot)
    assert any(i.status != "TRADING" for i in fut)
    assert any(i.contract_type != "PERPETUAL" for i in fut)
    shared = {i.base for i in perps} & {i.base for i in usdt_spot}
    assert len(shared) >= 0.85 * len(perps)
    assert model.info(Venue.SPOT, "btcusdt") is not None and model.info(Venue.SPOT, "NOPEUSDT") is None


def test_price_and_volume_ranges(model: MarketModel) -> None:
    tickers = model.rest_ticker_24h(Venue.SPOT, None, NOW)
    assert isinstance(tickers, list)
    prices = {t["symbol"]: float(str(t["lastPrice"])) for t in tickers}
    qv = [float(str(t["quoteVolume"])) for t in tickers if str(t["symbol"]).endswith("USDT")]
    assert 40_000 < prices["BTCUSDT"] < 100_000 and 2000 < prices["ETHUSDT"] < 5000
    assert 0.2 < prices["XRPUSDT"] < 1.5
    assert min(prices.values()) < 1e-2 and max(prices.values()) > 1e4
    assert min(p for sym, p in prices.items() if str(sym).endswith("USDT")) > 5e-5
    assert min(qv) > 2e4 and max(qv) < 2e10 and np.median(qv) > 3e5


def test_exchange_info_shape(model: MarketModel) -> None:
    spot = model.exchange_info(Venue.SPOT, NOW)
    fut = model.exchange_info(Venue.FUTURES, NOW)
    s0 = next(s for s in spot["symbols"] if s["symbol"] == "BTCUSDT")  # type: ignore[attr-defined]
    kinds = {f["filterType"] for f in s0["filters"]}
    assert {"PRICE_FILTER", "LOT_SIZE", "NOTIONAL"} <= kinds
    f0 = next(s for s in fut["symbols"] if s["symbol"] == "BTCUSDT")  # type: ignore[attr-defined]
    assert f0["contractType"] == "PERPETUAL" and f0["status"] == "TRADING"
    assert "MIN_NOTIONAL" in {f["filterType"] for f in f0["filters"]}
    assert spot["rateLimits"][0]["limit"] == 6000 and fut["rateLimits"][0]["limit"] == 2400  # type: ignore[index]


@pytest.mark.parametrize("interval", list(INTERVAL_MS))
def test_rest_history_depth_and_contiguity(model: MarketModel, interval: str) -> None:
    ims = INTERVAL_MS[interval]
    rows = model.rest_klines(Venue.FUTURES, "ETHUSDT", interval, None, None, 1001, NOW)
    assert len(rows) == 1001  # 1000 closed + the open one
    opens = [int(r[0]) for r in rows]  # type: ignore[call-overload]
    assert all(b - a == ims for a, b in itertools.pairwise(opens))
    assert opens[-1] <= NOW < opens[-1] + ims
    for r in rows:
        o, h, lo, c = (float(str(x)) for x in r[1:5])
        assert lo <= min(o, c) <= max(o, c) <= h and float(r[5]) > 0  # type: ignore[arg-type]
    again = model.rest_klines(Venue.FUTURES, "ETHUSDT", interval, opens[0], None, 10, NOW)
    assert again == rows[:10]


def test_hour_rows_are_the_aggregation_of_minute_rows(model: MarketModel) -> None:
    hours = model.rest_klines(Venue.SPOT, "BNBUSDT", "1h", None, None, 3, NOW)[:-1]
    for h in hours:
        mins = model.rest_klines(Venue.SPOT, "BNBUSDT", "1m", int(h[0]), None, 60, NOW)  # type: ignore[call-overload]
        assert len(mins) == 60
        assert h[1] == mins[0][1] and h[4] == mins[-1][4]
        assert float(h[2]) == max(float(m[2]) for m in mins)  # type: ignore[arg-type]
        assert float(h[3]) == min(float(m[3]) for m in mins)  # type: ignore[arg-type]
        assert h[8] == sum(int(m[8]) for m in mins)  # type: ignore[call-overload]
        assert math.isclose(float(str(h[5])), sum(float(str(m[5])) for m in mins), rel_tol=1e-12)
    day = model.rest_klines(Venue.SPOT, "BNBUSDT", "1d", None, None, 2, NOW)[0]
    fours = model.rest_klines(Venue.SPOT, "BNBUSDT", "4h", int(day[0]), None, 6, NOW)  # type: ignore[call-overload]
    assert day[8] == sum(int(r[8]) for r in fours) and day[1] == fours[0][1] and day[4] == fours[-1][4]  # type: ignore[call-overload]


def test_days_join_exactly(model: MarketModel) -> None:
    s = model.series(Venue.SPOT, "DOGEUSDT")
    assert s is not None
    day0 = START // 86_400_000
    for d in range(day0 - 3, day0 + 1):
        assert model.day_bars(s, d).c[-1] == model.day_bars(s, d + 1).o[0]


def test_correlation_with_btc_is_positive_on_average(model: MarketModel) -> None:
    def rets(symbol: str) -> np.ndarray:
        rows = model.rest_klines(Venue.SPOT, symbol, "1h", None, None, 500, NOW)[:-1]
        c = np.array([float(r[4]) for r in rows])  # type: ignore[arg-type]
        return np.diff(np.log(c))

    btc = rets("BTCUSDT")
    corr = [float(np.corrcoef(btc, rets(i.symbol))[0, 1]) for i in model.symbols(Venue.SPOT)[1:40]
            if i.quote == "USDT" and i.status == "TRADING" and not is_leveraged_token(i.base)]
    assert np.mean(corr) > 0.2


def test_futures_track_spot_with_small_basis(model: MarketModel) -> None:
    spot = model.rest_klines(Venue.SPOT, "SOLUSDT", "1h", None, None, 200, NOW)
    fut = model.rest_klines(Venue.FUTURES, "SOLUSDT", "1h", None, None, 200, NOW)
    basis = [float(f[4]) / float(s[4]) - 1 for s, f in zip(spot, fut, strict=True)]  # type: ignore[arg-type]
    assert max(abs(b) for b in basis) < 0.005


def test_injected_burst_moves_price_with_volume_spike_and_keeps_history() -> None:
    m = MarketModel(11, START, n_spot=60, n_futures=30)
    before = m.rest_klines(Venue.SPOT, "LINKUSDT", "1m", None, None, 100, NOW)
    burst = m.inject_burst(Venue.SPOT, "LINKUSDT", 30.0, 3_600_000, NOW)
    assert burst.start_ms > NOW and burst.kind == "pump"
    after = m.rest_klines(Venue.SPOT, "LINKUSDT", "1m", None, None, 100, NOW)
    assert after == before  # history stays as it was
    later = burst.peak_ms + 1
    rows = m.rest_klines(Venue.SPOT, "LINKUSDT", "1m", burst.start_ms - 60 * 60_000, None, 121, later)
    start_close = float(str(rows[59][4]))
    peak_close = float(str(rows[-2][4]))
    assert 1.2 < peak_close / start_close < 1.4
    vol_before = np.mean([float(str(r[7])) for r in rows[:60]])
    vol_during = np.mean([float(str(r[7])) for r in rows[60:120]])
    assert vol_during > 3 * vol_before
    assert any(b.symbol == "LINKUSDT" and b.venue is Venue.FUTURES for b in m.bursts)


def test_planned_bursts_exist_and_move_prices(model: MarketModel) -> None:
    bursts = [b for b in model.bursts if b.start_ms < START - 2 * 86_400_000 and b.venue is Venue.SPOT]
    assert len(bursts) > 20
    assert {"pump", "dump"} == {b.kind for b in bursts}
    assert all(7.5 <= abs(b.pct) <= 40 for b in bursts)
    moves = []
    for b in bursts[:15]:
        rows = model.rest_klines(Venue.SPOT, b.symbol, "1m", b.start_ms, b.peak_ms - 1, 1000, NOW)
        moves.append(math.log(float(str(rows[-1][4])) / float(str(rows[0][1]))) / math.log1p(b.pct / 100))
    assert np.median(moves) > 0.6


def test_status_change_and_depth_and_premium(model: MarketModel) -> None:
    m = MarketModel(3, START, n_spot=40, n_futures=20)
    m.set_status(Venue.SPOT, "ETHUSDT", "BREAK")
    assert m.info(Venue.SPOT, "ETHUSDT").status == "BREAK"  # type: ignore[union-attr]
    d = m.rest_depth(Venue.SPOT, "BTCUSDT", 20, NOW)
    bids, asks = d["bids"], d["asks"]
    assert len(bids) == 20 == len(asks)  # type: ignore[arg-type]
    assert float(bids[0][0]) < float(asks[0][0])  # type: ignore[index]
    p = m.rest_premium_index("BTCUSDT", NOW)
    assert isinstance(p, dict) and abs(float(str(p["markPrice"])) / float(str(p["indexPrice"])) - 1) < 0.01
    assert int(str(p["nextFundingTime"])) % (8 * 3_600_000) == 0
