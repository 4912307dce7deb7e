"""The simulator's REST routes over real loopback sockets: shapes, weights, bans, errors, listenKeys.

Market time is a ManualClock under a ScaledClock, so windows, bans and key expiry move without sleeping.
"""

from __future__ import annotations

import gzip
import json
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote

import httpx
import pytest
from aiohttp import web

from cryptoscan.clock import ManualClock, ScaledClock
from cryptoscan.sim.account import Account
from cryptoscan.sim.context import SimContext
from cryptoscan.sim.faults import FaultInjector
from cryptoscan.sim.options import SimOptions
from cryptoscan.sim.rest import WEIGHT_HEADER, RestApi, add_routes
from cryptoscan.sim.stats import SimStats
from cryptoscan.venues.binance.spec import Venue

T0 = 1_700_000_020_000  # 40 s into a market minute
DATA = Path("/work/shared/data/binance")


@dataclass
class Info:
    symbol: str
    base: str
    quote: str = "USDT"
    status: str = "TRADING"


class FakeMarket:
    """Just enough of MarketModel to exercise the routes; records what the routes ask for."""

    def __init__(self) -> None:
        self.listed = {Venue.SPOT: ["BTCUSDT", "ETHUSDT", "ETHBTC"], Venue.FUTURES: ["BTCUSDT", "ETHUSDT"]}
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def info(self, venue: Venue, symbol: str) -> Info | None:
        return Info(symbol, symbol[:3]) if symbol in self.listed[venue] else None

    def symbols(self, venue: Venue) -> list[str]:
        return list(self.listed[venue])

    def exchange_info(self, venue: Venue, now_ms: int) -> dict[str, Any]:
        self.calls.append(("exchange_info", (venue, now_ms)))
        return {"timezone": "UTC", "serverTime": now_ms, "symbols": [{"symbol": s} for s in self.listed[venue]]}

    def rest_klines(self, *args: Any) -> list[list[Any]]:
        self.calls.append(("rest_klines", args))
        return [[T0, "1", "2", "0.5", "1.5", "10", T0 + 59_999, "15", 3, "5", "7.5", "0"]]

    def rest_ticker_24h(self, venue: Venue, symbol: str | None, now_ms: int) -> Any:
        self.calls.append(("rest_ticker_24h", (venue, symbol, now_ms)))
        if symbol is None:
            return [{"symbol": s} for s in self.listed[venue]]
        return {"symbol": symbol}

    def rest_depth(self, *args: Any) -> dict[str, Any]:
        self.calls.append(("rest_depth", args))
        return {"lastUpdateId": 1, "bids": [["1", "2"]], "asks": [["3", "4"]]}

    def rest_premium_index(self, symbol: str | None, now_ms: int) -> Any:
        self.calls.append(("rest_premium_index", (symbol, now_ms)))
        return {"symbol": symbol} if symbol else [{"symbol": s} for s in self.listed[Venue.FUTURES]]


@dataclass
class Sim:
    http: httpx.AsyncClient
    base: ManualClock
    ctx: SimContext
    api: RestApi

    @property
    def market(self) -> Any:
        return self.ctx.market

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.http.get(path, params=params)


def make_ctx(market: Any = None, **options: Any) -> tuple[SimContext, ManualClock]:
    opts = SimOptions(**options)
    base = ManualClock(0)
    clock = ScaledClock(base, 1.0, start_ms=T0)
    stats = SimStats()
    ctx = SimContext(
        opts,
        clock,
        cast(Any, market if market is not None else FakeMarket()),
        cast(Any, None),
        Account(stats),
        FaultInjector([], 1, stats, T0),
        stats,
    )
    return ctx, base


@asynccontextmanager
async def running(market: Any = None, **options: Any) -> AsyncIterator[Sim]:
    ctx, base = make_ctx(market, **options)
    app = web.Application()
    api = add_routes(app, ctx)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            yield Sim(http, base, ctx, api)
    finally:
        await runner.cleanup()


@pytest.fixture
async def sim() -> AsyncIterator[Sim]:
    async with running() as s:
        yield s


def assert_error(r: httpx.Response, code: int, status: int = 400) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"code", "msg"}
    assert body["code"] == code, body
    assert isinstance(body["msg"], str) and body["msg"]
    assert r.headers["content-type"].startswith("application/json")
    return str(body["msg"])


