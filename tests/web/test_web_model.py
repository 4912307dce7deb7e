"""The dashboard's sans-I/O parts: table diffs, a pair's indicator series, the hub's bounded queues, words, flags."""

from __future__ import annotations

import argparse
import asyncio

import numpy as np
import pytest
import talib

from cryptoscan.config import DashboardConfig
from cryptoscan.events import Kline
from cryptoscan.indicators.values import FIELDS, IndicatorValues
from cryptoscan.market.rings import KlineRing
from cryptoscan.scanner.levels import Level
from cryptoscan.scanner.probability import ProbabilityOutput
from cryptoscan.scanner.result import ScanResult
from cryptoscan.scanner.score import Components
from cryptoscan.web.hub import Hub
from cryptoscan.web.i18n import EN, ES, LANGS, strings
from cryptoscan.web.model import TableModel
from cryptoscan.web.options import DashboardConfigError, check_bind, dashboard_options
from cryptoscan.web.series import PairSeries

MIN = 60_000
T0 = 1_700_000_000_000 // MIN * MIN


def result(rows: list[tuple[str, Level, float, float]], ts_ms: int = T0) -> ScanResult:
    """A pass over ``rows`` of (symbol, level, composite, price), ranked by composite (all eligible)."""
    n = len(rows)
    composite = np.array([r[2] for r in rows], dtype=np.float64)
    nan = np.full(n, np.nan)
    points = np.array([r[2] for r in rows], dtype=np.float64)
    return ScanResult(
        ts_ms=ts_ms, interval="1m", names=[("spot", r[0]) for r in rows], tracked=n,
        order=np.argsort(-composite, kind="stable").astype(np.int64), groups={},
        levels=np.array([int(r[1]) for r in rows], dtype=np.int8),
        components=Components(rsi=points, macd=nan, volume=nan, velocity=nan, breakout=nan, total=points),
        composite=composite, probability=ProbabilityOutput(probability=composite / 2, factors={}),
        price=np.array([r[3] for r in rows], dtype=np.float64), quote_volume=np.full(n, 5e6),
        updated_ms=np.full(n, T0, dtype=np.int64), values=IndicatorValues(**{f: nan for f in FIELDS}),
    )  # fmt: skip


def test_table_model_sends_only_changed_rows_and_removals() -> None:
    model = TableModel(top=2)
    first = model.apply(result([("AUSDT", Level.FUERTE, 90, 1.0), ("BUSDT", Level.ALTA, 75, 2.0),
                                ("CUSDT", Level.ALTA, 72, 3.0), ("DUSDT", Level.ALTA, 71, 4.0),
                                ("EUSDT", Level.BAJA, 40, 5.0)]))  # fmt: skip
    # top 2 per shown level, ranked over every eligible row; BAJA is not shown
    assert [(r.symbol, r.level, r.rank) for r in first.upsert] == [
        ("AUSDT", "FUERTE", 1), ("BUSDT", "ALTA", 2), ("CUSDT", "ALTA", 3)]  # fmt: skip
    assert first.remove == [] and first.meta.counts["ALTA"] == 3 and first.meta.eligible == 5

    again = model.apply(result([("AUSDT", Level.FUERTE, 90, 1.0), ("BUSDT", Level.ALTA, 75, 2.5),
                                ("CUSDT", Level.ALTA, 72, 3.0), ("DUSDT", Level.ALTA, 71, 4.0),
                                ("EUSDT", Level.BAJA, 40, 5.0)], ts_ms=T0 + MIN))  # fmt: skip
    assert [(r.key, r.price) for r in again.upsert] == [("spot:BUSDT", 2.5)] and again.remove == []
    assert again.meta.ts_ms == T0 + MIN

    fell = model.apply(result([("AUSDT", Level.FUERTE, 90, 1.0), ("BUSDT", Level.BAJA, 45, 2.5),
                               ("CUSDT", Level.ALTA, 72, 3.0), ("DUSDT", Level.ALTA, 71, 4.0)]))  # fmt: skip
    assert fell.remove == ["spot:BUSDT"]
    assert [(r.symbol, r.rank) for r in fell.upsert] == [("CUSDT", 2), ("DUSDT", 3)]  # DUSDT enters the top 2
    meta, rows = model.snapshot()
    assert meta is not None and [r.symbol for r in rows] == ["AUSDT", "CUSDT", "DUSDT"]


def test_table_model_turns_nan_into_none() -> None:
    model = TableModel()
    diff = model.apply(result([("AUSDT", Level.MEDIA, 55, float("nan"))]))
    assert diff.upsert[0].price is None and not diff.empty


