"""RedisSink against a real, throwaway redis-server: every key and TTL of the contract, trimming, duplicates,
late bars, the announcement channel, and outages (server killed and restarted on the same port)."""

from __future__ import annotations

import asyncio
import json

import redis.asyncio as aioredis
from redis_events import T0, account, depth, kline, mark, mini, order, ticker
from redis_proc import RedisFactory, RedisProcess

from cryptoscan.feed.backoff import BackoffPolicy
from cryptoscan.sinks.redis import RedisSink
from cryptoscan.sinks.redis.ordered import INSERT_LUA, Insert
from helpers import until

FAST = BackoffPolicy(initial_ms=10, factor=2.0, max_ms=200, jitter=0.5)


def make_sink(server: RedisProcess, **kw: object) -> RedisSink:
    return RedisSink(server.url, backoff=FAST, **kw)  # type: ignore[arg-type]


async def drained(sink: RedisSink, limit_s: float = 10.0) -> None:
    await until(lambda: sink.stats.pending == 0 and sink.stats.connected, limit_s, "sink drained")


async def ids(r: aioredis.Redis, key: str) -> list[int]:
    return [int(i.split(b"-")[0]) for i, _ in await r.xrange(key)]


async def test_every_key_of_the_contract_with_its_value_and_ttl(redis_server: RedisProcess,
                                                                rclient: aioredis.Redis) -> None:
    async with make_sink(redis_server) as sink:
        for ev in (mark(), depth(), mini(), ticker(), kline(closed=True), kline(venue="spot"), order(),
                   account(), account("LONG")):
            sink.offer(ev)
        sink.put_json("scanner:top", {"rows": ["BTCUSDT"]}, ttl_s=15)
        sink.append("alerts", {"symbol": "BTCUSDT", "score": 0.9}, maxlen=100)
        await drained(sink)
        st = sink.stats
        assert st.written == 13 and st.dropped == 0 and st.errors == 0 and st.batches >= 1

    async def value(key: str, ttl_ms: int) -> dict[str, object]:
        pttl = await rclient.pttl(key)
        assert ttl_ms - 5_000 < pttl <= ttl_ms, f"{key}: PTTL {pttl}, expected about {ttl_ms}"
        raw = await rclient.get(key)
        assert raw is not None, key
        v: dict[str, object] = json.loads(raw)
        return v

    assert await value("websocket:mark_price:btcusdt", 60_000) == {
        "mark_price": 50_000.5, "timestamp": T0, "source": "websocket"}
    book = await value("websocket:orderbook:btcusdt:20", 60_000)
    assert set(book) == {"bids", "asks", "timestamp", "source"} and len(book["bids"]) == 20  # type: ignore[arg-type]
    assert (await value("websocket:ticker:btcusdt", 60_000))["last_price"] == 105.0
    assert (await value("websocket:spot:ticker:btcusdt", 60_000))["best_ask"] == 105.1
    assert (await value("websocket:kline:btcusdt:1m", 180_000))["closed"] is True
    assert (await value("websocket:spot:kline:btcusdt:1m", 180_000))["open_time"] == T0
    assert (await value("websocket:position:btcusdt", 300_000))["amount"] == 0.01
    assert (await value("websocket:position:btcusdt:long", 300_000))["side"] == "LONG"
    assert await value("websocket:scanner:top", 15_000) == {"rows": ["BTCUSDT"]}
    for stream in ("websocket:klines:btcusdt:1m", "websocket:spot:klines:btcusdt:1m"):
        ((entry_id, fields),) = await rclient.xrange(stream)
        assert entry_id == f"{T0}-0".encode() and fields[b"close"] == b"100.5"
        assert await rclient.ttl(stream) == -1  # streams are bounded by MAXLEN, not by time
    ((_, o),) = await rclient.xrange("websocket:orders:btcusdt")
    assert o[b"order_id"] == b"1" and o[b"status"] == b"NEW" and json.loads(o[b"data"])["order_id"] == 1
    ((_, alert),) = await rclient.xrange("websocket:alerts")
    assert alert == {b"symbol": b"BTCUSDT", b"score": b"0.9"}


