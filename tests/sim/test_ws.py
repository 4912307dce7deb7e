"""WebSocket conformance of the simulator over real loopback sockets, with a plain websockets client."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from wsclient import Muted, Watched, recv_json, request, status, ws_connect

from cryptoscan.sim.options import SimOptions
from cryptoscan.sim.server import SimServer
from helpers import until
from simfakes import SimFactory


async def test_raw_path_single_and_multiple(sim: SimServer) -> None:
    async with ws_connect(sim, "/ws/btcusdt@trade") as ws:
        msg = await recv_json(ws)
        assert msg["e"] == "fake" and msg["s"] == "btcusdt@trade"
    async with ws_connect(sim, "/ws/btcusdt@trade/ethusdt@trade") as ws:
        seen = {(await recv_json(ws))["s"] for _ in range(6)}
        assert seen == {"btcusdt@trade", "ethusdt@trade"}


async def test_combined_envelope(sim: SimServer) -> None:
    async with ws_connect(sim, "/stream?streams=btcusdt@trade/ethusdt@kline_1m") as ws:
        msgs = [await recv_json(ws) for _ in range(6)]
    assert {m["stream"] for m in msgs} == {"btcusdt@trade", "ethusdt@kline_1m"}
    assert all(set(m) == {"stream", "data"} and m["data"]["s"] == m["stream"] for m in msgs)


async def test_subscribe_list_unsubscribe_and_property(sim: SimServer) -> None:
    async with ws_connect(sim, "/ws") as ws:
        sub = {"method": "SUBSCRIBE", "params": ["btcusdt@trade", "ethusdt@trade"], "id": 1}
        assert await request(ws, sub) == {"result": None, "id": 1}
        assert (await recv_json(ws))["e"] == "fake"
        listed = await request(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 2})
        assert listed == {"result": ["btcusdt@trade", "ethusdt@trade"], "id": 2}
        unsub = {"method": "UNSUBSCRIBE", "params": ["btcusdt@trade"], "id": 3}
        assert await request(ws, unsub) == {"result": None, "id": 3}
        after = [await recv_json(ws) for _ in range(5)]
        assert {m["s"] for m in after} == {"ethusdt@trade"}
        prop = {"method": "SET_PROPERTY", "params": ["combined", True], "id": 4}
        assert await request(ws, prop) == {"result": None, "id": 4}
        wrapped = await recv_json(ws)
        assert wrapped["stream"] == "ethusdt@trade" and wrapped["data"]["e"] == "fake"


async def test_error_shapes_on_the_wire(sim: SimServer) -> None:
    async with ws_connect(sim, "/market/ws") as ws:  # futures: 10 messages per second
        bad_stream = await request(ws, {"method": "SUBSCRIBE", "params": ["nosuch@trade"], "id": 5})
        assert bad_stream == {"error": {"code": 2, "msg": "Invalid request: invalid stream"}, "id": 5}
        await ws.send("{oops")
        bad_json = await recv_json(ws)
        assert bad_json["error"]["code"] == 3 and bad_json["error"]["msg"].startswith("Invalid JSON")
        bad_method = await request(ws, {"method": "PUBLISH", "id": 6})
        assert bad_method["error"]["code"] == 2 and "unknown variant `PUBLISH`" in bad_method["error"]["msg"]
        bad_prop = await request(ws, {"method": "GET_PROPERTY", "params": ["x"], "id": 7})
        assert bad_prop == {"error": {"code": 0, "msg": "Unknown property"}, "id": 7}
        bad_value = await request(ws, {"method": "SET_PROPERTY", "params": ["combined", 1], "id": 8})
        assert bad_value["error"] == {"code": 1, "msg": "Invalid value type: expected Boolean"}
        assert await request(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 9}) == {"result": [], "id": 9}


async def test_unknown_stream_in_url_is_refused(sim: SimServer) -> None:
    with pytest.raises(InvalidStatus) as info:
        async with ws_connect(sim, "/ws/nosuch@trade"):
            pass
    assert info.value.response.status_code == 400
    assert json.loads(info.value.response.body or b"{}") == {"code": 2, "msg": "Invalid request: invalid stream"}


async def test_futures_stream_on_wrong_path_is_acknowledged_but_silent(sim: SimServer) -> None:
    async with ws_connect(sim, "/public/ws") as wrong, ws_connect(sim, "/market/ws") as right:
        sub = {"method": "SUBSCRIBE", "params": ["btcusdt@kline_1m"], "id": 1}
        assert await request(wrong, sub) == {"result": None, "id": 1}
        assert await request(right, sub) == {"result": None, "id": 1}
        listed = await request(wrong, {"method": "LIST_SUBSCRIPTIONS", "id": 2})
        assert listed["result"] == ["btcusdt@kline_1m"]
        for _ in range(5):
            assert (await recv_json(right))["s"] == "btcusdt@kline_1m"
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(wrong.recv(), 0.05)


async def test_book_streams_flow_on_public_path(sim: SimServer) -> None:
    async with ws_connect(sim, "/public/stream?streams=btcusdt@bookTicker") as ws:
        assert (await recv_json(ws))["stream"] == "btcusdt@bookTicker"


async def test_message_rate_limit_closes(sim_factory: SimFactory) -> None:
    sim = await sim_factory(SimOptions(speed=1.0))
    async with ws_connect(sim, "/ws") as ws:
        for _ in range(6):
            await ws.ping()
        with pytest.raises(ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), 5)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1008
    assert (await status(sim))["violations"] == {"message_rate": 1}


async def test_stream_limit_is_configurable(sim_factory: SimFactory) -> None:
    sim = await sim_factory(SimOptions(streams_per_connection=2))
    async with ws_connect(sim, "/ws/btcusdt@trade/ethusdt@trade") as ws:
        answer = await request(ws, {"method": "SUBSCRIBE", "params": ["btcusdt@kline_1m"], "id": 1})
        assert answer == {"error": {"code": 2, "msg": "Invalid request: too many streams; current limit is 2"}, "id": 1}
    with pytest.raises(InvalidStatus) as info:
        async with ws_connect(sim, "/stream?streams=btcusdt@trade/ethusdt@trade/btcusdt@ticker"):
            pass
    assert info.value.response.status_code == 400
    assert (await status(sim))["violations"] == {"streams_per_connection": 2}


async def test_connection_attempts_limit_gives_429(sim_factory: SimFactory) -> None:
    sim = await sim_factory(SimOptions(connection_attempts_per_5m=2))
    for _ in range(2):
        async with ws_connect(sim, "/ws"):
            pass
    with pytest.raises(InvalidStatus) as info:
        async with ws_connect(sim, "/ws"):
            pass
    assert info.value.response.status_code == 429
    assert (await status(sim))["violations"] == {"connection_attempts": 1}


async def test_pings_on_schedule_and_pongs_keep_it_open(sim_factory: SimFactory) -> None:
    sim = await sim_factory(SimOptions(speed=2000.0))  # a 20 s ping interval lasts 10 ms
    async with ws_connect(sim, "/ws") as ws:
        assert isinstance(ws, Watched)
        start = sim.ctx.clock.now_ms()
        await until(lambda: ws.pings >= 8)
        elapsed = sim.ctx.clock.now_ms() - start
        assert elapsed >= 8 * 20_000 - 20_000  # never faster than one ping per 20 s market time
        assert await request(ws, {"method": "LIST_SUBSCRIPTIONS", "id": 1}) == {"result": [], "id": 1}
    assert (await status(sim))["violations"] == {}


async def test_missing_pong_closes(sim_factory: SimFactory) -> None:
    sim = await sim_factory(SimOptions(speed=2000.0))
    async with ws_connect(sim, "/ws", Muted) as ws:
        with pytest.raises(ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), 5)
        assert isinstance(ws, Watched) and ws.pings >= 1
    assert info.value.rcvd is not None and info.value.rcvd.code == 1008
    assert (await status(sim))["violations"] == {"pong_timeout": 1}


async def test_lifetime_ends_with_server_shutdown(sim_factory: SimFactory) -> None:
    sim = await sim_factory(SimOptions(speed=100.0, lifetime_ms=5_000))
    async with ws_connect(sim, "/stream") as ws:
        event = await recv_json(ws)
        assert event["stream"] == "!serverShutdown" and event["data"]["e"] == "serverShutdown"
        with pytest.raises(ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), 5)
    assert info.value.rcvd is not None and info.value.rcvd.code == 1001


async def test_graceful_stop_closes_with_1001(sim: SimServer) -> None:
    async with ws_connect(sim, "/ws/btcusdt@trade") as ws:
        await recv_json(ws)
        await sim.stop()
        with pytest.raises(ConnectionClosed) as info:
            while True:
                await asyncio.wait_for(ws.recv(), 5)
    assert info.value.rcvd is not None and info.value.rcvd.code == 1001


async def test_status_lists_connections(sim: SimServer) -> None:
    async with ws_connect(sim, "/stream?streams=btcusdt@trade") as ws:
        for _ in range(3):
            await recv_json(ws)
        st = await status(sim)
    [conn] = st["connections"]
    assert conn["path"] == "/stream?streams=btcusdt@trade" and conn["streams"] == ["btcusdt@trade"]
    assert conn["state"] == "open" and conn["messages_sent"] >= 3 and conn["combined"] is True
    assert st["counters"]["ws.messages_sent"] >= 3
