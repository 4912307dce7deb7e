"""The simulator's REST side: Binance spot (``/api/v3``) and USD-M futures (``/fapi/v1``) on one port.

Every request goes the same way: injected fault? -> weight accounting (429/418, ``X-MBX-USED-WEIGHT-1M``
on every answer) -> parameter validation in Binance's words (``{"code": -1121, "msg": "Invalid symbol."}``,
HTTP 400) -> the market model. Bad input never reaches the model, so it never yields a 500 or a traceback.
Times are market time (``ctx.clock``). exchangeInfo is big, so it is encoded once per market minute.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import msgspec
from aiohttp import web
from multidict import MultiDict, MultiMapping

from cryptoscan.sim.context import SimContext
from cryptoscan.sim.weights import WeightLimiter
from cryptoscan.venues.binance.spec import INTERVAL_MS, Venue, futures_rest_weight, spot_rest_weight

log = logging.getLogger(__name__)

WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"
JSON = "application/json"
_SYMBOL = "^[A-Z0-9-_.]{1,20}$"
_SYMBOL_RE = re.compile(_SYMBOL)
_SYMBOLS = '^\\[("[A-Z0-9-_.]{1,20}"(,"[A-Z0-9-_.]{1,20}"){0,}){0,1}\\]$'
_SYMBOLS_RE = re.compile(_SYMBOLS)
_LONG = "^[0-9]{1,20}$"
_LONG_RE = re.compile(_LONG)
_INT = "^-?[0-9]{1,11}$"
_INT_RE = re.compile(_INT)
_API_KEY_RE = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_MAX_LONG = 2**63 - 1
FUTURES_DEPTH_LIMITS = (5, 10, 20, 50, 100, 500, 1000)
_SIGNED = frozenset({"recvWindow", "timestamp", "signature"})  # tolerated on listenKey calls

_FAULT_BODY: dict[int, tuple[int, str]] = {
    500: (-1000, "An unknown error occurred while processing the request."),
    502: (-1001, "Internal error; unable to process your request. Please try again."),
    503: (-1008, "Server is currently overloaded with other requests. Please try again in a few minutes."),
}


class ApiError(Exception):
    """A Binance error answer: ``{"code": code, "msg": msg}`` with HTTP ``status``."""

    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(msg)
        self.code, self.msg, self.status = code, msg, status


def error_body(code: int, msg: str) -> bytes:
    return msgspec.json.encode({"code": code, "msg": msg})


def _illegal(name: str, legal: str) -> ApiError:
    return ApiError(-1100, f"Illegal characters found in parameter '{name}'; legal range is '{legal}'.")


def _invalid(name: str) -> ApiError:
    return ApiError(-1130, f"Data sent for parameter '{name}' is not valid.")


class Params:
    """Query (and form) parameters, checked the way Binance checks them."""

    def __init__(self, query: MultiMapping[str], allowed: frozenset[str]) -> None:
        self.values: dict[str, str] = {}
        for name, value in query.items():
            if name in self.values:
                raise ApiError(-1101, "Duplicate values for a parameter detected.")
            self.values[name] = value
        unread = [n for n in self.values if n not in allowed]
        if unread:
            read = len(self.values) - len(unread)
            raise ApiError(
                -1104,
                f"Not all sent parameters were read; read '{read}' parameter(s) but was sent '{len(self.values)}'.",
            )

    def text(self, name: str, *, required: bool = False) -> str | None:
        value = self.values.get(name)
        if value is None:
            if required:
                raise ApiError(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")
            return None
        if value == "":
            raise ApiError(-1105, f"Parameter '{name}' was empty.")
        return value

    def long(self, name: str) -> int | None:
        value = self.text(name)
        if value is None:
            return None
        if not _LONG_RE.match(value):
            raise _illegal(name, _LONG)
        n = int(value)
        if n > _MAX_LONG:
            raise _invalid(name)
        return n

    def int_in(self, name: str, default: int, allowed: Callable[[int], bool]) -> int:
        value = self.text(name)
        if value is None:
            return default
        if not _INT_RE.match(value):
            raise _illegal(name, _INT)
        n = int(value)
        if not allowed(n):
            raise _invalid(name)
        return n


def _weight(venue: Venue, path: str, params: Mapping[str, str]) -> int:
    """The request's weight; a malformed limit counts as the default (the request fails anyway)."""
    fn = spot_rest_weight if venue is Venue.SPOT else futures_rest_weight
    try:
        return fn(path, dict(params))
    except (ValueError, TypeError):
        return fn(path, {k: v for k, v in params.items() if k != "limit"})