async def test_order_stream_is_trimmed_near_1000(redis_server: RedisProcess, rclient: aioredis.Redis) -> None:
    async with make_sink(redis_server) as sink:
        for i in range(2500):
            sink.offer(order(order_id=i))
        assert await sink.flush(10)
        assert sink.stats.written == 2500
    n = await rclient.xlen("websocket:orders:btcusdt")
    assert 1000 <= n <= 1100, n  # MAXLEN ~ trims whole nodes (100 entries each by default)
    last = (await rclient.xrevrange("websocket:orders:btcusdt", count=1))[0][1]
    assert last[b"order_id"] == b"2499"


async def test_a_repeated_closed_kline_is_counted_not_added(redis_server: RedisProcess,
                                                            rclient: aioredis.Redis) -> None:
    async with make_sink(redis_server) as sink:
        sink.offer(kline(open_time=T0))
        sink.offer(kline(open_time=T0))  # the same batch
        await drained(sink)
        sink.offer(kline(open_time=T0))  # a later batch
        await drained(sink)
        assert sink.stats.duplicates == 2 and sink.stats.errors == 0
    assert await ids(rclient, "websocket:klines:btcusdt:1m") == [T0]


async def test_late_closed_klines_are_put_in_order(redis_server: RedisProcess, rclient: aioredis.Redis) -> None:
    """The aggregator delivers backfilled bars after the newer live bar that revealed the hole."""
    times = [T0 + i * 60_000 for i in range(6)]
    async with make_sink(redis_server) as sink:
        for t in (times[0], times[4], times[5]):
            sink.offer(kline(open_time=t))
        await drained(sink)
        for t in (times[2], times[1], times[3], times[2]):  # the backfill, out of order, one repeated
            sink.offer(kline(open_time=t))
        await drained(sink)
        st = sink.stats
        assert (st.late_inserts, st.duplicates, st.errors) == (3, 1, 0)
    assert await ids(rclient, "websocket:klines:btcusdt:1m") == times
    latest = json.loads(await rclient.get("websocket:kline:btcusdt:1m") or b"{}")
    assert latest["open_time"] == times[5]  # the late bars did not overwrite the newest one


async def test_insert_script_refuses_bars_older_than_a_full_stream(rclient: aioredis.Redis) -> None:
    insert = rclient.register_script(INSERT_LUA)
    for t in (10, 20, 30):
        assert await insert(keys=["s"], args=[f"{t}-0", 3, "v", str(t)]) == Insert.INSERTED
    assert await insert(keys=["s"], args=["5-0", 3, "v", "5"]) == Insert.STALE
    assert await insert(keys=["s"], args=["20-0", 3, "v", "20"]) == Insert.DUPLICATE
    assert await insert(keys=["s"], args=["25-0", 3, "v", "25"]) == Insert.INSERTED
    entries = await rclient.xrange("s")
    assert [e[0] for e in entries] == [b"10-0", b"20-0", b"25-0", b"30-0"]
    assert [e[1][b"v"] for e in entries] == [b"10", b"20", b"25", b"30"]


async def test_one_announcement_per_batch(redis_server: RedisProcess, rclient: aioredis.Redis) -> None:
    pubsub = rclient.pubsub()
    await pubsub.subscribe("websocket:updates")
    assert (await pubsub.get_message(timeout=5))["type"] == "subscribe"  # type: ignore[index]
    try:
        async with make_sink(redis_server, flush_interval_s=0.05) as sink:
            for i in range(10):
                sink.offer(mark(f"S{i}USDT"))
            sink.offer(kline())
            await drained(sink)
            batches = sink.stats.batches
        messages = []
        while (m := await pubsub.get_message(ignore_subscribe_messages=True, timeout=1)) is not None:
            messages.append(json.loads(m["data"]))
        assert len(messages) == batches >= 1
        kinds: dict[str, set[str]] = {}
        for m in messages:
            for kind, symbols in m["kinds"].items():
                kinds.setdefault(kind, set()).update(symbols)
        assert kinds["mark_price"] == {f"S{i}USDT" for i in range(10)}
        assert kinds["klines"] == {"BTCUSDT"} and sum(m["n"] for m in messages) == 12
    finally:
        await pubsub.aclose()


