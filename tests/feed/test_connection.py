"""StreamConnection against the real simulator over loopback: subscribe pacing, faults, rotation, throttling.

The connection's clock is the simulator's own market clock (a ScaledClock), so ``speed`` makes pings,
kline closes, watchdog bounds and backoff delays pass faster in the same proportion on both sides.
Every wait polls a condition under a deadline; nothing sleeps for a fixed time.
"""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

import httpx
import pytest

from cryptoscan.events import BookTop, ConnectionStatus, Kline, LinkState, Trade
from cryptoscan.feed.backoff import DEFAULT_429_MS, BackoffPolicy
from cryptoscan.feed.conn_parts import ConnOptions, stream_url
from cryptoscan.feed.connection import StreamConnection
from cryptoscan.feed.lifecycle import Phase
from cryptoscan.feed.rotation import RotationPolicy
from cryptoscan.feed.transport import Link, LinkHandler, connect_picows
from cryptoscan.feed.watchdog import Watchdog
from cryptoscan.sim.options import SimOptions
from cryptoscan.sim.server import SimServer
from cryptoscan.venues.binance.parser import FrameParser, Parsed
from cryptoscan.venues.binance.spec import Category, Venue
from helpers import until
from simfakes import SimFactory

SPOT_SYMBOLS = [
    *("btc", "eth", "sol", "bnb", "xrp", "doge", "ada", "avax", "link", "dot", "trx", "ltc", "bch"),
    *("near", "atom", "uni", "apt", "arb", "op", "fil", "etc", "icp", "inj", "sui", "ton"),
]
FAST_BACKOFF = BackoffPolicy(initial_ms=100, max_ms=400, stable_ms=1_000)


class Recorder:
    """Collects what a connection hands out (copies: the event list is reused by the connection)."""

    def __init__(self) -> None:
        self.events: list[Parsed] = []
        self.statuses: list[ConnectionStatus] = []
        self.gaps: list[tuple[str, int, int]] = []

    def on_events(self, events: list[Parsed]) -> None:
        self.events.extend(events)

    def on_status(self, status: ConnectionStatus) -> None:
        self.statuses.append(status)

    def on_gap(self, conn_id: str, down: int, up: int) -> None:
        self.gaps.append((conn_id, down, up))

    def states(self) -> list[str]:
        return [s.state for s in self.statuses]

    def closed_klines(self) -> list[tuple[str, str, int]]:
        return [(e.symbol, e.interval, e.open_time) for e in self.events if isinstance(e, Kline) and e.closed]


async def sim_status(sim: SimServer) -> dict[str, Any]:
    async with httpx.AsyncClient() as client:
        resp = await client.get(sim.url + "/sim/status")
    body: dict[str, Any] = resp.json()
    return body


async def fault(sim: SimServer, kind: str, **extra: Any) -> list[str]:
    async with httpx.AsyncClient() as client:
        resp = await client.post(sim.url + "/sim/faults", json={"kind": kind, "target": "all", **extra})
    assert resp.status_code == 200, resp.text
    hit: list[str] = resp.json()["connections"]
    return hit


Make = Callable[..., Awaitable[tuple[StreamConnection, Recorder]]]


@pytest.fixture
async def make(sim_factory: SimFactory) -> AsyncIterator[Make]:
    """``make(options, streams, venue=, category=, **conn_kwargs)``: a sim plus a running connection."""
    conns: list[tuple[StreamConnection, asyncio.Task[None]]] = []

    async def build(
        options: SimOptions,
        streams: Iterable[str],
        *,
        venue: Venue = Venue.SPOT,
        category: Category = Category.SPOT,
        **kw: Any,
    ) -> tuple[StreamConnection, Recorder]:
        sim = kw.pop("sim", None) or await sim_factory(options, fake=False)
        opts = {k: kw.pop(k) for k in list(kw) if k in ConnOptions.__dataclass_fields__}
        rec = Recorder()
        conn = StreamConnection(
            conn_id=kw.pop("conn_id", "c1"),
            venue=venue,
            category=category,
            ws_base=sim.ws_url,
            streams=streams,
            parser=FrameParser(venue),
            clock=sim.ctx.clock,
            on_events=kw.pop("on_events", rec.on_events),
            on_status=rec.on_status,
            on_gap=rec.on_gap,
            options=ConnOptions(**opts),
            **kw,
        )
        conn.sim = sim  # type: ignore[attr-defined]
        conns.append((conn, asyncio.create_task(conn.run())))
        return conn, rec

    yield build
    for conn, task in conns:
        await conn.close()
        assert task.done()


