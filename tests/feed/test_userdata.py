"""UserDataStream against the real simulator over loopback: typed events, key renewal, keepalive, drops.

The client reads the sim's ScaledClock; a high ``speed`` makes 30-minute keepalives and 60-minute key
lifetimes pass in about a second. Waits are bounded polls of a condition.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from pydantic import SecretStr

from cryptoscan.events import AccountUpdate, ConnectionStatus, ListenKeyExpired, OrderUpdate, UserEvent
from cryptoscan.feed.backoff import Backoff, BackoffPolicy
from cryptoscan.feed.rest import BinanceRest
from cryptoscan.feed.userdata import UserDataStream
from cryptoscan.sim.options import SimOptions
from cryptoscan.sim.server import SimServer
from helpers import until
from simfakes import SimFactory

KEY = SecretStr("udkey42")
FAST = BackoffPolicy(initial_ms=50, max_ms=200)


async def _post(sim: SimServer, path: str, body: dict[str, Any] | None = None) -> Any:
    async with httpx.AsyncClient(base_url=sim.url) as c:
        r = await c.post(path, json=body or {})
        assert r.status_code == 200, r.text
        return r.json()


class Harness:
    def __init__(self, sim: SimServer, **kw: Any) -> None:
        self.events: list[UserEvent] = []
        self.statuses: list[ConnectionStatus] = []
        self.rest = BinanceRest(sim.url, clock=sim.ctx.clock)
        self.stream = UserDataStream(
            self.rest,
            sim.ws_url,
            self.events.append,
            api_key=KEY,
            on_status=self.statuses.append,
            backoff=Backoff(FAST),
            **kw,
        )
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self.stream.run())

    async def stop(self) -> None:
        await self.stream.close(delete_key=True)
        if self.task is not None:
            await asyncio.wait_for(self.task, 5)
        await self.rest.aclose()

    def states(self) -> list[str]:
        return [s.state for s in self.statuses]

    def of(self, kind: type[Any]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


def _attached(sim: SimServer) -> int:
    return sum(1 for c in sim.hub.conns.values() if c.path.startswith("/private"))


async def test_an_order_arrives_as_typed_events(sim_factory: SimFactory) -> None:
    sim = await sim_factory(SimOptions())
    h = Harness(sim)
    h.start()
    try:
        await until(lambda: h.states() == ["CONNECTED"] and _attached(sim) == 1)
        await _post(sim, "/sim/account/orders", {"symbol": "BTCUSDT", "side": "BUY", "quantity": 0.5, "price": 100})
        await until(lambda: len(h.events) >= 3)
        orders = h.of(OrderUpdate)
        assert [(o.execution_type, o.status) for o in orders] == [("NEW", "NEW"), ("TRADE", "FILLED")]
        assert orders[1].symbol == "BTCUSDT" and orders[1].side == "BUY" and orders[1].filled == 0.5
        assert orders[1].avg_price == 100.0
        (account,) = h.of(AccountUpdate)
        assert account.reason == "ORDER"
        assert account.positions[0].symbol == "BTCUSDT" and account.positions[0].amount == 0.5
        assert h.stream.counters.events == 3 and h.stream.parser.errors.total == 0
    finally:
        await h.stop()
    assert h.states() == ["CONNECTED", "DISCONNECTED"]
    assert sim.ctx.account.active_key("udkey42", sim.ctx.clock.now_ms()) is None  # close(delete_key=True)


async def test_an_expired_key_is_recreated_and_the_stream_resumes(sim_factory: SimFactory) -> None:
    sim = await sim_factory(SimOptions())
    h = Harness(sim)
    h.start()
    try:
        await until(lambda: _attached(sim) == 1 and h.stream.counters.keys_created == 1)
        await _post(sim, "/sim/account/expire_listen_keys")
        await until(lambda: h.stream.counters.keys_created == 2 and _attached(sim) == 1 and h.stream.has_key)
        assert len(h.of(ListenKeyExpired)) == 1 and h.stream.counters.renewals == 1
        await _post(sim, "/sim/account/orders", {"symbol": "ETHUSDT", "side": "SELL", "quantity": 2, "price": 50})
        await until(lambda: len(h.of(AccountUpdate)) == 1)
        assert [o.status for o in h.of(OrderUpdate)] == ["NEW", "FILLED"]
        assert h.states() == ["CONNECTED", "RECONNECTING", "CONNECTED"]
    finally:
        await h.stop()


async def test_keepalive_keeps_the_key_past_its_lifetime(sim_factory: SimFactory) -> None:
    speed = 3600.0  # 30 market minutes per half real second; a key lives 1 s real without keepalive
    sim = await sim_factory(SimOptions(speed=speed))
    h = Harness(sim)
    h.start()
    try:
        await until(lambda: _attached(sim) == 1)
        t0 = sim.ctx.clock.now_ms()
        await until(lambda: h.stream.counters.keepalives >= 4, limit_s=10)
        assert sim.ctx.clock.now_ms() - t0 >= 2 * 3_600_000  # two key lifetimes went by
        assert sim.ctx.stats.counters["account.keepalive"] >= 4
        assert sim.ctx.stats.counters["account.listen_key_expired"] == 0
        assert h.stream.counters.renewals == 0 and h.stream.counters.keys_created == 1
        assert sim.ctx.stats.violation_counts() == {}
    finally:
        await h.stop()


async def test_a_dropped_connection_reconnects(sim_factory: SimFactory) -> None:
    sim = await sim_factory(SimOptions())
    h = Harness(sim)
    h.start()
    try:
        await until(lambda: _attached(sim) == 1)
        await _post(sim, "/sim/faults", {"kind": "drop", "target": "all"})
        await until(lambda: h.stream.counters.connects == 2 and _attached(sim) == 1)
        assert h.states() == ["CONNECTED", "RECONNECTING", "CONNECTED"]
        assert h.stream.counters.keys_created == 1  # the key survived: POST returned it again
        await _post(sim, "/sim/account/config", {"symbol": "BTCUSDT", "leverage": 7})
        await until(lambda: len(h.events) == 1)
        assert type(h.events[0]).__name__ == "AccountConfig"
    finally:
        await h.stop()


async def test_a_refused_api_key_is_fatal(sim_factory: SimFactory) -> None:
    sim = await sim_factory(SimOptions())
    events: list[UserEvent] = []
    statuses: list[ConnectionStatus] = []
    async with BinanceRest(sim.url, clock=sim.ctx.clock) as rest:
        stream = UserDataStream(
            rest, sim.ws_url, events.append, api_key=SecretStr("bad key!"), on_status=statuses.append
        )
        await asyncio.wait_for(stream.run(), 5)  # returns by itself
    assert [s.state for s in statuses] == ["DISCONNECTED"]
    assert "-2014" in statuses[0].detail and "bad key" not in statuses[0].detail


async def test_a_keepalive_answered_1125_makes_a_new_key(sim_factory: SimFactory) -> None:
    sim = await sim_factory(SimOptions(speed=3600.0))  # a keepalive every half real second
    h = Harness(sim)
    h.start()
    try:
        await until(lambda: _attached(sim) == 1)
        now = sim.ctx.clock.now_ms()
        old = sim.ctx.account.active_key("udkey42", now)
        assert old is not None and sim.ctx.account.close(old)  # gone, silently: no listenKeyExpired
        await until(
            lambda: h.stream.counters.renewals == 1 and _attached(sim) == 1 and h.stream.counters.connects == 2
        )
        assert h.stream.counters.keys_created == 2 and not h.of(ListenKeyExpired)
        assert sim.ctx.account.active_key("udkey42", sim.ctx.clock.now_ms()) not in (None, old)
    finally:
        await h.stop()