async def test_an_outage_buffers_then_everything_is_resent(redis_factory: RedisFactory) -> None:
    server = await redis_factory()
    sink = make_sink(server)
    await sink.start()
    try:
        sink.append("alerts", {"i": 0})
        await drained(sink)
        await server.kill()
        for i in range(1, 200):
            sink.append("alerts", {"i": i})
            sink.offer(mark(price=float(i)))
            sink.offer(kline(open_time=T0 + i * 60_000))
        await until(lambda: sink.stats.failures >= 2, 10, "failed attempts while Redis is down")
        st = sink.stats
        assert not st.connected and st.pending == 199 * 2 + 2 and st.reconnects == 0  # two keys coalesced
        await server.start()  # the same port; a volatile server comes back empty
        await drained(sink)
        st = sink.stats
        assert st.reconnects == 1 and st.dropped == 0 and st.errors == 0
        r = server.client()
        try:
            assert [int(f[b"i"]) for _, f in await r.xrange("websocket:alerts")] == list(range(1, 200))
            assert await ids(r, "websocket:klines:btcusdt:1m") == [T0 + i * 60_000 for i in range(1, 200)]
            assert json.loads(await r.get("websocket:mark_price:btcusdt") or b"{}")["mark_price"] == 199.0
        finally:
            await r.aclose()
    finally:
        await sink.stop()


async def test_a_full_buffer_drops_the_oldest_and_counts_it(redis_factory: RedisFactory) -> None:
    server = await redis_factory()
    sink = make_sink(server, max_pending=10)
    await sink.start()
    try:
        await server.kill()
        for i in range(25):
            sink.append("alerts", {"i": i})
        await until(lambda: sink.stats.failures >= 1, 10, "a failed attempt")
        assert sink.stats.dropped == 15
        await server.start()
        await drained(sink)
        r = server.client()
        try:
            assert [int(f[b"i"]) for _, f in await r.xrange("websocket:alerts")] == list(range(15, 25))
        finally:
            await r.aclose()
    finally:
        await sink.stop()


async def test_a_hung_server_times_out_and_the_batch_is_resent(redis_server: RedisProcess,
                                                              rclient: aioredis.Redis) -> None:
    sink = make_sink(redis_server, timeout_s=0.3)
    await sink.start()
    try:
        redis_server.freeze()
        for i in range(50):
            sink.offer(order(order_id=i))
        await until(lambda: sink.stats.failures >= 2, 10, "pipelines time out")
        assert not sink.stats.connected and sink.stats.pending == 50
        redis_server.freeze(False)
        await drained(sink)
        assert sink.stats.reconnects == 1
    finally:
        await sink.stop()
    # a pipeline that timed out may still have been applied when the server woke: at least once, never lost
    ids_seen = {int(f[b"order_id"]) for _, f in await rclient.xrange("websocket:orders:btcusdt")}
    assert ids_seen == set(range(50))


async def test_redis_down_at_start_never_raises_and_stop_gives_up_in_time(redis_factory: RedisFactory) -> None:
    server = await redis_factory()
    await server.kill()
    sink = make_sink(server)
    await sink.start()
    sink.offer(mark())
    sink.offer(order())
    await until(lambda: sink.stats.failures >= 1, 10, "a failed attempt")
    loop = asyncio.get_running_loop()
    t = loop.time()
    await sink.stop(timeout_s=0.3)
    assert loop.time() - t < 3
    st = sink.stats
    assert not st.connected and st.pending == 2 and st.written == 0


async def test_stop_flushes_what_is_pending(redis_server: RedisProcess, rclient: aioredis.Redis) -> None:
    sink = make_sink(redis_server, flush_interval_s=1.0)  # a long linger: only stop() writes
    await sink.start()
    for i in range(300):
        sink.offer(order(order_id=i))
    await sink.stop()
    assert sink.stats.pending == 0
    assert await rclient.xlen("websocket:orders:btcusdt") == 300