# --- happy paths -------------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["/api/v3", "/fapi/v1"])
async def test_ping_time_and_weight_header_rising(sim: Sim, prefix: str) -> None:
    r = await sim.get(f"{prefix}/ping")
    assert (r.status_code, r.json(), r.headers[WEIGHT_HEADER]) == (200, {}, "1")
    sim.base.advance(2.5)
    r = await sim.get(f"{prefix}/time")
    assert r.json() == {"serverTime": T0 + 2500}
    assert r.headers["X-MBX-USED-WEIGHT-1m"] == "2"  # headers are case-insensitive


async def test_weights_follow_the_spec(sim: Sim) -> None:
    seen = []
    for path, params in [
        ("/api/v3/depth", {"symbol": "BTCUSDT"}),  # 5
        ("/api/v3/depth", {"symbol": "BTCUSDT", "limit": "1000"}),  # 50
        ("/api/v3/ticker/24hr", {}),  # 80
        ("/api/v3/exchangeInfo", {}),  # 20
        ("/api/v3/klines", {"symbol": "BTCUSDT", "interval": "1m"}),  # 2
    ]:
        r = await sim.get(path, **params)
        assert r.status_code == 200, r.text
        seen.append(int(r.headers[WEIGHT_HEADER]))
    assert seen == [5, 55, 135, 155, 157]
    r = await sim.get("/fapi/v1/klines", symbol="BTCUSDT", interval="1m", limit="1000")
    assert r.headers[WEIGHT_HEADER] == "5"  # futures has its own budget


async def test_klines_pass_validated_parameters(sim: Sim) -> None:
    r = await sim.get("/api/v3/klines", symbol="ETHBTC", interval="5m", startTime=str(T0 - 600_000), limit="3")
    assert r.status_code == 200
    assert r.json()[0][0] == T0
    assert sim.market.calls[-1] == ("rest_klines", (Venue.SPOT, "ETHBTC", "5m", T0 - 600_000, None, 3, T0))
    await sim.get("/fapi/v1/klines", symbol="BTCUSDT", interval="1h", endTime=str(T0), limit="1500")
    assert sim.market.calls[-1] == ("rest_klines", (Venue.FUTURES, "BTCUSDT", "1h", None, T0, 1500, T0))
    await sim.get("/fapi/v1/klines", symbol="BTCUSDT", interval="1h")
    assert sim.market.calls[-1][1][5] == 500  # default limit


async def test_tickers_depth_premium_index(sim: Sim) -> None:
    r = await sim.get("/api/v3/ticker/24hr", symbols='["BTCUSDT","ETHBTC"]')
    assert r.json() == [{"symbol": "BTCUSDT"}, {"symbol": "ETHBTC"}]
    assert r.headers[WEIGHT_HEADER] == "2"
    r = await sim.get("/fapi/v1/ticker/24hr", symbol="ETHUSDT")
    assert r.json() == {"symbol": "ETHUSDT"}
    r = await sim.get("/fapi/v1/ticker/24hr")
    assert len(r.json()) == 2
    r = await sim.get("/fapi/v1/depth", symbol="BTCUSDT", limit="20")
    assert r.json()["lastUpdateId"] == 1
    assert sim.market.calls[-1] == ("rest_depth", (Venue.FUTURES, "BTCUSDT", 20, T0))
    r = await sim.get("/fapi/v1/premiumIndex", symbol="BTCUSDT")
    assert r.json() == {"symbol": "BTCUSDT"}
    r = await sim.get("/fapi/v1/premiumIndex")
    assert [x["symbol"] for x in r.json()] == ["BTCUSDT", "ETHUSDT"]


async def test_exchange_info_is_encoded_once_per_market_minute(sim: Sim) -> None:
    for _ in range(3):
        r = await sim.get("/api/v3/exchangeInfo")
        assert r.status_code == 200
    assert [c for c in sim.market.calls if c[0] == "exchange_info"] == [("exchange_info", (Venue.SPOT, T0))]
    sim.base.advance(20)  # next market minute
    r = await sim.get("/api/v3/exchangeInfo")
    assert r.json()["serverTime"] == T0 + 20_000
    r = await sim.get("/api/v3/exchangeInfo", symbol="ETHBTC")
    assert [s["symbol"] for s in r.json()["symbols"]] == ["ETHBTC"]
    r = await sim.get("/fapi/v1/exchangeInfo")
    assert [s["symbol"] for s in r.json()["symbols"]] == ["BTCUSDT", "ETHUSDT"]
    assert len([c for c in sim.market.calls if c[0] == "exchange_info"]) == 3


