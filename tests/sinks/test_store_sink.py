"""StoreSink against a real DuckDB file and a real PostgreSQL server: batching, idempotent replays, every table
round trip, history from the market rings, refused rows, stop and reopen."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from store_fixtures import (
    T0,
    duck_rows,
    kline,
    mini,
    pg_backend,
    pg_rows,
    pg_schema_fixture,  # noqa: F401
    ticker,
)

from cryptoscan.events import Kline, Trade, Venue
from cryptoscan.feed.backoff import BackoffPolicy
from cryptoscan.market.state import MarketState
from cryptoscan.scanner.result import ScanRow, ScanSnapshot
from cryptoscan.sinks.store import StoreSink
from cryptoscan.sinks.store.backend import Backend
from cryptoscan.sinks.store.duck import DuckDBBackend
from helpers import until

FAST = BackoffPolicy(initial_ms=10, factor=2.0, max_ms=100)
Reader = Callable[[str], Any]  # SQL -> awaitable rows


class Store:
    """One backend under test plus a way to read it back once the sink closed it."""

    def __init__(self, make: Callable[[], Backend], read: Reader) -> None:
        self.make = make
        self.read = read


@pytest.fixture(params=["duckdb", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "duckdb":
        path = tmp_path / "store" / "cs.duckdb"

        async def read_duck(q: str) -> list[tuple[Any, ...]]:
            return duck_rows(path, q)

        yield Store(lambda: DuckDBBackend(path), read_duck)
    else:
        schema: str = request.getfixturevalue("pg_schema")

        async def read_pg(q: str) -> list[tuple[Any, ...]]:
            return await pg_rows(schema, q)

        yield Store(lambda: pg_backend(schema), read_pg)


def scan_row(rank: int, symbol: str, level: str) -> ScanRow:
    return ScanRow(rank=rank, venue="spot", symbol=symbol, level=level, price=1.5 + rank, momentum=90.0 - rank,
                   probability=40.0 + rank, composite=70.0 - rank, volume_24h=2e6, updated_ms=T0 - 1,
                   components={"rsi": 20.0, "macd": 10.0}, factors={"volatility": 0.3, "btc": 0.5},
                   indicators={"rsi14": 61.2, "macd": None})  # fmt: skip


def snapshot(ts: int) -> ScanSnapshot:
    levels = {"FUERTE": [scan_row(1, "AAAUSDT", "FUERTE")], "ALTA": [],
              "MEDIA": [scan_row(2, "BBBUSDT", "MEDIA"), scan_row(3, "CCCUSDT", "MEDIA")]}  # fmt: skip
    counts = {"FUERTE": 1, "ALTA": 0, "MEDIA": 2}
    return ScanSnapshot(ts_ms=ts, interval="1m", tracked=10, eligible=3, counts=counts, levels=levels)


async def test_batches_by_size_and_a_replayed_kline_is_not_stored_twice(store: Store) -> None:
    sink = StoreSink(store.make(), batch_rows=100, flush_interval_s=60.0, backoff=FAST)
    await sink.start()
    try:
        for i in range(250):
            sink.offer(kline(i))
        await until(lambda: sink.stats.written["klines"] == 200, 20, "two full batches without waiting")
        assert sink.stats.batches == 2 and sink.stats.pending == 50  # the rest lingers for the interval
        assert await sink.flush(20)
        assert sink.stats.written["klines"] == 250 and sink.stats.batches == 3
        for i in range(100):  # replayed (a resend, a duplicate delivery)
            sink.offer(kline(i))
        sink.offer(kline(300, closed=False))  # forming: not stored
        sink.offer(Trade("spot", "BTCUSDT", 1, 1.0, 1.0, False, T0, 1, 1, True, T0, T0))  # not stored
        assert await sink.flush(20)
    finally:
        await sink.stop()
    st = sink.stats
    assert st.written["klines"] == 250 and st.duplicates == 100 and st.ignored == 2 and st.errors == 0
    rows = await store.read("SELECT open_time, open, high, low, close, volume, quote_volume, trades, taker_buy_volume, "
                            "taker_buy_quote_volume FROM klines ORDER BY open_time")  # fmt: skip
    assert len(rows) == 250
    for i, r in enumerate(rows):
        k = kline(i)
        assert r == (k.open_time, k.open, k.high, k.low, k.close, k.volume, k.quote_volume, k.trades,
                     k.taker_buy_volume, k.taker_buy_quote_volume)  # fmt: skip


async def test_small_bursts_linger_into_one_batch(tmp_path: Path) -> None:
    sink = StoreSink(tmp_path / "cs.duckdb", batch_rows=10_000, flush_interval_s=0.05)
    await sink.start()
    try:
        for i in range(30):
            sink.offer(kline(i, symbol=f"S{i % 3}USDT"))
        await until(lambda: sink.stats.pending == 0, 10, "the timer flush")
        assert sink.stats.batches == 1 and sink.stats.written["klines"] == 30
    finally:
        await sink.stop()


async def test_every_table_round_trips(store: Store) -> None:
    sink = StoreSink(store.make(), ticker_sample_s=60.0, flush_interval_s=0.01, backoff=FAST)
    await sink.start()
    try:
        for dt in range(0, 180_000, 10_000):  # 3 minutes of tickers every 10 s: 3 samples per pair
            sink.offer(ticker(T0 + dt, last=101.0 + dt))
            sink.offer(mini(T0 + dt))
        sink.offer(ticker(T0, window="1h"))
        sink.offer_scan(snapshot(T0))
        sink.offer_scan(snapshot(T0))  # the same pass again: no new rows
        sink.offer_alert(T0 + 5, "spot", "AAAUSDT", "FUERTE", "level_up", "AAAUSDT reached FUERTE", {"score": 91.5})
        sink.offer_alert(T0 + 6, "futures", "BBBUSDT", "MEDIA", "burst", "no payload")
        sink.offer_outcome((T0 + 5, "spot", "AAAUSDT", "FUERTE", 4, 1.5, 1, 9.1, -2.5, 7_200_000, T0 + 14_400_000))
        sink.offer_outcome((T0 + 5, "spot", "AAAUSDT", "FUERTE", 24, 1.5, 1, None, None, 7_200_000, T0 + 1))
    finally:
        await sink.stop()
    st = sink.stats
    assert st.written == {"klines": 0, "tickers": 6, "scans": 3, "alerts": 2, "outcomes": 2} and st.duplicates == 3
    assert st.sampled_out == 31 and st.errors == 0
    tickers = await store.read("SELECT venue, ts, last FROM tickers WHERE venue = 'spot' ORDER BY ts")
    assert tickers == [("spot", T0, 101.0), ("spot", T0 + 60_000, 60_101.0), ("spot", T0 + 120_000, 120_101.0)]
    scans = await store.read("SELECT ts, venue, symbol, interval, rank, level, momentum, probability, composite, "
                             "price, volume_24h, updated_ms, components, factors, indicators FROM scans "
                             "ORDER BY rank")  # fmt: skip
    want = [scan_row(1, "AAAUSDT", "FUERTE"), scan_row(2, "BBBUSDT", "MEDIA"), scan_row(3, "CCCUSDT", "MEDIA")]
    assert len(scans) == 3
    for got, w in zip(scans, want, strict=True):
        assert got[:12] == (T0, w.venue, w.symbol, "1m", w.rank, w.level, w.momentum, w.probability, w.composite,
                            w.price, w.volume_24h, w.updated_ms)  # fmt: skip
        parsed = [v if isinstance(v, dict) else json.loads(v) for v in got[12:]]
        assert parsed == [w.components, w.factors, w.indicators]
    alerts = await store.read("SELECT ts, venue, symbol, level, kind, message, payload FROM alerts ORDER BY ts")
    assert alerts[0][:6] == (T0 + 5, "spot", "AAAUSDT", "FUERTE", "level_up", "AAAUSDT reached FUERTE")
    assert (alerts[0][6] if isinstance(alerts[0][6], dict) else json.loads(alerts[0][6])) == {"score": 91.5}
    assert alerts[1][4:] == ("burst", "no payload", None)
    outcomes = await store.read("SELECT horizon_h, hit, max_gain_pct, max_drawdown_pct FROM outcomes ORDER BY 1")
    assert outcomes == [(4, 1, 9.1, -2.5), (24, 1, None, None)]


async def test_history_in_the_market_rings_goes_in_once(tmp_path: Path) -> None:
    state = MarketState(Venue.SPOT, ["1m"], capacity=50)
    state.backfill("BTCUSDT", "1m", [kline(i) for i in range(40)])  # REST history: never published
    sink = StoreSink(tmp_path / "cs.duckdb", flush_interval_s=0.01)
    await sink.start()
    try:
        for i in range(38, 42):  # live bars, overlapping the history
            sink.offer(kline(i))
        assert await sink.offer_market([state.snapshot()]) == 40
        assert await sink.flush(20)
    finally:
        await sink.stop()
    assert sink.stats.written["klines"] == 42 and sink.stats.duplicates == 2
    rows = duck_rows(tmp_path / "cs.duckdb", "SELECT open_time, close_time, close, taker_buy_quote_volume FROM klines "
                     "ORDER BY open_time")  # fmt: skip
    assert [r[0] for r in rows] == [kline(i).open_time for i in range(42)]
    assert rows[5] == (kline(5).open_time, kline(5).close_time, kline(5).close, None)  # rings keep no taker quote
    assert rows[39][3] == kline(39).taker_buy_quote_volume  # the live bar came first and won


async def test_a_refused_row_is_isolated_and_the_rest_of_its_batch_is_written(store: Store) -> None:
    sink = StoreSink(store.make(), batch_rows=1_000, flush_interval_s=0.01, backoff=FAST)
    await sink.start()
    try:
        for i in range(20):
            sink.offer(kline(i))
            if i == 13:
                sink.offer(Kline(*(None if f == "symbol" else getattr(kline(i), f) for f in Kline.__struct_fields__)))
        sink.offer(object())  # not an event: ignored, never raised
        sink.offer(None)
        assert await sink.flush(20)
    finally:
        await sink.stop()
    st = sink.stats
    assert st.errors == 1 and st.written["klines"] == 20 and st.failures == 0 and st.ignored == 2
    assert (await store.read("SELECT count(*) FROM klines"))[0][0] == 20


async def test_stop_writes_what_is_pending_and_a_reopened_file_keeps_everything(tmp_path: Path) -> None:
    path = tmp_path / "cs.duckdb"
    sink = StoreSink(path, flush_interval_s=3600.0, batch_rows=1_000_000)
    await sink.start()
    for i in range(500):
        sink.offer(kline(i, symbol=f"S{i % 5}USDT", venue="futures" if i % 2 else "spot"))
    assert sink.stats.pending == 500
    await sink.stop()  # no flush asked: stop writes the lingering rows
    assert sink.stats.pending == 0 and sink.stats.written["klines"] == 500
    again = StoreSink(path, flush_interval_s=0.01)
    async with again:
        for i in range(495, 505):
            again.offer(kline(i, symbol=f"S{i % 5}USDT", venue="futures" if i % 2 else "spot"))
        assert await again.flush(20)
    assert again.stats.written["klines"] == 5 and again.stats.duplicates == 5
    rows = duck_rows(path, "SELECT venue, symbol, open_time, close FROM klines ORDER BY open_time")
    assert rows == [(k.venue, k.symbol, k.open_time, k.close) for k in
                    (kline(i, symbol=f"S{i % 5}USDT", venue="futures" if i % 2 else "spot") for i in range(505))]


async def test_attach_registers_offer_for_klines_and_tickers(tmp_path: Path) -> None:
    class Registrar:
        def __init__(self) -> None:
            self.kinds: list[tuple[str, Any]] = []

        def register_kline_callback(self, cb: Any) -> None:
            self.kinds.append(("kline", cb))

        def register_ticker_callback(self, cb: Any) -> None:
            self.kinds.append(("ticker", cb))

    reg = Registrar()
    sink = StoreSink(tmp_path / "cs.duckdb")
    sink.attach(reg)
    assert [k for k, _ in reg.kinds] == ["kline", "ticker"]
    assert all(cb == sink.offer for _, cb in reg.kinds)
    await sink.stop()  # never started: closes the (unopened) backend, no error
