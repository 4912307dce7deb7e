"""``cryptoscan download`` against the local exchange over loopback: exact bars, the weight budget, a 429,
resuming after an interruption and after a hole. The client reads the sim's own ScaledClock, so both sides agree
on weight windows; waits are bounded polls of a condition, never sleeps."""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import Iterator
from pathlib import Path

import duckdb
import httpx
import pytest
from rich.console import Console
from rich.progress import Progress

from cryptoscan.backtest.download import DownloadError, download, page_size, run_download
from cryptoscan.backtest.load import load_history
from cryptoscan.config import Settings
from cryptoscan.feed.rest import BinanceRest
from cryptoscan.sim.options import SimOptions
from cryptoscan.sim.server import SimServer
from cryptoscan.venues.binance.spec import Venue
from helpers import until
from simfakes import SimFactory
from sinks.store_fixtures import PG_URL, pg_schema_fixture  # noqa: F401  (the fixture, by import)

MIN = 60_000
H = 3_600_000


async def start_sim(sim_factory: SimFactory, speed: float = 60, **opts: object) -> SimServer:
    return await sim_factory(SimOptions(n_spot=20, n_futures=10, speed=speed, **opts), fake=False)  # type: ignore[arg-type]


def usdt(sim: SimServer, venue: Venue, n: int) -> list[str]:
    return sorted(s.symbol for s in sim.ctx.market.all_series(venue) if s.symbol.endswith("USDT"))[:n]


def stored(path: Path, symbol: str, interval: str = "1m") -> list[tuple[int, float, float]]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute("SELECT open_time, close, volume FROM klines WHERE symbol = ? AND interval = ? "
                           "ORDER BY open_time", [symbol, interval]).fetchall()  # fmt: skip


def quiet_progress() -> Progress:
    return Progress(console=Console(file=io.StringIO(), force_terminal=False))


async def test_a_download_stores_exactly_the_exchange_bars_and_a_rerun_fetches_nothing(
        sim_factory: SimFactory, tmp_path: Path) -> None:  # fmt: skip
    sim = await start_sim(sim_factory)
    clock, store = sim.ctx.clock, tmp_path / "s.duckdb"
    symbols = usdt(sim, Venue.SPOT, 3)
    end = clock.now_ms() // MIN * MIN - 10 * MIN
    since = end - 2500 * MIN
    progress = quiet_progress()
    got = await download(symbols, "1m", since, end, store, exchange_url=sim.url, clock=clock, progress=progress)
    assert got.bars == dict.fromkeys(symbols, 2500) == got.missing and got.failed == {}
    assert (got.requests, got.weight, got.throttles) == (9, 18, 0)  # 1000 + 1000 + 500 per symbol, weight 2 each
    assert [(t.description, t.completed, t.total) for t in progress.tasks] == [("spot 1m", 7500, 7500)]
    for sym in symbols:
        rows = stored(store, sym)
        assert [r[0] for r in rows] == list(range(since, end, MIN))  # no hole, no repeat, nothing past `end`
        truth = sim.ctx.market.rest_klines(Venue.SPOT, sym, "1m", since + 1234 * MIN, None, 3, clock.now_ms())
        assert [(r[0], r[1], r[2]) for r in rows[1234:1237]] == [(t[0], float(str(t[4])), float(str(t[5])))
                                                                 for t in truth]  # fmt: skip
    again = await download(symbols, "1m", since, end, store, exchange_url=sim.url, clock=clock)
    assert (again.requests, again.total, again.missing) == (0, 0, dict.fromkeys(symbols, 0))
    assert sim.ctx.stats.violation_counts() == {}
    assert got.lines()[0].startswith("spot 1m: 7500 new bars for 3 of 3 symbols in ")