# --- weights, 429 and 418 ------------------------------------------------------------------------------


async def test_over_budget_429_then_418_then_reset_in_market_time() -> None:
    async with running(spot_weight_per_minute=10) as sim:
        for i in range(1, 11):
            assert (await sim.get("/api/v3/ping")).headers[WEIGHT_HEADER] == str(i)
        r = await sim.get("/api/v3/ping")
        msg = assert_error(r, -1003, 429)
        assert "10 request weight per 1 MINUTE" in msg
        assert r.headers["Retry-After"] == "20"  # 40 s into the minute
        assert r.headers[WEIGHT_HEADER] == "10"
        assert (await sim.get("/fapi/v1/ping")).status_code == 200  # the other venue is unaffected
        r = await sim.get("/api/v3/ping")  # sent anyway
        assert_error(r, -1003, 418)
        assert r.headers["Retry-After"] == "120"
        assert sim.ctx.stats.violation_counts() == {"rest_weight": 1, "rest_ban": 1}
        sim.base.advance(60)
        r = await sim.get("/api/v3/ping")
        assert r.status_code == 418 and r.headers["Retry-After"] == "60"
        sim.base.advance(60)
        r = await sim.get("/api/v3/ping")
        assert (r.status_code, r.headers[WEIGHT_HEADER]) == (200, "1")


async def test_waiting_as_told_avoids_the_ban() -> None:
    async with running(futures_weight_per_minute=3) as sim:
        for _ in range(3):
            assert (await sim.get("/fapi/v1/time")).status_code == 200
        r = await sim.get("/fapi/v1/time")
        assert_error(r, -1003, 429)
        sim.base.advance(int(r.headers["Retry-After"]))
        r = await sim.get("/fapi/v1/time")
        assert (r.status_code, r.headers[WEIGHT_HEADER]) == (200, "1")
        assert sim.ctx.stats.violation_counts() == {"rest_weight": 1}


# --- faults -----------------------------------------------------------------------------------------------


async def test_injected_faults_answer_in_binance_shape(sim: Sim) -> None:
    faults = sim.ctx.faults
    faults.request(faults.make_order("rest_429"))
    r = await sim.get("/api/v3/depth", symbol="BTCUSDT")
    assert_error(r, -1003, 429)
    assert int(r.headers["Retry-After"]) > 0
    faults.request(faults.make_order("rest_418"))
    r = await sim.get("/fapi/v1/depth", symbol="BTCUSDT")
    assert_error(r, -1003, 418)
    assert r.headers["Retry-After"] == "120"
    faults.request(faults.make_order("rest_5xx"))
    assert_error(await sim.get("/api/v3/ticker/24hr"), -1008, 503)
    r = await sim.get("/api/v3/depth", symbol="BTCUSDT")
    assert r.status_code == 200
    assert r.headers[WEIGHT_HEADER] == "5"  # faulted requests were not charged
    assert sim.ctx.stats.violation_counts() == {}  # injected, not the client's fault