def kline(i: int, close: float, *, closed: bool = True) -> Kline:
    t = T0 + i * MIN
    return Kline("spot", "AUSDT", "1m", t, t + MIN - 1, close, close * 1.01, close * 0.99, close, 10.0 + i % 7,
                 100.0, 5, 5.0, 50.0, closed, 0, 0, t, t)  # fmt: skip


def test_pair_series_agrees_with_talib_and_sends_only_new_bars() -> None:
    closes = 10 * np.exp(np.cumsum(np.random.default_rng(3).normal(0, 0.01, 300)))
    ring = KlineRing(400, MIN)
    for i in range(250):
        ring.apply(kline(i, float(closes[i])))
    ring.apply(kline(250, float(closes[250]), closed=False))
    series = PairSeries("1m", show=100)
    full = series.sync(ring.state())
    assert full is not None and full.full and full.forming and len(full.t) == 101  # 100 closed + the forming bar
    assert series.sync(ring.state()) is None  # nothing changed

    for i in range(250, 260):
        ring.apply(kline(i, float(closes[i])))
    ring.apply(kline(260, float(closes[260]), closed=False))
    step = series.sync(ring.state())
    assert step is not None and not step.full and step.t == [T0 + i * MIN for i in range(250, 261)]

    rsi = talib.RSI(closes[:261], 14)
    line, signal, hist = talib.MACD(closes[:261], 3, 10, 16)
    np.testing.assert_allclose(step.rsi, rsi[250:261], rtol=1e-9)  # closed bars committed, the forming one peeked
    np.testing.assert_allclose(step.macd, line[250:261], rtol=1e-9)
    np.testing.assert_allclose(step.signal, signal[250:261], rtol=1e-9)
    np.testing.assert_allclose(step.hist, hist[250:261], rtol=1e-9, atol=1e-12)

    ring.backfill([kline(i, float(closes[i])) for i in range(240, 262)])  # older bars merged: a fresh array
    rebuilt = series.sync(ring.state())
    assert rebuilt is not None and rebuilt.full


async def test_hub_drops_a_client_whose_queue_is_full_and_counts_it() -> None:
    hub = Hub(queue_size=3)
    emptied: list[str] = []
    hub.on_empty = emptied.append
    fast = hub.join("table", b"snapshot")
    slow = hub.join("table", b"snapshot")
    for n in range(5):
        hub.publish("table", b"frame %d" % n)
        while not fast.queue.empty():  # the fast client keeps up, the slow one reads nothing
            fast.queue.get_nowait()
    assert slow.dropped.is_set() and not fast.dropped.is_set()
    assert hub.stats.dropped == 1 and hub.count("table") == 1
    assert hub.publish("table", b"more") == 1
    hub.leave(fast)
    assert emptied == ["table"] and hub.count() == 0
    await asyncio.wait_for(slow.dropped.wait(), 1)


def test_every_language_has_every_word() -> None:
    assert set(LANGS) == {"en", "es"} and EN.keys() == ES.keys()
    es = strings("es", 7.5)
    assert es["probability"] == "Prob. +7.5 %" and es["confidence"] == "Confianza"
    with pytest.raises(ValueError, match="not available"):
        strings("fr")


def test_a_public_bind_needs_a_token() -> None:
    check_bind("127.0.0.1", None)
    check_bind("localhost", None)
    check_bind("::1", None)
    check_bind("0.0.0.0", "s3cret")
    with pytest.raises(DashboardConfigError, match=r"0\.0\.0\.0, which is not loopback: it needs a token"):
        check_bind("0.0.0.0", None)
    args = argparse.Namespace(host="192.168.1.5", port=None, token=None, lang=None)
    with pytest.raises(DashboardConfigError):
        dashboard_options(args, DashboardConfig(), top=10, standalone=True)
    args = argparse.Namespace(dashboard_port=None, no_dashboard=False, lang="es")
    opts = dashboard_options(args, DashboardConfig(port=8123), top=7, standalone=False, fallback_port=True)
    assert opts is not None and (opts.port, opts.lang, opts.top, opts.fallback_port) == (8123, "es", 7, True)
    args = argparse.Namespace(dashboard_port=0, no_dashboard=False, lang=None)
    opts = dashboard_options(args, DashboardConfig(), top=7, standalone=False, fallback_port=True)
    assert opts is not None and opts.port == 0 and not opts.fallback_port  # a port asked for is never swapped
    assert dashboard_options(argparse.Namespace(no_dashboard=True), DashboardConfig(), top=7, standalone=False) is None
    args = argparse.Namespace(dashboard_port=None, no_dashboard=False, lang=None)
    with pytest.raises(DashboardConfigError, match=r"dashboard\.lang: 'fr' is not available"):
        dashboard_options(args, DashboardConfig(lang="fr"), top=7, standalone=False)