def sim_of(conn: StreamConnection) -> SimServer:
    sim: SimServer = conn.sim  # type: ignore[attr-defined]
    return sim


def spot_streams() -> list[str]:
    out = [f"{s}usdt@kline_1m" for s in SPOT_SYMBOLS]
    out += [f"{s}usdt@trade" for s in SPOT_SYMBOLS[:15]]
    out += [f"{s}usdt@bookTicker" for s in SPOT_SYMBOLS[:15]]
    return out


def stream_of(e: Parsed) -> str | None:
    if isinstance(e, Kline):
        return f"{e.symbol.lower()}@kline_{e.interval}"
    if isinstance(e, Trade):
        return f"{e.symbol.lower()}@{'aggTrade' if e.aggregated else 'trade'}"
    if isinstance(e, BookTop):
        return f"{e.symbol.lower()}@bookTicker"
    return None


def live(conn: StreamConnection) -> bool:
    return conn.phase is Phase.LIVE


# --- URL building -------------------------------------------------------------------------------------


def test_urls_by_venue_and_category() -> None:
    assert stream_url("wss://stream.binance.com:9443/", Venue.SPOT, Category.SPOT) == (
        "wss://stream.binance.com:9443/stream"
    )
    assert stream_url("wss://fstream.binance.com", Venue.FUTURES, Category.MARKET) == (
        "wss://fstream.binance.com/market/stream"
    )
    assert stream_url("ws://127.0.0.1:9", Venue.FUTURES, Category.PUBLIC) == "ws://127.0.0.1:9/public/stream"
    for venue, cat in (
        (Venue.SPOT, Category.MARKET),
        (Venue.FUTURES, Category.SPOT),
        (Venue.FUTURES, Category.PRIVATE),
    ):
        with pytest.raises(ValueError):
            stream_url("ws://x", venue, cat)


# --- subscribe and receive ----------------------------------------------------------------------------


async def test_subscribes_many_streams_paced_and_receives_each(make: Make) -> None:
    streams = spot_streams()
    assert len(streams) >= 50
    conn, rec = await make(
        SimOptions(n_spot=30, n_futures=20, speed=5), streams, subscribe_frame_bytes=300, backoff=FAST_BACKOFF
    )
    await until(lambda: live(conn), what="LIVE")
    assert conn.stats.control_sent >= 5  # small frames: several SUBSCRIBE batches, paced
    wanted = set(streams)
    await until(lambda: wanted <= {stream_of(e) for e in rec.events}, limit_s=15, what="an event on every stream")
    st = conn.stats
    assert st.reconnects == 0 and st.parse_errors == 0 and st.rejected_streams == 0
    assert st.messages >= len(wanted) and st.frames > 0 and st.bytes > 0
    assert st.lag_ms and all(lag >= 0 for lag in st.lag_ms)
    assert rec.states() == [LinkState.RECONNECTING, LinkState.CONNECTED]
    status = await sim_status(sim_of(conn))
    assert status["violations"] == {}
    assert sorted(status["connections"][0]["streams"]) == sorted(streams)


async def test_runtime_subscribe_and_unsubscribe(make: Make) -> None:
    conn, rec = await make(SimOptions(n_spot=30, n_futures=20, speed=5), ["btcusdt@kline_1m"])
    await until(lambda: live(conn), what="LIVE")
    conn.subscribe(["ethusdt@kline_1m"])
    await until(lambda: "ethusdt@kline_1m" in {stream_of(e) for e in rec.events}, what="new stream data")
    conn.unsubscribe(["btcusdt@kline_1m"])

    async def server_streams() -> list[str]:
        return list((await sim_status(sim_of(conn)))["connections"][0]["streams"])

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while await server_streams() != ["ethusdt@kline_1m"]:
        assert loop.time() < deadline, "UNSUBSCRIBE never reached the server"
        await asyncio.sleep(0.02)
    assert conn.streams == frozenset({"ethusdt@kline_1m"})


