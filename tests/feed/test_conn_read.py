"""The read path per socket read: one burst in, events out once; replies, shutdowns, errors and the watchdog
sorted out of the same burst. A fake link stands in for the socket; the connection, leg, reader and parser
are the production ones."""

from __future__ import annotations

import asyncio
import json
import random

import msgspec

from cryptoscan.clock import ManualClock
from cryptoscan.events import Kline, ServerShutdown
from cryptoscan.feed.conn_parts import ConnOptions, Leg, Reservoir
from cryptoscan.feed.connection import StreamConnection
from cryptoscan.feed.lifecycle import Phase
from cryptoscan.feed.transport import LinkHandler
from cryptoscan.feed.watchdog import Watchdog
from cryptoscan.venues.binance.parser import FrameParser, Parsed
from cryptoscan.venues.binance.spec import Category, Venue
from helpers import until

STREAMS = ["btcusdt@kline_1m", "ethusdt@kline_1m"]


class FakeLink:
    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.closed = False

    def send_text(self, data: bytes) -> None:
        self.sent.append(data)

    def send_pong(self, payload: bytes) -> None:
        pass

    def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def pause_reading(self, paused: bool) -> None:
        pass

    async def wait_closed(self, timeout_s: float = 2.0) -> None:
        pass


def kline_frame(symbol: str, t: int, closed: bool = False) -> bytes:
    k = {"t": t, "T": t + 59_999, "s": symbol, "i": "1m", "f": 1, "L": 2, "o": "1", "c": "2", "h": "3", "l": "0.5"}
    k |= {"v": "1", "n": 3, "x": closed, "q": "1", "V": "1", "Q": "1", "B": "0"}
    data = {"e": "kline", "E": t + 1, "s": symbol, "k": k}
    return json.dumps({"stream": f"{symbol.lower()}@kline_1m", "data": data}, separators=(",", ":")).encode()


SHUTDOWN = b'{"stream":"!serverShutdown","data":{"e":"serverShutdown","E":1}}'


class Rig:
    def __init__(self, parser: FrameParser, clock: ManualClock, watchdog: Watchdog | None = None) -> None:
        self.batches: list[list[Parsed]] = []
        self.handlers: list[LinkHandler] = []
        self.links: list[FakeLink] = []

        async def connector(url: str, handler: LinkHandler) -> FakeLink:
            link = FakeLink()
            self.links.append(link)
            self.handlers.append(handler)
            handler.on_open(link)
            return link

        self.conn = StreamConnection(
            conn_id="c1",
            venue=Venue.SPOT,
            category=Category.SPOT,
            ws_base="ws://fake",
            streams=STREAMS,
            parser=parser,
            clock=clock,
            on_events=lambda evs: self.batches.append(list(evs)),
            on_status=lambda s: None,
            options=ConnOptions(connector=connector, watchdog=watchdog),
        )

    def ack(self) -> bytes:
        """The acknowledgement of the last SUBSCRIBE sent."""
        rid = msgspec.json.decode(self.links[-1].sent[-1])["id"]
        return b'{"result":null,"id":%d}' % rid


async def test_one_burst_with_a_reply_data_and_a_bad_frame() -> None:
    clock = ManualClock()
    rig = Rig(FrameParser(Venue.SPOT), clock)
    task = asyncio.create_task(rig.conn.run())
    try:
        await until(lambda: bool(rig.handlers) and bool(rig.links[0].sent), what="SUBSCRIBE sent")
        leg = rig.handlers[0]
        assert isinstance(leg, Leg)
        t = clock.now_ms() // 60_000 * 60_000
        btc, eth = kline_frame("BTCUSDT", t), kline_frame("ETHUSDT", t)
        burst = [btc, rig.ack(), b"{not json", eth, btc]
        leg.on_texts(burst)
        assert rig.conn.phase is Phase.LIVE  # the reply in the middle of the burst was the connection's
        assert len(rig.batches) == 1  # one call for the whole read
        (events,) = rig.batches
        assert [(type(e), getattr(e, "symbol", None)) for e in events] == [
            (Kline, "BTCUSDT"),
            (Kline, "ETHUSDT"),
            (Kline, "BTCUSDT"),
        ]
        assert all(e.ts_recv == clock.now_ms() for e in events if isinstance(e, Kline))
        st = rig.conn.stats
        assert (st.frames, st.messages, st.parse_errors) == (5, 3, 1)
        assert st.bytes == sum(map(len, burst))
    finally:
        await rig.conn.close()
        await task


