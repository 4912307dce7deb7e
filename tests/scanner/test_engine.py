"""The scanner engine: klines in, one vectorized pass out; bookkeeping of rows, pending bars and BTC correlation."""

from __future__ import annotations

import msgspec
import numpy as np
import pytest

from cryptoscan.config_scanner import ScannerConfig
from cryptoscan.events import Kline, MiniTicker
from cryptoscan.market.snapshot import KlineWindow
from cryptoscan.scanner.correlation import BtcCorrelation
from cryptoscan.scanner.engine import Scanner
from cryptoscan.scanner.levels import Level

MIN = 60_000
T0 = 1_700_000_040_000 // MIN * MIN


def kl(symbol: str, i: int, close: float, *, prev: float | None = None, volume: float = 10.0, closed: bool = True,
       venue: str = "spot", interval: str = "1m") -> Kline:  # fmt: skip
    t = T0 + i * MIN
    o = close if prev is None else prev
    return Kline(venue, symbol, interval, t, t + MIN - 1, o, max(o, close), min(o, close), close, volume,
                 volume * close, 5, volume / 2, volume * close / 2, closed, 0, 0, t + MIN, t + MIN)  # fmt: skip


def walk(n: int, seed: int, start: float = 1.0, sigma: float = 0.003) -> np.ndarray:
    return start * np.exp(np.cumsum(np.random.default_rng(seed).normal(0, sigma, n)))


def window(closes: np.ndarray, volumes: np.ndarray | None = None, first: int = 0) -> KlineWindow:
    n = closes.size
    rows = np.zeros((9, n))
    rows[0] = T0 + (first + np.arange(n)) * MIN
    rows[1] = np.r_[closes[0], closes[:-1]]
    rows[2], rows[3], rows[4] = np.maximum(rows[1], closes), np.minimum(rows[1], closes), closes
    rows[5] = volumes if volumes is not None else 10.0
    return KlineWindow(rows)


def feed(s: Scanner, symbol: str, closes: np.ndarray, volumes: np.ndarray | None = None, first: int = 0,
         venue: str = "spot") -> None:  # fmt: skip
    for j, c in enumerate(closes):
        prev = closes[j - 1] if j else c
        v = 10.0 if volumes is None else float(volumes[j])
        assert s.on_kline(kl(symbol, first + j, float(c), prev=float(prev), volume=v, venue=venue))


def test_routing_and_counters() -> None:
    s = Scanner(ScannerConfig(), capacity=8)
    s.add("spot", "AUSDT")
    assert not s.on_kline(kl("AUSDT", 0, 1.0, interval="5m"))  # another interval: not ours, not counted
    assert not s.on_kline(kl("ZUSDT", 0, 1.0)) and s.stats["unknown"] == 1
    assert not s.on_kline(kl("AUSDT", 0, 1.0, venue="futures"))  # same name, other venue: another pair
    assert s.on_kline(kl("AUSDT", 0, 1.0)) and s.on_kline(kl("AUSDT", 1, 1.1, closed=False))
    row = s.rows[("spot", "AUSDT")]
    assert s.has_open[row] and s.commit() == 1 and s.bank.bars[row] == 1
    assert s.has_open[row]  # the open bar (minute 1) is newer than the committed one
    assert not s.on_kline(kl("AUSDT", 0, 1.0)) and s.stats["duplicates"] == 1
    assert not s.on_kline(kl("AUSDT", 0, 1.0, closed=False)) and s.stats["stale_forming"] == 1
    s.on_kline(kl("AUSDT", 1, 1.2))
    s.commit()
    assert not s.has_open[row]  # its bar closed


def test_several_bars_of_one_row_in_one_pass_commit_in_order_and_gaps_are_counted() -> None:
    closes = walk(40, 1)
    a, b = Scanner(ScannerConfig(), capacity=4), Scanner(ScannerConfig(), capacity=4)
    a.add("spot", "AUSDT")
    b.add("spot", "AUSDT")
    feed(a, "AUSDT", closes)  # 40 bars before one pass: each new bar commits the waiting one, in order
    a.commit()
    assert a.bank.bars[0] == 40
    for j, c in enumerate(closes):  # the same bars, one pass each
        b.on_kline(kl("AUSDT", j, float(c), prev=float(closes[j - 1] if j else c)))
        b.commit()
    va, vb = a.bank.values(), b.bank.values()
    assert va.rsi14[0] == pytest.approx(vb.rsi14[0], abs=1e-12) and not np.isnan(va.rsi14[0])
    assert a.stats["gaps"] == 0
    a.on_kline(kl("AUSDT", 45, 1.0))  # 4 bars missing
    a.commit()
    assert a.stats["gaps"] == 1