# --- bad input --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "code"),
    [
        ("/api/v3/klines", {"symbol": "NOPEUSDT", "interval": "1m"}, -1121),
        ("/api/v3/klines", {"symbol": "BTCUSDT", "interval": "7m"}, -1120),
        ("/api/v3/klines", {"interval": "1m"}, -1102),
        ("/api/v3/klines", {"symbol": "BTCUSDT"}, -1102),
        ("/api/v3/klines", {"symbol": "", "interval": "1m"}, -1105),
        ("/api/v3/klines", {"symbol": "btcusdt", "interval": "1m"}, -1100),
        ("/api/v3/klines", {"symbol": "BTCUSDT", "interval": "1m", "limit": "abc"}, -1100),
        ("/api/v3/klines", {"symbol": "BTCUSDT", "interval": "1m", "limit": "1001"}, -1130),
        ("/api/v3/klines", {"symbol": "BTCUSDT", "interval": "1m", "limit": "0"}, -1130),
        ("/fapi/v1/klines", {"symbol": "BTCUSDT", "interval": "1m", "limit": "1501"}, -1130),
        ("/api/v3/klines", {"symbol": "BTCUSDT", "interval": "1m", "startTime": "-1"}, -1100),
        ("/api/v3/klines", {"symbol": "BTCUSDT", "interval": "1m", "startTime": "9" * 20}, -1130),
        ("/api/v3/klines", {"symbol": "BTCUSDT", "interval": "1m", "startTime": "5", "endTime": "4"}, -1023),
        ("/api/v3/klines", {"symbol": "BTCUSDT", "interval": "1m", "foo": "1"}, -1104),
        ("/api/v3/depth", {"symbol": "BTCUSDT", "limit": "5001"}, -1130),
        ("/fapi/v1/depth", {"symbol": "BTCUSDT", "limit": "7"}, -1130),
        ("/fapi/v1/depth", {"symbol": "ETHBTC"}, -1121),  # listed on spot only
        ("/api/v3/ticker/24hr", {"symbols": "BTCUSDT"}, -1100),
        ("/api/v3/ticker/24hr", {"symbols": '["BTCUSDT","NOPE"]'}, -1121),
        ("/api/v3/ticker/24hr", {"symbols": '["BTCUSDT","BTCUSDT"]'}, -1101),
        ("/api/v3/ticker/24hr", {"symbols": "[]"}, -1102),
        ("/api/v3/ticker/24hr", {"symbol": "BTCUSDT", "symbols": '["ETHBTC"]'}, -1128),
        ("/fapi/v1/ticker/24hr", {"symbols": '["BTCUSDT"]'}, -1104),
        ("/fapi/v1/premiumIndex", {"symbol": "NOPE"}, -1121),
        ("/api/v3/ping", {"x": ""}, -1104),
        ("/fapi/v1/exchangeInfo", {"symbol": "BTCUSDT"}, -1104),
    ],
)
async def test_bad_parameters_get_binance_errors(sim: Sim, path: str, params: dict[str, str], code: int) -> None:
    r = await sim.get(path, **params)
    assert_error(r, code)
    assert WEIGHT_HEADER in r.headers


async def test_exact_messages(sim: Sim) -> None:
    msg = assert_error(await sim.get("/api/v3/depth", symbol="NOPE"), -1121)
    assert msg == "Invalid symbol."
    msg = assert_error(await sim.get("/api/v3/klines", symbol="BTCUSDT", interval="2d"), -1120)
    assert msg == "Invalid interval."
    msg = assert_error(await sim.get("/api/v3/depth"), -1102)
    assert msg == "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."
    msg = assert_error(await sim.http.get("/api/v3/depth?symbol=BTCUSDT&symbol=ETHBTC"), -1101)
    assert msg == "Duplicate values for a parameter detected."


async def test_unknown_paths_and_methods_are_json(sim: Sim) -> None:
    r = await sim.get("/api/v3/nope")
    assert_error(r, -1000, 404)
    assert WEIGHT_HEADER in r.headers
    assert_error(await sim.get("/whatever"), -1000, 404)
    assert_error(await sim.http.post("/api/v3/klines"), -1020, 405)


GARBAGE = [
    "",
    " ",
    "%",
    "%zz",
    "%00",
    "\u0000",
    "é",
    "💥",
    "-",
    "+1",
    "1e3",
    "0x10",
    "1.5",
    "-0",
    "9" * 30,
    "9" * 5000,
    "[",
    '["BTCUSDT"',
    "null",
    "true",
    "BTCUSDT\n",
    "<script>",
    "'; DROP TABLE",
]
ENDPOINTS = [
    ("/api/v3/exchangeInfo", ["symbol", "symbols"]),
    ("/api/v3/ticker/24hr", ["symbol", "symbols"]),
    ("/api/v3/klines", ["symbol", "interval", "startTime", "endTime", "limit"]),
    ("/api/v3/depth", ["symbol", "limit"]),
    ("/fapi/v1/ticker/24hr", ["symbol"]),
    ("/fapi/v1/klines", ["symbol", "interval", "startTime", "endTime", "limit"]),
    ("/fapi/v1/depth", ["symbol", "limit"]),
    ("/fapi/v1/premiumIndex", ["symbol"]),
]