@pytest.mark.parametrize(
    ("category", "streams"),
    [
        (Category.MARKET, ["btcusdt@kline_1m", "btcusdt@aggTrade", "ethusdt@aggTrade"]),
        (Category.PUBLIC, ["btcusdt@bookTicker", "ethusdt@bookTicker"]),
    ],
)
async def test_futures_routed_paths(make: Make, category: Category, streams: list[str]) -> None:
    conn, rec = await make(
        SimOptions(n_spot=30, n_futures=20, speed=5), streams, venue=Venue.FUTURES, category=category
    )
    assert conn.url.endswith(f"/{category.value}/stream")
    await until(lambda: set(streams) <= {stream_of(e) for e in rec.events}, what="futures data")
    assert all(getattr(e, "venue", "futures") == "futures" for e in rec.events)
    status = await sim_status(sim_of(conn))
    assert status["connections"][0]["path"] == f"/{category.value}/stream"
    assert status["violations"] == {}


# --- faults -------------------------------------------------------------------------------------------


async def test_drop_reconnects_resubscribes_and_reports_the_gap(make: Make) -> None:
    streams = ["btcusdt@kline_1m", "ethusdt@trade", "solusdt@bookTicker"]
    conn, rec = await make(SimOptions(n_spot=30, n_futures=20, speed=5), streams, backoff=FAST_BACKOFF)
    await until(lambda: live(conn), what="LIVE")
    sim = sim_of(conn)
    await fault(sim, "drop")
    await until(lambda: conn.stats.reconnects == 1 and live(conn), what="reconnected")
    assert rec.states()[-2:] == [LinkState.RECONNECTING, LinkState.CONNECTED]
    assert len(rec.gaps) == 1
    cid, down, up = rec.gaps[0]
    assert cid == "c1" and down <= up
    n = len(rec.events)
    await until(lambda: len(rec.events) > n + 3, what="data after reconnect")
    status = await sim_status(sim)
    assert len(status["connections"]) == 1
    assert sorted(status["connections"][0]["streams"]) == sorted(streams)
    assert status["violations"] == {}


async def test_stall_is_detected_by_the_watchdog_and_reconnected(make: Make) -> None:
    silence_ms = 3_000
    conn, rec = await make(
        SimOptions(n_spot=30, n_futures=20, speed=10),
        ["btcusdt@kline_1m", "ethusdt@kline_1m"],
        watchdog=Watchdog(Venue.SPOT, silence_ms=silence_ms),
        backoff=FAST_BACKOFF,
    )
    await until(lambda: live(conn), what="LIVE")
    sim = sim_of(conn)
    clock = sim.ctx.clock
    t0 = clock.now_ms()
    await fault(sim, "stall", duration_ms=120_000)
    await until(lambda: conn.stats.reconnects == 1, what="watchdog verdict")
    detected = clock.now_ms() - t0
    assert conn.stats.last_failure == "silent connection"
    # bound: the silence limit plus the last message's age at the stall plus a generous scheduling margin
    assert detected <= silence_ms + 3_000, detected
    await until(lambda: live(conn), what="LIVE again")
    n = len(rec.events)
    await until(lambda: len(rec.events) > n, what="data on the new socket")
    assert (await sim_status(sim))["violations"] == {}


async def test_malformed_frame_is_counted_and_the_connection_stays(make: Make) -> None:
    conn, rec = await make(SimOptions(n_spot=30, n_futures=20, speed=5), ["btcusdt@kline_1m", "btcusdt@trade"])
    await until(lambda: live(conn), what="LIVE")
    await fault(sim_of(conn), "malformed", count=3)
    await until(lambda: conn.stats.parse_errors >= 3, what="parse errors counted")
    n = len(rec.events)
    await until(lambda: len(rec.events) > n + 2, what="data after the bad frames")
    assert conn.stats.reconnects == 0 and live(conn)