def test_bars_waiting_for_a_pass_are_committed_not_dropped() -> None:
    s = Scanner(ScannerConfig(), capacity=2)  # one waiting bar per row: a second one commits the first
    s.add("spot", "AUSDT")
    feed(s, "AUSDT", walk(30, 2))
    assert s.pending == 1 and s.bank.bars[s.rows[("spot", "AUSDT")]] == 29
    assert not s.on_kline(kl("AUSDT", 29, 1.0)) and s.stats["duplicates"] == 1  # the waiting bar, again
    assert not s.on_kline(kl("AUSDT", 28, 1.0)) and s.stats["duplicates"] == 2  # an older one
    s.commit()
    assert s.bank.bars[s.rows[("spot", "AUSDT")]] == 30 and s.stats["closed"] == 30


def test_warm_equals_streaming_and_groups_rows_by_length() -> None:
    long, short = walk(200, 3), walk(120, 4, start=50.0)
    warm = Scanner(ScannerConfig(), capacity=4)
    assert warm.warm([("spot", "LONGUSDT", window(long)), ("futures", "SHORTUSDT", window(short, first=80)),
                      ("spot", "LONG2USDT", window(long * 2))]) == 520  # fmt: skip
    stream = Scanner(ScannerConfig(), capacity=4)
    for venue, name, closes, first in (("spot", "LONGUSDT", long, 0), ("futures", "SHORTUSDT", short, 80),
                                       ("spot", "LONG2USDT", long * 2, 0)):  # fmt: skip
        stream.add(venue, name)
        feed(stream, name, closes, first=first, venue=venue)
    stream.commit()
    w, st = warm.bank.values(), stream.bank.values()
    for name in ("rsi14", "rsi21", "macd", "macd_signal", "velocity_1h", "volume_spike"):
        for key in (("spot", "LONGUSDT"), ("futures", "SHORTUSDT"), ("spot", "LONG2USDT")):
            x, y = getattr(w, name)[warm.rows[key]], getattr(st, name)[stream.rows[key]]
            assert x == pytest.approx(y, abs=1e-9, nan_ok=True), (name, key)
    # Warming again with the same window adds nothing: only bars newer than the last committed one count.
    assert warm.warm([("spot", "LONGUSDT", window(long))]) == 0


def test_remove_frees_the_row_and_a_new_pair_starts_clean() -> None:
    s = Scanner(ScannerConfig(), capacity=1)
    s.add("spot", "AUSDT")
    feed(s, "AUSDT", walk(50, 5))
    s.on_kline(kl("AUSDT", 50, 1.0))  # pending, then discarded with the pair
    s.remove("spot", "AUSDT")
    assert s.pending == 0 and not s.live.any()
    row = s.add("spot", "BUSDT")
    assert row == 0 and s.bank.bars[0] == 0 and s.last_time[0] == -1
    with pytest.raises(RuntimeError, match="full"):
        s.add("spot", "CUSDT")


def test_btc_correlation_whichever_closes_first() -> None:
    rng = np.random.default_rng(6)
    btc = 30_000 * np.exp(np.cumsum(rng.normal(0, 0.002, 200)))
    noise = np.exp(np.cumsum(rng.normal(0, 0.002, 200)))
    s = Scanner(ScannerConfig(), capacity=8)
    for name in ("BTCUSDT", "TWINUSDT", "MIRRORUSDT", "NOISEUSDT"):
        s.add("spot", name)
    for j in range(200):
        pairs = [("TWINUSDT", btc[j] / 1000), ("MIRRORUSDT", 1000 / btc[j]), ("NOISEUSDT", noise[j])]
        if j % 2:  # BTC's bar first on odd minutes, last on even ones
            s.on_kline(kl("BTCUSDT", j, float(btc[j])))
        for name, c in pairs:
            s.on_kline(kl(name, j, float(c)))
            if j % 5 == 0:
                s.commit()  # passes in the middle of a minute's closes
        if not j % 2:
            s.on_kline(kl("BTCUSDT", j, float(btc[j])))
    s.commit()
    members = s.live & (s.venue == 0)
    corr = s.corr.correlations(s.btc_of, members)
    r = {name: corr[s.rows[("spot", name)]] for name in ("BTCUSDT", "TWINUSDT", "MIRRORUSDT", "NOISEUSDT")}
    assert r["BTCUSDT"] == pytest.approx(1.0) and r["TWINUSDT"] == pytest.approx(1.0, abs=1e-9)
    assert r["MIRRORUSDT"] < -0.99 and abs(r["NOISEUSDT"]) < 0.4