async def test_garbage_everywhere_never_500() -> None:
    rng = random.Random(7)
    async with running(spot_weight_per_minute=10**9, futures_weight_per_minute=10**9) as sim:
        statuses: set[int] = set()
        for path, names in ENDPOINTS:
            valid = {"symbol": "BTCUSDT", "interval": "1m", "limit": "5"}
            for name in names:
                for junk in GARBAGE:
                    params = {n: valid[n] for n in names if n in valid and n != name}
                    raw = "&".join(f"{k}={v}" for k, v in params.items())
                    raw += f"&{name}={quote(junk, safe='%')}"
                    r = await sim.http.get(f"{path}?{raw}")
                    statuses.add(r.status_code)
                    assert r.status_code < 500, (path, name, junk, r.text)
                    assert WEIGHT_HEADER in r.headers
                    body = r.json()
                    if r.status_code != 200:
                        assert isinstance(body["code"], int) and isinstance(body["msg"], str), body
            for _ in range(20):  # random bytes as a whole query string
                noise = bytes(rng.randrange(1, 256) for _ in range(rng.randrange(1, 40)))
                r = await sim.http.get(f"{path}?{quote(noise, safe='=&%')}")
                assert r.status_code < 500, (path, noise, r.text)
                assert isinstance(r.json(), dict | list)
        assert 400 in statuses
        for method in ("POST", "PUT", "DELETE"):
            for body in (b"\xff\xfe", b"listenKey=%zz&&==", b"{" * 100):
                r = await sim.http.request(
                    method,
                    "/fapi/v1/listenKey",
                    content=body,
                    headers={"X-MBX-APIKEY": "k", "Content-Type": "application/x-www-form-urlencoded"},
                )
                assert r.status_code < 500, (method, body, r.text)
                assert isinstance(r.json(), dict)
        assert sim.ctx.stats.counters["rest.internal_errors"] == 0


# --- futures listenKey --------------------------------------------------------------------------------


async def test_listen_key_lifecycle(sim: Sim) -> None:
    h = {"X-MBX-APIKEY": "apikey1"}
    msg = assert_error(await sim.http.post("/fapi/v1/listenKey"), -2014, 401)
    assert msg == "API-key format invalid."
    assert_error(await sim.http.post("/fapi/v1/listenKey", headers={"X-MBX-APIKEY": "bad key!"}), -2014, 401)
    r = await sim.http.post("/fapi/v1/listenKey", headers=h)
    assert r.status_code == 200 and r.headers[WEIGHT_HEADER] == "3"  # the refused two counted too
    key = r.json()["listenKey"]
    assert isinstance(key, str) and len(key) == 60
    assert (await sim.http.post("/fapi/v1/listenKey", headers=h)).json() == {"listenKey": key}
    # keepalive: with no listenKey parameter (as Binance's futures PUT) and with one (in the body)
    sim.base.advance(50 * 60)
    r = await sim.http.put("/fapi/v1/listenKey", headers=h)
    assert r.json() == {"listenKey": key}
    sim.base.advance(50 * 60)  # 100 min after creation, 50 after the keepalive
    r = await sim.http.put("/fapi/v1/listenKey", headers=h, data={"listenKey": key})
    assert r.status_code == 200
    assert sim.ctx.account.is_valid(key, sim.ctx.clock.now_ms())
    # expiry: 60 market minutes with no keepalive
    sim.base.advance(61 * 60)
    msg = assert_error(await sim.http.put("/fapi/v1/listenKey", headers=h), -1125)
    assert msg == "This listenKey does not exist."
    key2 = (await sim.http.post("/fapi/v1/listenKey", headers=h)).json()["listenKey"]
    assert key2 != key
    r = await sim.http.delete(f"/fapi/v1/listenKey?listenKey={key2}", headers=h)
    assert (r.status_code, r.json()) == (200, {})
    assert_error(await sim.http.put(f"/fapi/v1/listenKey?listenKey={key2}", headers=h), -1125)
    assert_error(await sim.http.delete("/fapi/v1/listenKey", headers=h), -1125)
    assert_error(await sim.http.put("/fapi/v1/listenKey", headers={}), -2014, 401)