async def test_periodic_list_check_resubscribes_a_lost_stream(make: Make) -> None:
    streams = ["btcusdt@kline_1m", "ethusdt@kline_1m"]
    conn, _ = await make(SimOptions(n_spot=30, n_futures=20, speed=10), streams, list_check_every_ms=5_000)
    await until(lambda: live(conn), what="LIVE")
    sim = sim_of(conn)
    (server_conn,) = sim.hub.conns.values()
    # the server forgets a stream behind our back (as if it had been unsubscribed on its side)
    server_conn.session.receive_text(
        '{"method":"UNSUBSCRIBE","params":["ethusdt@kline_1m"],"id":999}', sim.ctx.clock.now_ms()
    )
    assert server_conn.session.subscriptions == ["btcusdt@kline_1m"]
    await until(lambda: conn.stats.lost_streams == 1, what="LIST_SUBSCRIPTIONS noticed the loss")
    await until(lambda: sorted(server_conn.session.subscriptions) == streams, what="resubscribed")
    assert conn.stats.reconnects == 0 and live(conn)
    assert (await sim_status(sim))["violations"] == {}


async def test_duplicates_filtered_when_always_dedup(make: Make) -> None:
    conn, rec = await make(
        SimOptions(n_spot=30, n_futures=20, speed=5), ["btcusdt@trade", "ethusdt@trade"], always_dedup=True
    )
    await until(lambda: live(conn) and len(rec.events) > 2, what="data")
    await fault(sim_of(conn), "duplicate", count=20)
    await until(lambda: conn.stats.duplicates_dropped >= 1, what="duplicates dropped")
    ids = [(e.symbol, e.trade_id) for e in rec.events if isinstance(e, Trade)]
    assert len(ids) == len(set(ids))


async def test_pause_reading_holds_frames_without_reconnecting(make: Make) -> None:
    conn, rec = await make(SimOptions(n_spot=30, n_futures=20, speed=10), ["btcusdt@trade", "btcusdt@kline_1m"])
    await until(lambda: live(conn) and len(rec.events) > 2, what="data")
    clock = sim_of(conn).ctx.clock
    conn.pause_reading(True)
    frames = conn.stats.frames
    t0 = clock.now_ms()
    await until(lambda: clock.now_ms() > t0 + 5_000, what="5 s of market time")
    assert conn.stats.frames == frames  # nothing read while paused
    conn.pause_reading(False)
    await until(lambda: conn.stats.frames > frames + 2, what="reading again")
    assert conn.stats.reconnects == 0 and live(conn)


async def test_consumer_exception_is_counted_not_fatal(make: Make) -> None:
    calls: list[int] = []

    def boom(events: list[Parsed]) -> None:
        calls.append(len(events))
        raise RuntimeError("consumer bug")

    conn, _ = await make(SimOptions(n_spot=30, n_futures=20, speed=5), ["btcusdt@trade"], on_events=boom)
    await until(lambda: len(calls) >= 5, what="several deliveries")
    assert conn.stats.callback_errors >= 5 and conn.stats.reconnects == 0 and live(conn)


# --- rotation -----------------------------------------------------------------------------------------


ROTATING = ["btcusdt@kline_1m", "ethusdt@kline_1m", "solusdt@kline_1m", "btcusdt@trade", "ethusdt@aggTrade"]


async def test_server_shutdown_rotates_without_duplicates(make: Make) -> None:
    conn, rec = await make(SimOptions(n_spot=30, n_futures=20, speed=30), ROTATING, backoff=FAST_BACKOFF)
    await until(lambda: live(conn) and len(rec.closed_klines()) >= 3, limit_s=15, what="first closed klines")
    sim = sim_of(conn)
    await fault(sim, "shutdown")
    await until(lambda: conn.stats.rotations == 1 and live(conn), what="replacement live")
    seen = len(rec.closed_klines())
    await until(lambda: len(rec.closed_klines()) >= seen + 3, limit_s=15, what="closed klines after rotation")
    closed = rec.closed_klines()
    assert len(closed) == len(set(closed)), "a closed kline was delivered twice"
    trades = [(e.symbol, e.aggregated, e.trade_id) for e in rec.events if isinstance(e, Trade)]
    assert len(trades) == len(set(trades))
    assert rec.states()[-1] == LinkState.CONNECTED
    status = await sim_status(sim)
    assert len(status["connections"]) == 1 and status["violations"] == {}