def test_warm_matches_a_shorter_history_against_btc_bar_by_bar() -> None:
    """A pair listed later than BTC (shorter history) is matched at each of its bars, as streaming would."""
    btc = walk(300, 8, start=30_000.0)
    twin = btc[100:] / 1000
    warm = Scanner(ScannerConfig(), capacity=4)
    warm.warm([("spot", "BTCUSDT", window(btc)), ("spot", "TWINUSDT", window(twin, first=100))])
    stream = Scanner(ScannerConfig(), capacity=4)
    stream.add("spot", "BTCUSDT")
    stream.add("spot", "TWINUSDT")
    for j in range(300):
        stream.on_kline(kl("BTCUSDT", j, float(btc[j]), prev=float(btc[j - 1] if j else btc[0])))
        if j >= 100:
            prev = twin[j - 101] if j > 100 else twin[0]
            stream.on_kline(kl("TWINUSDT", j, float(twin[j - 100]), prev=float(prev)))
        stream.commit()
    for s in (warm, stream):
        row = s.rows[("spot", "TWINUSDT")]
        assert s.corr.n_cov[row] == 199  # every bar after its first (which has no return)
        assert s.corr.correlations(s.btc_of, s.live)[row] == pytest.approx(1.0, abs=1e-3)
    assert warm.corr.cov[warm.rows[("spot", "TWINUSDT")]] == pytest.approx(
        stream.corr.cov[stream.rows[("spot", "TWINUSDT")]], rel=1e-12)


def test_correlation_is_unknown_until_enough_bars() -> None:
    c = BtcCorrelation(2, min_bars=5)
    rows = np.array([0, 1])
    for t in range(4):
        c.on_returns(rows, np.array([t, t]), np.array([0.01, 0.02]) * (-1) ** t)
        c.match_all(np.zeros(2, np.int64), np.ones(2, np.bool_))
    assert np.isnan(c.correlations(np.zeros(2, np.int64), np.ones(2, np.bool_))).all()
    assert c.n_cov.tolist() == [4, 4]  # matched every bar, still under min_bars


def test_a_pump_with_volume_ranks_above_quiet_pairs_and_reaches_media() -> None:
    cfg = ScannerConfig()
    s = Scanner(cfg, capacity=16)
    quiet = {f"Q{i}USDT": walk(300, 10 + i, start=2.0, sigma=0.002) for i in range(6)}
    base = walk(295, 99, start=2.0, sigma=0.002)
    pump = np.r_[base, base[-1] * np.cumprod(np.full(5, 1.01))]  # +5 % in 5 minutes ...
    vols = np.r_[np.full(295, 10.0), np.full(5, 100.0)]  # ... at 10x normal volume
    s.warm([("spot", name, window(c)) for name, c in quiet.items()] + [("spot", "PUMPUSDT", window(pump, vols))])
    for name in [*quiet, "PUMPUSDT"]:
        s.on_ticker(MiniTicker("spot", name, 2.0, 2.0, 2.0, 2.0, 1e6, 5e6, T0, T0))
    res = s.scan(T0 + 300 * MIN)
    top = res.top(3)
    assert top[0].symbol == "PUMPUSDT" and top[0].rank == 1
    assert Level[top[0].level] >= Level.MEDIA, top[0]
    assert top[0].components["volume"] == 20 and top[0].components["velocity"] == 15  # 357 % of normal, +5 % in 1 h
    assert top[0].factors["liquidity"] > 0 and 0 < top[0].probability <= 100
    snap = res.snapshot()
    assert snap.eligible == 7 and sum(snap.counts.values()) == 7
    doc = msgspec.json.decode(msgspec.json.encode(snap))  # JSON-ready: NaN indicators become null
    assert doc["levels"][top[0].level][0]["symbol"] == "PUMPUSDT"


