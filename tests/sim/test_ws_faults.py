"""Fault injection, replay of a real recording and the control API, over real loopback sockets."""

from __future__ import annotations

import asyncio
import gzip
import itertools
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed
from wsclient import post, recv_json, status, ws_connect

from cryptoscan.sim.options import SimOptions
from cryptoscan.sim.replay import ReplaySource
from cryptoscan.sim.server import SimServer
from cryptoscan.venues.binance.spec import Venue
from simfakes import FakeMarket, SimFactory

DATA = Path("/work/shared/data/binance/ws")
SPOT_FILE = DATA / "spot_2021-04-04_3pairs.replay.jsonl.gz"
USDM_FILE = DATA / "usdm_2021-07-22_4pairs.replay.jsonl.gz"


async def fault(sim: SimServer, kind: str, **extra: Any) -> dict[str, Any]:
    conn_id = (await status(sim))["connections"][0]["id"]
    resp = await post(sim, "/sim/faults", {"kind": kind, "target": conn_id, **extra})
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    assert body["connections"] == [conn_id]
    return body


async def fault_count(sim: SimServer, kind: str) -> int:
    counters: dict[str, int] = (await status(sim))["counters"]
    return counters.get(f"fault.{kind}", 0)


async def texts(ws: ClientConnection, n: int) -> list[str]:
    return [str(await asyncio.wait_for(ws.recv(), 5)) for _ in range(n)]


async def test_drop_closes_tcp_without_close_frame(sim: SimServer) -> None:
    async with ws_connect(sim, "/ws/btcusdt@trade") as ws:
        await recv_json(ws)
        await fault(sim, "drop")
        with pytest.raises(ConnectionClosed) as info:
            while True:
                await asyncio.wait_for(ws.recv(), 5)
    assert info.value.rcvd is None
    assert await fault_count(sim, "drop") == 1


async def test_stall_sends_nothing_for_its_duration(sim: SimServer) -> None:
    async with ws_connect(sim, "/ws/btcusdt@trade") as ws:
        await recv_json(ws)
        t0 = (await fault(sim, "stall", duration_ms=300))["at_ms"]  # market time the stall took effect
        while (msg := await recv_json(ws))["E"] < t0:  # frames already on the wire
            pass
        assert msg["E"] >= t0 + 300
    assert await fault_count(sim, "stall") == 1


async def test_delay_holds_then_releases_everything_in_order(sim: SimServer) -> None:
    async with ws_connect(sim, "/ws/btcusdt@trade") as ws:
        first = await recv_json(ws)
        before = sim.ctx.clock.now_ms()  # the delay starts after this...
        await fault(sim, "delay", duration_ms=300)
        after = sim.ctx.clock.now_ms()  # ...and before this: a message stamped later was surely held
        seqs = [first["n"]]
        while True:
            msg = await recv_json(ws)
            seqs.append(msg["n"])
            if msg["E"] >= after:
                break
        assert sim.ctx.clock.now_ms() >= before + 300  # the held message came out only after the delay
        seqs += [(await recv_json(ws))["n"] for _ in range(3)]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # nothing lost, nothing out of order


async def test_duplicate_sends_one_message_twice(sim: SimServer) -> None:
    async with ws_connect(sim, "/ws/btcusdt@trade") as ws:
        await recv_json(ws)
        await fault(sim, "duplicate")
        msgs = [json.loads(t) for t in await texts(ws, 12)]
    seqs = [m["n"] for m in msgs]
    repeats = [a for a, b in itertools.pairwise(seqs) if a == b]
    assert len(repeats) == 1
    assert sorted(set(seqs)) == list(range(seqs[0], seqs[-1] + 1))


async def test_reorder_swaps_two_messages(sim: SimServer) -> None:
    async with ws_connect(sim, "/ws/btcusdt@trade/ethusdt@trade") as ws:
        await recv_json(ws)
        await fault(sim, "reorder")
        seqs = [json.loads(t)["n"] for t in await texts(ws, 12)]
    drops = [i for i in range(1, len(seqs)) if seqs[i] < seqs[i - 1]]
    assert len(drops) == 1
    assert sorted(seqs) == list(range(min(seqs), max(seqs) + 1))


async def test_malformed_frame_then_data_continues(sim: SimServer) -> None:
    async with ws_connect(sim, "/ws/btcusdt@trade") as ws:
        await recv_json(ws)
        await fault(sim, "malformed")
        received = await texts(ws, 8)
    bad = []
    for text in received:
        try:
            json.loads(text)
        except ValueError:
            bad.append(text)
    assert len(bad) == 1
    assert json.loads(received[-1])["e"] == "fake"


async def test_shutdown_fault_sends_server_shutdown_then_closes(sim: SimServer) -> None:
    async with ws_connect(sim, "/ws/btcusdt@trade") as ws:
        await recv_json(ws)
        await fault(sim, "shutdown")
        while (await recv_json(ws)).get("e") != "serverShutdown":
            pass
        with pytest.raises(ConnectionClosed) as info:
            while True:
                await asyncio.wait_for(ws.recv(), 5)
    assert info.value.rcvd is not None and info.value.rcvd.code == 1001


@pytest.mark.parametrize(("kind", "code"), [("rest_429", 429), ("rest_418", 418), ("rest_5xx", 503)])
async def test_rest_faults(sim: SimServer, kind: str, code: int) -> None:
    assert (await post(sim, "/sim/faults", {"kind": kind, "count": 2})).json() == {"kind": kind, "armed": 2}
    async with httpx.AsyncClient(base_url=sim.url) as http:
        codes = [(await http.get("/api/v3/ping")).status_code for _ in range(3)]
    assert codes == [code, code, 200]
    assert await fault_count(sim, kind) == 2


