"""EventRouter: one call per socket read; forming klines coalesced per series, closed klines never lost."""

from __future__ import annotations

import asyncio
import random

from cryptoscan.events import Kline, Venue
from cryptoscan.feed.dispatch import Channel, Dispatcher
from cryptoscan.feed.gaps import GapTracker, KlineRequest
from cryptoscan.feed.router import EventRouter
from cryptoscan.market.state import MarketState
from cryptoscan.venues.binance.parser import Parsed

MIN = 60_000
T0 = 1_700_000_000_000 // MIN * MIN


def kl(symbol: str, bar: int, closed: bool, close: float = 1.0) -> Kline:
    t = T0 + bar * MIN
    return Kline("spot", symbol, "1m", t, t + MIN - 1, 1, 2, 0.5, close, 1, 1, 3, 1, 1, closed, 1, 2, t, t + 5)


class Rig:
    def __init__(self, capacity: int = 1024, high_water: int = 20_000) -> None:
        self.market = MarketState(Venue.SPOT, ("1m",), capacity=100)
        self.dispatcher = Dispatcher(capacity=capacity)
        self.backfills: list[KlineRequest] = []
        self.pauses: list[bool] = []
        self.wake = asyncio.Event()
        self.router = EventRouter(
            {Venue.SPOT: self.market},
            self.dispatcher,
            GapTracker(),
            self.backfills.extend,
            self.pauses.append,
            notify=self.wake.set,
            high_water=high_water,
        )
        self.router.watch[Venue.SPOT] = frozenset({"BTCUSDT", "ETHUSDT", "SOLUSDT"})
        self.seen: list[Kline] = []

    def listen(self) -> None:
        self.dispatcher.register(Channel.KLINE, self.seen.append, name="seen")

    async def drain(self) -> None:
        await self.router.pump()
        await self.dispatcher.stop(drain=True)

    def forming(self, symbol: str) -> Kline | None:
        ring = self.market.ring(symbol, "1m")
        return None if ring is None else ring.forming

    def closed_bars(self, symbol: str) -> list[int]:
        w = self.market.last_n(symbol, "1m", 100)
        return [(int(t) - T0) // MIN for t in w.open_time]


async def test_a_read_keeps_every_closed_kline_and_the_newest_forming_one() -> None:
    rig = Rig()
    rig.listen()
    burst: list[Parsed] = [
        kl("BTCUSDT", 0, False, 1.0),
        kl("BTCUSDT", 0, False, 1.1),
        kl("ETHUSDT", 0, False, 5.0),
        kl("BTCUSDT", 0, True, 1.2),  # supersedes the two forming values of its bar
        kl("BTCUSDT", 1, False, 1.3),
        kl("BTCUSDT", 1, False, 1.4),
        kl("ETHUSDT", 0, False, 5.1),
    ]
    rig.dispatcher.start()
    rig.router.route(burst)
    st = rig.router.stats
    assert (st.events, st.closed_klines, st.coalesced_klines, st.unwatched) == (7, 1, 4, 0)
    assert rig.closed_bars("BTCUSDT") == [0]
    btc, eth = rig.forming("BTCUSDT"), rig.forming("ETHUSDT")
    assert btc is not None and (btc.open_time, btc.close) == (T0 + MIN, 1.4)
    assert eth is not None and eth.close == 5.1
    assert rig.market.rejected()["stale_open"] == 0  # nothing superseded reached the ring
    await rig.drain()
    got = [(k.symbol, (k.open_time - T0) // MIN, k.closed, k.close) for k in rig.seen]
    assert got == [("BTCUSDT", 0, True, 1.2), ("ETHUSDT", 0, False, 5.1), ("BTCUSDT", 1, False, 1.4)]


async def test_a_forming_kline_of_the_next_bar_is_not_superseded_by_an_older_closed_one() -> None:
    rig = Rig()
    rig.router.route([kl("BTCUSDT", 0, False), kl("BTCUSDT", 1, False, 2.0), kl("BTCUSDT", 0, True)])
    assert rig.closed_bars("BTCUSDT") == [0]
    k = rig.forming("BTCUSDT")
    assert k is not None and (k.open_time, k.close) == (T0 + MIN, 2.0)
    assert rig.router.stats.coalesced_klines == 1


async def test_one_call_per_read_ends_where_one_call_per_message_ends() -> None:
    """Same market state, same counters (except what was coalesced) and the same closed klines delivered."""
    rnd = random.Random(7)
    stream: list[Kline] = []
    bars = dict.fromkeys(("BTCUSDT", "ETHUSDT", "SOLUSDT"), 0)
    for _ in range(2_000):
        sym = rnd.choice(list(bars))
        if rnd.random() < 0.1:
            stream.append(kl(sym, bars[sym], True, rnd.random()))
            bars[sym] += 1
        else:
            stream.append(kl(sym, bars[sym], False, rnd.random()))
    one, many = Rig(), Rig()
    one.listen()
    many.listen()
    for ev in stream:
        one.router.route([ev])
    i = 0
    while i < len(stream):
        n = rnd.randint(1, 300)
        many.router.route(list(stream[i : i + n]))
        i += n
    for rig in (one, many):
        rig.dispatcher.start()
        await rig.drain()
    a, b = one.router.stats, many.router.stats
    assert (a.events, a.closed_klines, a.duplicate_klines, a.unwatched) == (b.events, b.closed_klines, 0, 0)
    assert a.coalesced_klines == 0 < b.coalesced_klines
    for sym in bars:
        assert one.closed_bars(sym) == many.closed_bars(sym) == list(range(bars[sym]))
        assert one.forming(sym) == many.forming(sym)
    closed = [k for k in stream if k.closed]
    assert [k for k in one.seen if k.closed] == [k for k in many.seen if k.closed] == closed
    for rig in (one, many):  # never a forming kline delivered after its closed one
        last_closed: dict[str, int] = {}
        for k in rig.seen:
            if k.closed:
                last_closed[k.symbol] = k.open_time
            else:
                assert k.open_time > last_closed.get(k.symbol, -1)


async def test_unwatched_and_duplicate_klines_are_each_counted() -> None:
    rig = Rig()
    rig.listen()
    rig.dispatcher.start()
    rig.router.route([kl("XRPUSDT", 0, False), kl("XRPUSDT", 0, False), kl("XRPUSDT", 0, True)])
    rig.router.route([kl("BTCUSDT", 0, True), kl("BTCUSDT", 0, False), kl("BTCUSDT", 0, True)])
    st = rig.router.stats
    assert (st.unwatched, st.closed_klines, st.duplicate_klines, st.events) == (3, 1, 1, 6)
    assert rig.market.ring("XRPUSDT", "1m") is None
    assert rig.market.rejected()["stale_open"] == 1  # the forming kline of a bar already closed
    await rig.drain()
    assert [(k.symbol, k.closed) for k in rig.seen] == [("BTCUSDT", True)]


async def test_closed_klines_queue_behind_the_pump_and_keep_their_order() -> None:
    """Straight to the consumer while it has room and nothing waits; queued (and paused at the high-water mark)
    otherwise, and never overtaking what the pump holds."""
    rig = Rig(capacity=2, high_water=4)
    gate = asyncio.Event()
    seen: list[Kline] = []

    async def slow(k: Kline) -> None:
        seen.append(k)
        await gate.wait()

    consumer = rig.dispatcher.register(Channel.KLINE, slow, name="slow")
    rig.dispatcher.start()
    rig.router.route([kl("BTCUSDT", 0, True), kl("BTCUSDT", 1, True)])
    assert len(rig.router.reliable) == 0 and consumer.depth == 2  # both taken at once
    rig.router.route([kl("BTCUSDT", b, True) for b in range(2, 8)])
    assert len(rig.router.reliable) == 6 and rig.pauses == [True]  # the consumer is full: queued, reading paused
    pump = asyncio.create_task(rig.router.pump())
    await asyncio.sleep(0)
    gate.set()
    rig.router.route([kl("BTCUSDT", 8, True)])  # the pump holds bar 2 or later: bar 8 must queue behind it
    assert rig.router.reliable[-1].open_time == T0 + 8 * MIN
    await pump
    await rig.router.pump()
    await rig.dispatcher.stop(drain=True)
    assert [(k.open_time - T0) // MIN for k in seen] == list(range(9))
    assert rig.pauses == [True, False]