def test_unknown_volume_or_price_out_of_band_is_not_ranked() -> None:
    s = Scanner(ScannerConfig(), capacity=4)
    s.warm([("spot", "AUSDT", window(walk(60, 7))), ("spot", "BUSDT", window(walk(60, 8, start=5000.0))),
            ("spot", "CUSDT", window(walk(60, 9)))])  # fmt: skip
    s.on_ticker(MiniTicker("spot", "AUSDT", 1.0, 1.0, 1.0, 1.0, 1e6, 5e6, T0, T0))
    s.on_ticker(MiniTicker("spot", "BUSDT", 1.0, 1.0, 1.0, 1.0, 1e6, 5e6, T0, T0))
    res = s.scan(T0)
    assert [res.names[i] for i in res.order] == [("spot", "AUSDT")]


def test_spare_capacity_stays_out_of_the_pass_and_changes_no_bit() -> None:
    """Rows are handed out lowest first (a removed row is reused first), a pass covers only the rows in use,
    and a scanner with 1000 spare rows ranks the same market with the same bits as a tight one."""
    btc = walk(200, 12, start=30_000.0)
    pairs = {"BTCUSDT": btc, **{f"P{i}USDT": walk(200, 20 + i, start=1.0 + i) for i in range(5)}}
    results = []
    for capacity in (8, 1008):
        s = Scanner(ScannerConfig(max_price=1e6), capacity=capacity)
        s.warm([("spot", name, window(c[:150])) for name, c in pairs.items()])
        s.remove("spot", "P2USDT")
        assert s.add("spot", "P9USDT") == 3 and s.hw == 6  # P2's row, the lowest free one
        for name, c in pairs.items():
            s.on_ticker(MiniTicker("spot", name, 1.0, 1.0, 1.0, 1.0, 1e6, 5e6, T0, T0))
            if name != "P2USDT":
                feed(s, name, c[150:], first=150)
        res = s.scan(T0 + 200 * MIN)
        assert res.levels.size == res.composite.size == res.price.size == s.hw == 6
        results.append(res)
    tight, roomy = results
    assert np.array_equal(tight.order, roomy.order) and tight.order.size == 5  # P9 has no bars: not ranked
    for a, b in ((tight.composite, roomy.composite), (tight.probability.probability, roomy.probability.probability),
                 (tight.values.rsi14, roomy.values.rsi14)):  # fmt: skip
        assert np.array_equal(a, b, equal_nan=True)


def test_rows_find_their_venues_btc_whenever_it_comes_and_lose_it_when_it_goes() -> None:
    s = Scanner(ScannerConfig(), capacity=8)
    a = s.add("spot", "AUSDT")
    f = s.add("futures", "FUSDT")
    assert not s.has_btc[[a, f]].any()
    btc = s.add("spot", "BTCUSDT")  # after AUSDT: it is linked now
    b = s.add("spot", "BUSDT")  # after BTC: linked on arrival
    assert s.has_btc[[a, btc, b]].all() and s.btc_of[a] == s.btc_of[b] == btc and not s.has_btc[f]
    fbtc = s.add("futures", "BTCUSDT")
    assert s.has_btc[f] and s.btc_of[f] == fbtc and s.btc_of[a] == btc  # each venue its own BTC
    s.remove("spot", "BTCUSDT")
    assert not s.has_btc[[a, b]].any() and s.has_btc[f]
    s.remove("spot", "AUSDT")
    assert s.add("spot", "CUSDT") == a  # the lowest free row first
    assert s.add("spot", "DUSDT") == btc and not s.has_btc[btc]  # no BTC link left over from its last owner


def test_a_waiting_bar_that_warmed_history_already_holds_is_a_duplicate_not_a_step_back() -> None:
    closes = walk(60, 13)
    s = Scanner(ScannerConfig(), capacity=2)
    s.add("spot", "AUSDT")
    feed(s, "AUSDT", closes[:30])  # bars 0-28 committed, bar 29 waits for a pass
    s.warm([("spot", "AUSDT", window(closes[30:50], first=30))])  # history up to bar 49 comes in meanwhile
    assert s.commit() == 0 and s.stats["duplicates"] == 1  # bar 29 is older than what the bank holds now
    assert s.bank.bars[0] == 49 and s.last_time[0] == T0 + 49 * MIN
