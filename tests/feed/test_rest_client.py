"""BinanceRest against the real simulator over loopback: rows, weights, typed failures, listenKeys.

Market time is frozen (a ManualClock under the sim's ScaledClock, shared with the client), so weight
windows and the open bar do not move under the assertions.
"""

from __future__ import annotations

import itertools

import httpx
import pytest
from pydantic import SecretStr

from cryptoscan.clock import ManualClock
from cryptoscan.feed.rest import ApiError, BinanceRest, RateLimited, RestError, weight_limit
from cryptoscan.sim.options import SimOptions
from cryptoscan.sim.server import SimServer
from cryptoscan.venues.binance.spec import Venue
from simfakes import SimFactory

T0 = 1_800_000_030_000  # 30 s into a market minute
KEY = SecretStr("testkey123")


async def _sim(sim_factory: SimFactory, **opts: object) -> SimServer:
    options = SimOptions(n_spot=20, n_futures=10, start_ms=T0, **opts)  # type: ignore[arg-type]
    return await sim_factory(options, fake=False, base_clock=ManualClock(T0))


async def _inject(sim: SimServer, kind: str, count: int = 1) -> None:
    async with httpx.AsyncClient(base_url=sim.url) as c:
        r = await c.post("/sim/faults", json={"kind": kind, "count": count})
        assert r.status_code == 200, r.text


async def test_klines_equal_the_sims_rows_and_drop_the_open_bar(sim_factory: SimFactory) -> None:
    sim = await _sim(sim_factory)
    async with BinanceRest(sim.url, clock=sim.ctx.clock) as rest:
        for venue in Venue:
            now = sim.ctx.clock.now_ms()
            rows = sim.ctx.market.rest_klines(venue, "BTCUSDT", "1m", None, None, 50, now)
            got = await rest.klines(venue, "btcusdt", "1m", limit=50)
            assert len(rows) == 50 and len(got) == 49  # the open bar (last row) is dropped
            assert int(str(rows[-1][6])) >= now
            for k, row in zip(got, rows, strict=False):
                assert (k.open_time, k.close_time, k.trades) == (row[0], row[6], row[8])
                assert (k.open, k.high, k.low, k.close) == tuple(float(str(x)) for x in row[1:5])
                assert (k.volume, k.quote_volume) == (float(str(row[5])), float(str(row[7])))
                assert (k.taker_buy_volume, k.taker_buy_quote_volume) == (float(str(row[9])), float(str(row[10])))
                assert k.closed and k.symbol == "BTCUSDT" and k.venue == venue.value and k.interval == "1m"
            assert all(b.open_time - a.open_time == 60_000 for a, b in itertools.pairwise(got))


async def test_used_weight_is_tracked_per_venue(sim_factory: SimFactory) -> None:
    sim = await _sim(sim_factory)
    seen: list[tuple[Venue, int]] = []
    async with BinanceRest(sim.url, clock=sim.ctx.clock) as rest:
        rest.add_observer(lambda venue, status, headers: seen.append((venue, status)))
        info = await rest.exchange_info(Venue.SPOT)
        assert any(s["symbol"] == "BTCUSDT" for s in info["symbols"])
        assert weight_limit(info) == 6000
        assert rest.weights.used(Venue.SPOT) == 20
        await rest.klines(Venue.SPOT, "ETHUSDT", "5m", limit=10)
        assert rest.weights.used(Venue.SPOT) == 22
        assert rest.weights.used(Venue.FUTURES) is None
        tickers = await rest.tickers_24h(Venue.FUTURES)
        assert tickers and "lastPrice" in tickers[0]
        assert rest.weights.used(Venue.FUTURES) == 40
        marks = await rest.premium_index()
        assert {"symbol", "markPrice"} <= set(marks[0])
        one = await rest.premium_index("BTCUSDT")
        assert len(one) == 1 and one[0]["symbol"] == "BTCUSDT"
        assert rest.weights.used(Venue.FUTURES) == 51
        assert rest.weights.venues[Venue.SPOT].requests == 2
    assert seen == [(Venue.SPOT, 200)] * 2 + [(Venue.FUTURES, 200)] * 3


async def test_failures_are_typed(sim_factory: SimFactory) -> None:
    sim = await _sim(sim_factory)
    async with BinanceRest(sim.url, clock=sim.ctx.clock) as rest:
        with pytest.raises(ApiError) as bad:
            await rest.klines(Venue.SPOT, "NOPEUSDT", "1m", limit=5)
        assert (bad.value.code, bad.value.status) == (-1121, 400)
        await _inject(sim, "rest_429")
        with pytest.raises(RateLimited) as limited:
            await rest.klines(Venue.SPOT, "BTCUSDT", "1m", limit=5)
        assert limited.value.status == 429 and limited.value.retry_after_s == 30  # to the end of the minute
        assert rest.weights.venues[Venue.SPOT].throttled == 1
        assert rest.weights.venues[Venue.SPOT].blocked_until_ms == sim.ctx.clock.now_ms() + 30_000
        await _inject(sim, "rest_5xx")
        with pytest.raises(RestError) as server:
            await rest.exchange_info(Venue.FUTURES)
        assert server.value.status == 503
        assert not isinstance(server.value, (ApiError, RateLimited))
    assert sim.ctx.stats.violation_counts() == {}


async def test_transport_errors_are_rest_errors() -> None:
    async with BinanceRest("http://127.0.0.1:9", timeout=httpx.Timeout(2.0)) as rest:
        with pytest.raises(RestError) as err:
            await rest.exchange_info(Venue.SPOT)
    assert err.value.status == 0


async def test_listen_key_lifecycle(sim_factory: SimFactory) -> None:
    sim = await _sim(sim_factory)
    async with BinanceRest(sim.url, clock=sim.ctx.clock) as rest:
        with pytest.raises(ApiError) as no_key:
            await rest.listen_key_create()
        assert no_key.value.code == -2014
        key = await rest.listen_key_create(KEY)
        assert len(key) == 60 and sim.ctx.account.is_valid(key, sim.ctx.clock.now_ms())
        assert await rest.listen_key_create(KEY) == key  # the active key comes back
        await rest.listen_key_keepalive(key, KEY)
        assert sim.ctx.stats.counters["account.keepalive"] == 1
        await rest.listen_key_close(key, KEY)
        with pytest.raises(ApiError) as gone:
            await rest.listen_key_keepalive(key, KEY)
        assert gone.value.code == -1125
    keyed = BinanceRest(sim.url, api_key=KEY, clock=sim.ctx.clock)
    try:
        assert "testkey123" not in repr(keyed.__dict__)  # the SecretStr stays masked
        assert await keyed.listen_key_create() != key
    finally:
        await keyed.aclose()


def test_weight_limit_reads_the_request_weight_rule() -> None:
    rules = [
        {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400},
    ]
    assert weight_limit({"rateLimits": rules}) == 2400
    assert weight_limit({"rateLimits": rules[:1]}) is None
    assert weight_limit({}) is None


async def test_one_base_url_serves_both_venues_and_their_websockets() -> None:
    async with BinanceRest("http://127.0.0.1:5555/") as sim, BinanceRest() as live:
        assert sim.ws_base(Venue.SPOT) == sim.ws_base(Venue.FUTURES) == "ws://127.0.0.1:5555"
        assert live.ws_base(Venue.SPOT) == "wss://stream.binance.com:9443"
        assert live.ws_base(Venue.FUTURES) == "wss://fstream.binance.com"