async def test_proactive_rotation_is_make_before_break(make: Make) -> None:
    lifetime = 60_000  # market ms; the sim would close at 24 h, we rotate at ~23/24 of this
    conn, rec = await make(
        SimOptions(n_spot=30, n_futures=20, speed=30),
        ROTATING,
        rotation=RotationPolicy().scaled(lifetime),
        backoff=FAST_BACKOFF,
    )
    await until(lambda: live(conn), what="LIVE")
    await until(lambda: conn.stats.rotations >= 2, limit_s=15, what="two rotations")
    st = conn.stats
    assert st.reconnects == 0 and rec.gaps == []
    assert st.pongs >= 1  # the sim pings every 20 s of market time; unanswered pings would be violations
    assert rec.states() == [LinkState.RECONNECTING, LinkState.CONNECTED]  # never left CONNECTED
    closed = rec.closed_klines()
    assert closed and len(closed) == len(set(closed))
    trades = [(e.symbol, e.aggregated, e.trade_id) for e in rec.events if isinstance(e, Trade)]
    assert len(trades) == len(set(trades))
    sim = sim_of(conn)
    await until(lambda: len(sim.hub.conns) == 1, what="old socket closed")
    assert (await sim_status(sim))["violations"] == {}


# --- throttling ---------------------------------------------------------------------------------------


async def test_handshake_429_throttles_and_waits_retry_after(make: Make, sim_factory: SimFactory) -> None:
    sim = await sim_factory(SimOptions(n_spot=30, n_futures=20, speed=40, connection_attempts_per_5m=1), fake=False)
    attempts: list[int] = []

    async def counting(url: str, handler: LinkHandler) -> Link:
        attempts.append(sim.ctx.clock.now_ms())
        return await connect_picows(url, handler)

    conn, rec = await make(SimOptions(), ["btcusdt@kline_1m"], sim=sim, connector=counting, backoff=FAST_BACKOFF)
    await until(lambda: live(conn), what="LIVE")
    await fault(sim, "drop")
    await until(lambda: LinkState.THROTTLED in rec.states(), what="THROTTLED")
    assert len(attempts) == 2
    throttled_until = conn.stats.throttled_until_ms
    assert throttled_until is not None and throttled_until - attempts[1] >= DEFAULT_429_MS  # no Retry-After: 60 s
    await until(lambda: len(attempts) >= 3, limit_s=10, what="the attempt after Retry-After")
    assert attempts[2] >= throttled_until


# --- close and recovery time --------------------------------------------------------------------------


async def test_close_is_graceful_and_leaves_nothing_running(sim_factory: SimFactory) -> None:
    sim = await sim_factory(SimOptions(n_spot=30, n_futures=20, speed=5), fake=False)
    rec = Recorder()
    conn = StreamConnection(
        conn_id="c9",
        venue=Venue.SPOT,
        category=Category.SPOT,
        ws_base=sim.ws_url,
        streams=["btcusdt@trade"],
        parser=FrameParser(Venue.SPOT),
        clock=sim.ctx.clock,
        on_events=rec.on_events,
        on_status=rec.on_status,
    )
    before = asyncio.all_tasks()
    task = asyncio.create_task(conn.run())
    await until(lambda: live(conn), what="LIVE")
    await conn.close()
    assert task.done() and task.exception() is None
    assert asyncio.all_tasks() - before - {asyncio.current_task()} == set()
    assert conn.phase is Phase.CLOSED and rec.states()[-1] == LinkState.DISCONNECTED
    await until(lambda: not sim.hub.conns, what="server saw the close")


async def test_recovery_time_after_drops(make: Make) -> None:
    conn, _ = await make(
        SimOptions(n_spot=30, n_futures=20, speed=1), ["btcusdt@kline_1m", "ethusdt@trade"], backoff=FAST_BACKOFF
    )
    sim = sim_of(conn)
    loop = asyncio.get_running_loop()
    await until(lambda: live(conn), what="LIVE")
    times: list[float] = []
    for i in range(20):
        t0 = loop.time()
        await fault(sim, "drop")
        await until(lambda i=i: conn.stats.reconnects == i + 1 and live(conn), what=f"recovery {i}")  # type: ignore[misc]
        times.append(loop.time() - t0)
    times.sort()
    p50, p99 = statistics.median(times), times[min(len(times) - 1, round(0.99 * len(times)))]
    print(f"\nrecovery drop->LIVE over {len(times)} drops: p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms")
    assert p99 < 5.0
    assert (await sim_status(sim))["violations"] == {}