async def test_an_interrupted_download_resumes_after_the_newest_stored_bar(
        sim_factory: SimFactory, tmp_path: Path) -> None:  # fmt: skip
    sim = await start_sim(sim_factory)
    clock, store = sim.ctx.clock, tmp_path / "s.duckdb"
    symbols = usdt(sim, Venue.SPOT, 2)
    end = clock.now_ms() // MIN * MIN - 10 * MIN
    since = end - 8000 * MIN
    progress = quiet_progress()
    first = asyncio.create_task(download(symbols, "1m", since, end, store, exchange_url=sim.url, clock=clock,
                                         progress=progress, workers=2, max_in_flight=1))  # fmt: skip
    await until(lambda: bool(progress.tasks) and progress.tasks[0].completed >= 3000, what="3000 bars stored")
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    partial = {sym: [r[0] for r in stored(store, sym)] for sym in symbols}
    assert 3000 <= sum(map(len, partial.values())) < 16_000  # stopped part way
    for opens in partial.values():  # what is stored is whole pages from the start: a rerun goes on after it
        assert opens == list(range(since, since + len(opens) * MIN, MIN)) and len(opens) % 1000 == 0
    rest = await download(symbols, "1m", since, end, store, exchange_url=sim.url, clock=clock)
    assert rest.missing == {sym: 8000 - len(partial[sym]) for sym in symbols} == rest.bars
    assert rest.requests == sum(-(-n // 1000) for n in rest.missing.values())
    for sym in symbols:
        assert [r[0] for r in stored(store, sym)] == list(range(since, end, MIN))


async def test_a_429_is_honoured_and_nothing_is_lost(sim_factory: SimFactory, tmp_path: Path) -> None:
    sim = await start_sim(sim_factory, speed=120)
    clock, store = sim.ctx.clock, tmp_path / "s.duckdb"
    symbol = usdt(sim, Venue.SPOT, 1)[0]
    end = clock.now_ms() // MIN * MIN
    async with httpx.AsyncClient(base_url=sim.url) as control:
        assert (await control.post("/sim/faults", json={"kind": "rest_429"})).status_code == 200
    async with BinanceRest(sim.url, clock=clock) as rest:
        statuses: list[tuple[int, int]] = []
        rest.add_observer(lambda venue, status, headers: statuses.append((clock.now_ms(), status)))
        got = await download([symbol], "1m", end - 3000 * MIN, end, store, rest=rest, clock=clock)
    assert [s for _, s in statuses] == [429, 200, 200, 200]
    assert statuses[1][0] - statuses[0][0] >= 1000 * 120  # Retry-After (real seconds) waited, in market time
    assert (got.throttles, got.requests, got.bars) == (1, 4, {symbol: 3000})  # the throttled one sent again
    assert [r[0] for r in stored(store, symbol)] == list(range(end - 3000 * MIN, end, MIN))
    assert "rest_ban" not in sim.ctx.stats.violation_counts()


async def test_futures_pages_of_499_stay_within_a_tight_budget(sim_factory: SimFactory, tmp_path: Path) -> None:
    budget = 40  # share 0.8: 32 weight, 16 pages of 499 bars per market minute
    sim = await start_sim(sim_factory, speed=240, futures_weight_per_minute=budget)
    clock, store = sim.ctx.clock, tmp_path / "s.duckdb"
    symbols = usdt(sim, Venue.FUTURES, 3)
    end = clock.now_ms() // MIN * MIN
    assert page_size(Venue.FUTURES) == 499 and page_size(Venue.SPOT) == 1000
    answered: list[int] = []
    async with BinanceRest(sim.url, clock=clock) as rest:
        rest.add_observer(lambda venue, status, headers: answered.append(clock.now_ms()))
        got = await download(symbols, "1m", end - 3000 * MIN, end, store, venue="futures", rest=rest, clock=clock,
                             budget_per_minute=budget)  # fmt: skip
    # 6 pages of 499 (weight 2) and one of 6 (weight 1) per symbol
    assert got.bars == dict.fromkeys(symbols, 3000) and got.requests == 3 * 7 and got.weight == 3 * 13
    assert len({t // MIN for t in answered}) >= 2  # 39 weight over a 32 share needs a second weight window
    assert got.peak_weight <= budget and got.throttles == 0
    assert sim.ctx.stats.violation_counts() == {}


async def test_time_before_a_listing_costs_one_request(sim_factory: SimFactory, tmp_path: Path) -> None:
    sim = await start_sim(sim_factory)
    clock, store = sim.ctx.clock, tmp_path / "s.duckdb"
    series = sim.ctx.market.series(Venue.SPOT, usdt(sim, Venue.SPOT, 1)[0])
    assert series is not None
    listed = -(-series.info.onboard_ms // H) * H
    got = await download([series.symbol], "1h", listed - 400 * 24 * H, listed + 1500 * H, store,
                         exchange_url=sim.url, clock=clock)  # fmt: skip
    assert got.bars == {series.symbol: 1500} and got.requests == 2  # 9600 empty hours cost nothing extra
    opens = [r[0] for r in stored(store, series.symbol, "1h")]
    assert opens == list(range(listed, listed + 1500 * H, H))


async def test_an_unknown_symbol_fails_alone_and_a_hole_is_filled_on_the_next_run(
        sim_factory: SimFactory, tmp_path: Path) -> None:  # fmt: skip
    sim = await start_sim(sim_factory)
    clock, store = sim.ctx.clock, tmp_path / "s.duckdb"
    symbol = usdt(sim, Venue.SPOT, 1)[0]
    end = clock.now_ms() // MIN * MIN - 5 * MIN
    since = end - 3000 * MIN
    got = await download([symbol, "NOPEUSDT"], "1m", since, end, store, exchange_url=sim.url, clock=clock)
    assert got.bars == {symbol: 3000, "NOPEUSDT": 0}
    assert got.failed == {"NOPEUSDT": "refused by the exchange (HTTP 400; an unknown symbol?)"}
    before = stored(store, symbol)
    with duckdb.connect(str(store)) as con:
        con.execute("DELETE FROM klines WHERE open_time BETWEEN ? AND ?", [since + 1000 * MIN, since + 1099 * MIN])
    again = await download([symbol], "1m", since, end, store, exchange_url=sim.url, clock=clock)
    assert (again.missing, again.bars, again.requests) == ({symbol: 100}, {symbol: 100}, 1)
    assert stored(store, symbol) == before


async def test_postgres_takes_the_same_download_and_resumes_from_it(sim_factory: SimFactory, pg_schema: str) -> None:
    sim = await start_sim(sim_factory)
    clock = sim.ctx.clock
    symbols = usdt(sim, Venue.SPOT, 2)
    end = clock.now_ms() // MIN * MIN - 5 * MIN
    got = await download(symbols, "1m", end - 1500 * MIN, end - 500 * MIN, PG_URL, exchange_url=sim.url, clock=clock,
                         pg_schema=pg_schema)  # fmt: skip
    more = await download(symbols, "1m", end - 1500 * MIN, end, PG_URL, exchange_url=sim.url, clock=clock,
                          pg_schema=pg_schema)  # fmt: skip
    assert got.bars == dict.fromkeys(symbols, 1000) and more.bars == dict.fromkeys(symbols, 500) == more.missing
    h = load_history(PG_URL, "spot", "1m", pg_schema=pg_schema)
    assert sorted(h) == symbols and all(h.bars[s][0].tolist() == list(range(end - 1500 * MIN, end, MIN))
                                        for s in symbols)  # fmt: skip


async def test_arguments_that_cannot_work_are_one_line_errors(sim_factory: SimFactory, tmp_path: Path) -> None:
    sim = await start_sim(sim_factory)
    clock, store, now = sim.ctx.clock, tmp_path / "s.duckdb", sim.ctx.clock.now_ms()
    with pytest.raises(DownloadError, match="interval '2m' is not one of 1m, 3m, 5m"):
        await download(["BTCUSDT"], "2m", now - H, now, store, exchange_url=sim.url, clock=clock)
    with pytest.raises(DownloadError, match="no symbols given"):
        await download([" "], "1m", now - H, now, store, exchange_url=sim.url, clock=clock)
    with pytest.raises(DownloadError, match="the range holds no closed bar"):
        await download(["BTCUSDT"], "1m", now + H, None, store, exchange_url=sim.url, clock=clock)
    (tmp_path / "dir.duckdb").mkdir()
    with pytest.raises(DownloadError, match="store"):
        await download(["BTCUSDT"], "1m", now - H, now, tmp_path / "dir.duckdb", exchange_url=sim.url, clock=clock)


@pytest.fixture
def threaded_sim() -> Iterator[SimServer]:
    """A sim at speed 1 (market time = wall time) on its own loop, for the synchronous entry point."""
    ready, state = threading.Event(), {}

    async def serve() -> None:
        sim = SimServer(SimOptions(n_spot=20, n_futures=10, port=0))
        await sim.start()
        stop = asyncio.Event()
        state.update(sim=sim, loop=asyncio.get_running_loop(), stop=stop)
        ready.set()
        await stop.wait()
        await sim.stop()

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    assert ready.wait(10)
    yield state["sim"]  # type: ignore[misc]
    state["loop"].call_soon_threadsafe(state["stop"].set)  # type: ignore[attr-defined]
    thread.join(10)


def test_run_download_uses_the_settings_and_draws_progress(threaded_sim: SimServer, tmp_path: Path) -> None:
    out = io.StringIO()
    now = threaded_sim.ctx.clock.now_ms()
    symbol = usdt(threaded_sim, Venue.SPOT, 1)[0]
    settings = Settings.model_validate({"store": {"url": str(tmp_path / "s.duckdb")},
                                        "exchange": {"url": threaded_sim.url}})  # fmt: skip
    got = run_download(settings, [symbol.lower()], "5m", now - 600 * 5 * MIN, None,
                       console=Console(file=out, force_terminal=True, width=100))  # fmt: skip
    assert got.bars[symbol] == got.missing[symbol] >= 599 and got.requests == 1
    assert "spot 5m" in out.getvalue() and f"{got.bars[symbol]}/{got.missing[symbol]}" in out.getvalue()
    assert len(stored(tmp_path / "s.duckdb", symbol, "5m")) == got.bars[symbol]