async def test_a_shutdown_notice_on_the_hot_path_is_still_seen() -> None:
    """The parser is shared by every connection of a venue: the second connection's notice comes from a stream
    the parser already knows, and must still reach the connection (it rotates at once)."""
    parser = FrameParser(Venue.SPOT)
    parser.parse(SHUTDOWN, 0)  # a first connection saw one before
    clock = ManualClock()
    rig = Rig(parser, clock)
    task = asyncio.create_task(rig.conn.run())
    try:
        await until(lambda: bool(rig.handlers) and bool(rig.links[0].sent), what="SUBSCRIBE sent")
        rig.handlers[0].on_texts([rig.ack()])
        assert rig.conn.phase is Phase.LIVE
        t = clock.now_ms() // 60_000 * 60_000
        rig.handlers[0].on_texts([kline_frame("BTCUSDT", t), SHUTDOWN, kline_frame("ETHUSDT", t)])
        assert any(isinstance(e, ServerShutdown) for e in rig.batches[-1])
        await until(lambda: len(rig.handlers) == 2, what="a replacement socket (rotation)")
    finally:
        await rig.conn.close()
        await task


async def test_streams_heard_in_bursts_reach_the_watchdog_before_it_judges() -> None:
    clock = ManualClock()
    dog = Watchdog(Venue.SPOT, multiple=1.0, grace_ms=0, silence_ms=60_000)  # kline cadence 2 s: stale after 2 s
    rig = Rig(FrameParser(Venue.SPOT), clock, watchdog=dog)
    task = asyncio.create_task(rig.conn.run())
    try:
        await until(lambda: bool(rig.handlers) and bool(rig.links[0].sent), what="SUBSCRIBE sent")
        leg = rig.handlers[0]
        leg.on_texts([rig.ack()])  # LIVE: both streams watched from now
        t = clock.now_ms() // 60_000 * 60_000
        clock.advance(0.3)
        leg.on_texts([kline_frame("BTCUSDT", t)])  # WATCH_EVERY_MS after LIVE's telling: told at once
        clock.advance(0.2)
        leg.on_texts([kline_frame("BTCUSDT", t)])  # within WATCH_EVERY_MS of the last telling: held by the reader
        clock.advance(1.85)  # 2.35 s after LIVE; btcusdt 2.05 s after its first frame, 1.85 s after its second
        now = clock.now_ms()
        assert dog.check(now).streams == ("btcusdt@kline_1m", "ethusdt@kline_1m")  # as the watchdog knows it
        rig.conn._check_watchdog(now)  # what the timer does: tell the watchdog, then judge
        assert rig.conn.stats.stale_streams == 1  # ethusdt only: btcusdt's held frame reached the watchdog first
        assert dog.check(now).streams == ()
    finally:
        await rig.conn.close()
        await task


def test_reservoir_add_events_keeps_what_add_keeps() -> None:
    class Ev:
        def __init__(self, ts: int) -> None:
            self.ts_event = ts

    events = [Ev(i) for i in range(5_000)]
    a_out: list[int] = []
    b_out: list[int] = []
    a = Reservoir(a_out, 64, random.Random(3))
    b = Reservoir(b_out, 64, random.Random(3))
    for ev in events:
        a.add(10_000 - ev.ts_event)
    i, rnd = 0, random.Random(5)
    while i < len(events):
        n = rnd.randint(1, 100)
        b.add_events(events[i : i + n], 10_000)
        i += n
    assert a.seen == b.seen == 5_000
    assert a_out == b_out and len(a_out) == 64