async def test_scheduled_faults_from_options(sim_factory: SimFactory) -> None:
    sim = await sim_factory(SimOptions(speed=20.0, faults=["drop:1"], fault_seed=3))
    async with ws_connect(sim, "/ws/btcusdt@trade") as ws:
        with pytest.raises(ConnectionClosed):
            while True:
                await asyncio.wait_for(ws.recv(), 5)
    assert await fault_count(sim, "drop") >= 1


async def test_bad_fault_requests_get_400(sim: SimServer) -> None:
    for body in ({"kind": "explode"}, {"kind": "drop", "count": 0}, {"kind": "drop", "target": "c999"}, [1]):
        resp = await post(sim, "/sim/faults", body)
        assert resp.status_code == 400 and resp.json()["error"]
    async with httpx.AsyncClient(base_url=sim.url) as http:
        resp = await http.post("/sim/faults", content=b"{nope")
    assert resp.status_code == 400 and "JSON" in resp.json()["error"]


async def test_burst_and_symbol_status_reach_the_market(sim: SimServer) -> None:
    ok = await post(sim, "/sim/burst", {"venue": "futures", "symbol": "btcusdt", "pct": 5, "duration_ms": 60000})
    assert ok.status_code == 200
    assert (
        await post(sim, "/sim/symbols/status", {"venue": "spot", "symbol": "ETHUSDT", "status": "BREAK"})
    ).is_success
    market = sim.ctx.market
    assert isinstance(market, FakeMarket)
    assert [c[0] for c in market.calls] == ["inject_burst", "set_status"]
    assert market.calls[0][1][:4] == (Venue.FUTURES, "BTCUSDT", 5.0, 60000)
    assert market.calls[1][1] == (Venue.SPOT, "ETHUSDT", "BREAK")
    bad = await post(sim, "/sim/burst", {"venue": "moon", "symbol": "X", "pct": 1, "duration_ms": 1})
    assert bad.status_code == 400 and "venue" in bad.json()["error"]
    missing = await post(sim, "/sim/burst", {"venue": "spot", "symbol": "X", "duration_ms": 1})
    assert missing.status_code == 400 and "pct" in missing.json()["error"]


async def test_private_stream_gets_account_events(sim: SimServer) -> None:
    async with httpx.AsyncClient(base_url=sim.url, headers={"X-MBX-APIKEY": "k"}) as http:
        key = (await http.post("/fapi/v1/listenKey")).json()["listenKey"]
    path = f"/private/ws?listenKey={key}&events=ORDER_TRADE_UPDATE/ACCOUNT_UPDATE"
    async with ws_connect(sim, path) as ws:
        order = {"symbol": "BTCUSDT", "side": "BUY", "quantity": 0.01, "price": 30000}
        assert (await post(sim, "/sim/account/orders", order)).status_code == 200
        events = [(await recv_json(ws))["e"] for _ in range(3)]
        assert events == ["ORDER_TRADE_UPDATE", "ORDER_TRADE_UPDATE", "ACCOUNT_UPDATE"]
        assert (await post(sim, "/sim/account/config", {"symbol": "BTCUSDT", "leverage": 5})).status_code == 200
        assert (await recv_json(ws))["e"] == "ACCOUNT_CONFIG_UPDATE"
        assert (await post(sim, "/sim/account/margin_call", {})).status_code == 200
        assert (await recv_json(ws))["e"] == "MARGIN_CALL"
        assert (await post(sim, "/sim/account/expire_listen_keys", {})).status_code == 200
        assert (await recv_json(ws))["e"] == "listenKeyExpired"
    bad = await post(sim, "/sim/account/orders", {"symbol": "BTCUSDT", "side": "HOLD", "quantity": 1, "price": 1})
    assert bad.status_code == 400


def _first_lines(path: Path, stream: str, n: int) -> list[Any]:
    out = []
    with gzip.open(path, "rt") as fh:
        for line in fh:
            rec = json.loads(line)
            if rec["stream"] == stream:
                out.append(rec["data"])
                if len(out) == n:
                    break
    return out


async def test_replay_of_a_real_recording(sim_factory: SimFactory) -> None:
    sim = await sim_factory(SimOptions(replay=SPOT_FILE, replay_speed=0))
    stream = "btcusdt@aggTrade"
    expected = _first_lines(SPOT_FILE, stream, 20)
    async with ws_connect(sim, f"/stream?streams={stream}") as ws:
        got = [await recv_json(ws) for _ in range(20)]
    assert [g["stream"] for g in got] == [stream] * 20
    assert [g["data"] for g in got] == expected


def test_replay_maps_venue_by_filename_and_paces() -> None:
    src = ReplaySource(USDM_FILE, speed=1.0)
    assert src.knows(Venue.FUTURES, "sushiusdt@bookTicker")
    assert not src.knows(Venue.SPOT, "sushiusdt@bookTicker")
    wanted = {Venue.FUTURES: src.streams(Venue.FUTURES)}
    t0 = 1_000_000
    first = src.poll(t0, wanted)
    assert len(first) == 1  # only the first recorded message is due at the start
    later = src.poll(t0 + 1000, wanted)
    assert 1 < len(later) < len(src)
    assert all(v is Venue.FUTURES for v, _, _ in later)