Handler = Callable[[web.Request, Params, int], Awaitable[object]]


class RestApi:
    """Handlers for one simulator run; built by :func:`add_routes`."""

    def __init__(self, ctx: SimContext) -> None:
        self.ctx = ctx
        self.limiter = WeightLimiter(
            {Venue.SPOT: ctx.options.spot_weight_per_minute, Venue.FUTURES: ctx.options.futures_weight_per_minute},
            ctx.stats,
        )
        self._info_cache: dict[Venue, tuple[int, bytes, Any]] = {}

    # --- the common pipeline ------------------------------------------------------------------------

    def route(self, venue: Venue, path: str, allowed: frozenset[str], handler: Handler) -> Any:
        async def serve(request: web.Request) -> web.Response:
            return await self.serve(request, venue, path, allowed, handler)

        return serve

    async def serve(
        self, request: web.Request, venue: Venue, path: str, allowed: frozenset[str], handler: Handler
    ) -> web.Response:
        ctx = self.ctx
        now = ctx.clock.now_ms()
        ip = request.remote or "unknown"
        ctx.stats.count(f"rest.{venue.value}.requests")
        fault = ctx.faults.rest_fault(venue, path, now)
        if fault is not None:
            return self._fault(fault, venue, ip, now)
        query: MultiMapping[str] = request.query
        if request.method in ("POST", "PUT", "DELETE") and request.can_read_body:
            try:
                form = await request.post()
            except Exception:  # an unreadable body: answer like any malformed parameter
                bad = ApiError(-1100, "Illegal characters found in a parameter.")
                return self._error(bad, self.limiter.used(ip, venue, now))
            query = _as_multi(request.query, form)
        decision = self.limiter.charge(ip, venue, _weight(venue, path, dict(request.query.items())), now)
        headers = {WEIGHT_HEADER: str(decision.used)}
        if decision.status != 200:
            headers["Retry-After"] = self._retry_after(decision.retry_after_s or 1)
            if decision.status == 429:
                msg = self._too_much(venue)
            else:
                msg = self._banned(venue, decision.banned_until_ms or now)
            return web.Response(status=decision.status, body=error_body(-1003, msg), headers=headers, content_type=JSON)
        try:
            result = await handler(request, Params(query, allowed), now)
        except ApiError as e:
            ctx.stats.count(f"rest.{venue.value}.errors")
            return self._error(e, decision.used)
        except Exception:
            log.exception("sim REST %s %s failed", request.method, path)
            ctx.stats.count("rest.internal_errors")
            return self._error(ApiError(*_FAULT_BODY[500], status=500), decision.used)
        body = result if isinstance(result, bytes) else msgspec.json.encode(result)
        return web.Response(body=body, headers=headers, content_type=JSON)

    def _error(self, e: ApiError, used: int) -> web.Response:
        return web.Response(
            status=e.status, body=error_body(e.code, e.msg), headers={WEIGHT_HEADER: str(used)}, content_type=JSON
        )

    def _fault(self, status: int, venue: Venue, ip: str, now: int) -> web.Response:
        headers = {WEIGHT_HEADER: str(self.limiter.used(ip, venue, now))}
        if status == 429:
            headers["Retry-After"] = self._retry_after(-(-(60_000 - now % 60_000) // 1000))
            body = error_body(-1003, self._too_much(venue))
        elif status == 418:
            headers["Retry-After"] = self._retry_after(120)
            body = error_body(-1003, self._banned(venue, now + 120_000))
        else:
            body = error_body(*_FAULT_BODY.get(status, _FAULT_BODY[500]))
        return web.Response(status=status, body=body, headers=headers, content_type=JSON)

    def _retry_after(self, market_s: int) -> str:
        """Retry-After in real seconds: a client cannot know the market runs ``speed`` times faster."""
        return str(max(1, math.ceil(market_s / self.ctx.clock.speed)))

    def _too_much(self, venue: Venue) -> str:
        if venue is Venue.SPOT:
            limit = self.ctx.options.spot_weight_per_minute
            return (
                f"Too much request weight used; current limit is {limit} request weight per 1 MINUTE. "
                "Please use WebSocket Streams for live updates to avoid polling the API."
            )
        limit = self.ctx.options.futures_weight_per_minute
        return (
            f"Too many requests; current limit is {limit} requests per minute. "
            "Please use the websocket for live updates to avoid polling the API."
        )

    @staticmethod
    def _banned(venue: Venue, until_ms: int) -> str:
        if venue is Venue.SPOT:
            return (
                f"Way too much request weight used; IP banned until {until_ms}. "
                "Please use WebSocket Streams for live updates to avoid bans."
            )
        return (
            f"Way too many requests; IP banned until {until_ms}. "
            "Please use the websocket for live updates to avoid bans."
        )

    # --- parameter helpers --------------------------------------------------------------------------

    def symbol(self, venue: Venue, p: Params, *, required: bool) -> str | None:
        value = p.text("symbol", required=required)
        if value is None:
            return None
        if not _SYMBOL_RE.match(value):
            raise _illegal("symbol", _SYMBOL)
        if self.ctx.market.info(venue, value) is None:
            raise ApiError(-1121, "Invalid symbol.")
        return value

    def symbols(self, venue: Venue, p: Params) -> list[str] | None:
        raw = p.text("symbols")
        if raw is None:
            return None
        if not _SYMBOLS_RE.match(raw):
            raise _illegal("symbols", _SYMBOLS)
        names: list[str] = msgspec.json.decode(raw, type=list[str])
        if not names:
            raise ApiError(-1102, "Mandatory parameter 'symbols' was not sent, was empty/null, or malformed.")
        if len(set(names)) != len(names):
            raise ApiError(-1101, "Duplicate values for a parameter detected.")
        if any(self.ctx.market.info(venue, n) is None for n in names):
            raise ApiError(-1121, "Invalid symbol.")
        return names

    def one_of(self, venue: Venue, p: Params) -> tuple[str | None, list[str] | None]:
        symbol = self.symbol(venue, p, required=False)
        symbols = self.symbols(venue, p) if venue is Venue.SPOT else None
        if symbol is not None and symbols is not None:
            raise ApiError(-1128, "Combination of optional parameters invalid.")
        return symbol, symbols

    # --- endpoints ----------------------------------------------------------------------------------

    async def ping(self, request: web.Request, p: Params, now: int) -> object:
        return b"{}"

    async def time(self, request: web.Request, p: Params, now: int) -> object:
        return {"serverTime": now}

    def _exchange_info(self, venue: Venue, now: int) -> tuple[bytes, Any]:
        minute = now // 60_000
        cached = self._info_cache.get(venue)
        if cached is None or cached[0] != minute:
            info = self.ctx.market.exchange_info(venue, now)
            cached = self._info_cache[venue] = (minute, msgspec.json.encode(info), info)
        return cached[1], cached[2]

    async def spot_exchange_info(self, request: web.Request, p: Params, now: int) -> object:
        symbol, symbols = self.one_of(Venue.SPOT, p)
        body, info = self._exchange_info(Venue.SPOT, now)
        if symbol is None and symbols is None:
            return body
        wanted = {symbol} if symbol is not None else set(symbols or ())
        return {**info, "symbols": [s for s in info["symbols"] if s["symbol"] in wanted]}

    async def futures_exchange_info(self, request: web.Request, p: Params, now: int) -> object:
        return self._exchange_info(Venue.FUTURES, now)[0]

    def _ticker(self, venue: Venue, p: Params, now: int) -> object:
        symbol, symbols = self.one_of(venue, p)
        market = self.ctx.market
        if symbols is not None:
            return [market.rest_ticker_24h(venue, s, now) for s in symbols]
        return market.rest_ticker_24h(venue, symbol, now)

    async def spot_ticker(self, request: web.Request, p: Params, now: int) -> object:
        return self._ticker(Venue.SPOT, p, now)

    async def futures_ticker(self, request: web.Request, p: Params, now: int) -> object:
        return self._ticker(Venue.FUTURES, p, now)

    def _klines(self, venue: Venue, p: Params, now: int, max_limit: int) -> object:
        symbol = self.symbol(venue, p, required=True)
        interval = p.text("interval", required=True)
        if interval not in INTERVAL_MS:
            raise ApiError(-1120, "Invalid interval.")
        start, end = p.long("startTime"), p.long("endTime")
        limit = p.int_in("limit", 500, lambda n: 1 <= n <= max_limit)
        if start is not None and end is not None and start > end:
            raise ApiError(-1023, "Start time is greater than end time.")
        assert symbol is not None
        return self.ctx.market.rest_klines(venue, symbol, interval, start, end, limit, now)

    async def spot_klines(self, request: web.Request, p: Params, now: int) -> object:
        return self._klines(Venue.SPOT, p, now, 1000)

    async def futures_klines(self, request: web.Request, p: Params, now: int) -> object:
        return self._klines(Venue.FUTURES, p, now, 1500)

    async def spot_depth(self, request: web.Request, p: Params, now: int) -> object:
        symbol = self.symbol(Venue.SPOT, p, required=True)
        limit = p.int_in("limit", 100, lambda n: 1 <= n <= 5000)
        assert symbol is not None
        return self.ctx.market.rest_depth(Venue.SPOT, symbol, limit, now)

    async def futures_depth(self, request: web.Request, p: Params, now: int) -> object:
        symbol = self.symbol(Venue.FUTURES, p, required=True)
        limit = p.int_in("limit", 500, lambda n: n in FUTURES_DEPTH_LIMITS)
        assert symbol is not None
        return self.ctx.market.rest_depth(Venue.FUTURES, symbol, limit, now)

    async def premium_index(self, request: web.Request, p: Params, now: int) -> object:
        symbol = self.symbol(Venue.FUTURES, p, required=False)
        return self.ctx.market.rest_premium_index(symbol, now)

    # --- futures listenKey ----------------------------------------------------------------------------

    @staticmethod
    def _api_key(request: web.Request) -> str:
        key = request.headers.get("X-MBX-APIKEY", "")
        if not _API_KEY_RE.match(key):
            raise ApiError(-2014, "API-key format invalid.", status=401)
        return key

    def _existing_key(self, request: web.Request, p: Params, now: int) -> str:
        api_key = self._api_key(request)
        key = p.text("listenKey") or self.ctx.account.active_key(api_key, now)
        if key is None or not self.ctx.account.is_valid(key, now):
            raise ApiError(-1125, "This listenKey does not exist.")
        return key

    async def listen_key_post(self, request: web.Request, p: Params, now: int) -> object:
        return {"listenKey": self.ctx.account.create_listen_key(self._api_key(request), now)}

    async def listen_key_put(self, request: web.Request, p: Params, now: int) -> object:
        key = self._existing_key(request, p, now)
        self.ctx.account.keepalive(key, now)
        return {"listenKey": key}

    async def listen_key_delete(self, request: web.Request, p: Params, now: int) -> object:
        self.ctx.account.close(self._existing_key(request, p, now))
        return b"{}"


def _as_multi(query: MultiMapping[str], form: MultiMapping[Any]) -> MultiMapping[str]:
    """Query string and form body as one mapping; on a name in both, the query string's value."""
    out: MultiDict[str] = MultiDict(query)
    for name, value in form.items():
        if name not in query and isinstance(value, str):
            out.add(name, value)
    return out


def _not_found_middleware(api: RestApi) -> Any:
    @web.middleware
    async def middleware(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        exc = request.match_info.http_exception
        if exc is None or exc.status not in (404, 405):
            return await handler(request)
        headers: dict[str, str] = {}
        venue = (
            Venue.SPOT
            if request.path.startswith("/api/")
            else Venue.FUTURES
            if request.path.startswith("/fapi/")
            else None
        )
        if venue is not None:
            now = api.ctx.clock.now_ms()
            headers[WEIGHT_HEADER] = str(api.limiter.used(request.remote or "unknown", venue, now))
        api.ctx.stats.count("rest.not_found")
        code, msg = (-1000, "Not found.") if exc.status == 404 else (-1020, "This operation is not supported.")
        return web.Response(status=exc.status, body=error_body(code, msg), headers=headers, content_type=JSON)

    return middleware


def add_routes(app: web.Application, ctx: SimContext) -> RestApi:
    """Register every Binance REST endpoint the simulator serves, plus JSON 404/405 answers."""
    api = RestApi(ctx)
    none: frozenset[str] = frozenset()
    spot, fut = Venue.SPOT, Venue.FUTURES
    table: list[tuple[str, Venue, str, frozenset[str], Handler]] = [
        ("GET", spot, "/api/v3/ping", none, api.ping),
        ("GET", spot, "/api/v3/time", none, api.time),
        ("GET", spot, "/api/v3/exchangeInfo", frozenset({"symbol", "symbols"}), api.spot_exchange_info),
        ("GET", spot, "/api/v3/ticker/24hr", frozenset({"symbol", "symbols"}), api.spot_ticker),
        (
            "GET",
            spot,
            "/api/v3/klines",
            frozenset({"symbol", "interval", "startTime", "endTime", "limit"}),
            api.spot_klines,
        ),
        ("GET", spot, "/api/v3/depth", frozenset({"symbol", "limit"}), api.spot_depth),
        ("GET", fut, "/fapi/v1/ping", none, api.ping),
        ("GET", fut, "/fapi/v1/time", none, api.time),
        ("GET", fut, "/fapi/v1/exchangeInfo", none, api.futures_exchange_info),
        ("GET", fut, "/fapi/v1/ticker/24hr", frozenset({"symbol"}), api.futures_ticker),
        (
            "GET",
            fut,
            "/fapi/v1/klines",
            frozenset({"symbol", "interval", "startTime", "endTime", "limit"}),
            api.futures_klines,
        ),
        ("GET", fut, "/fapi/v1/depth", frozenset({"symbol", "limit"}), api.futures_depth),
        ("GET", fut, "/fapi/v1/premiumIndex", frozenset({"symbol"}), api.premium_index),
        ("POST", fut, "/fapi/v1/listenKey", _SIGNED, api.listen_key_post),
        ("PUT", fut, "/fapi/v1/listenKey", _SIGNED | {"listenKey"}, api.listen_key_put),
        ("DELETE", fut, "/fapi/v1/listenKey", _SIGNED | {"listenKey"}, api.listen_key_delete),
    ]
    for method, venue, path, allowed, handler in table:
        app.router.add_route(method, path, api.route(venue, path, allowed, handler))
    app.middlewares.append(_not_found_middleware(api))
    return api