# --- shapes against real Binance data (with the real market model) ----------------------------------


def _real_market() -> Any:
    market = pytest.importorskip("cryptoscan.sim.market")
    return market.MarketModel(1, T0 - 3 * 86_400_000, 20, 10)


def _type_shape(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: type(v).__name__ for k, v in value.items()}
    return type(value).__name__


async def test_exchange_info_shape_matches_real_files() -> None:
    async with running(_real_market()) as sim:
        for venue_path, name in [
            ("/api/v3/exchangeInfo", "api_binance_com__api_v3_exchangeInfo__2021-10-12.json.gz"),
            ("/fapi/v1/exchangeInfo", "fapi_binance_com__fapi_v1_exchangeInfo__2021-07-22.json.gz"),
        ]:
            real = json.loads(gzip.decompress((DATA / "rest" / name).read_bytes()))
            ours = (await sim.get(venue_path)).json()
            assert set(real) <= set(ours), set(real) - set(ours)
            for key in real:
                assert type(ours[key]) is type(real[key]), key
            real_sym, our_sym = real["symbols"][0], ours["symbols"][0]
            missing = set(real_sym) - set(our_sym)
            assert not missing, (venue_path, missing)
            for key, value in real_sym.items():
                assert type(our_sym[key]) is type(value), (venue_path, key)
            assert {f["filterType"] for f in our_sym["filters"]} & {"PRICE_FILTER", "LOT_SIZE"}


def _payload(module: str, fn: str) -> Any:
    for line in (DATA / "payloads" / "binance_raw_messages.jsonl").read_text().splitlines():
        row = json.loads(line)
        if row["rust_module"] == module and row["rust_test_fn"] == fn:
            return row["raw"]
    raise LookupError((module, fn))


async def test_depth_klines_ticker_premium_shapes() -> None:
    market = _real_market()
    async with running(market) as sim:
        spot_sym, fut_sym = market.symbols(Venue.SPOT)[0], market.symbols(Venue.FUTURES)[0]
        spot_sym = getattr(spot_sym, "symbol", spot_sym)
        fut_sym = getattr(fut_sym, "symbol", fut_sym)
        spot = (await sim.get("/api/v3/depth", symbol=spot_sym, limit="5")).json()
        assert set(spot) == set(_payload("l2_snapshot", "spot"))
        assert len(spot["bids"]) == 5 and all(isinstance(x, str) for lvl in spot["bids"] for x in lvl)
        fut = (await sim.get("/fapi/v1/depth", symbol=fut_sym, limit="5")).json()
        assert set(fut) == set(_payload("l2_snapshot", "linear_swap"))
        klines = (await sim.get("/api/v3/klines", symbol=spot_sym, interval="1m", limit="3")).json()
        assert len(klines) == 3
        types = [type(x).__name__ for x in klines[0]]
        assert types == ["int", "str", "str", "str", "str", "str", "int", "str", "int", "str", "str", "str"]
        ticker = (await sim.get("/api/v3/ticker/24hr", symbol=spot_sym)).json()
        assert {"symbol", "priceChange", "priceChangePercent", "lastPrice", "volume", "quoteVolume"} <= set(ticker)
        assert {"openTime", "closeTime", "count"} <= set(ticker)
        prem = (await sim.get("/fapi/v1/premiumIndex", symbol=fut_sym)).json()
        assert {"symbol", "markPrice", "indexPrice", "lastFundingRate", "nextFundingTime", "time"} <= set(prem)


async def test_routes_live_alongside_the_ws_and_control_routes(sim_factory: Any) -> None:
    """In the assembled simulator: REST answers, JSON 404s, and the other routes are left alone."""
    server = await sim_factory()
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        r = await http.get("/fapi/v1/ping")
        assert (r.status_code, r.json(), r.headers[WEIGHT_HEADER]) == (200, {}, "1")
        r = await http.post("/fapi/v1/listenKey", headers={"X-MBX-APIKEY": "k"})
        assert server.ctx.account.is_valid(r.json()["listenKey"], server.ctx.clock.now_ms())
        assert_error(await http.get("/fapi/v2/nothing"), -1000, 404)
        assert (await http.get("/sim/status")).status_code == 200
