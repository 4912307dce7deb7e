"""Binance REST client (spot ``/api/v3`` and USD-M futures ``/fapi/v1``): discovery, backfill, listenKeys.

One ``httpx.AsyncClient`` per venue base (``https://api.binance.com``, ``https://fapi.binance.com``), or one
for both when a single base URL serves every path (``cryptoscan sim``). After every response the
``X-MBX-USED-WEIGHT-1M`` header goes into a per-venue :class:`WeightTracker` and every observer hears the
status and headers (the backfill scheduler shares the budget with discovery that way).

Failures are typed once, here, so callers never look at status codes:

- :class:`RateLimited` (429/418, with ``Retry-After`` in seconds): never retried blindly, the caller waits;
- :class:`RestError` (5xx, timeouts, transport errors, unreadable bodies): retry with the caller's policy;
- :class:`ApiError` (Binance's ``{"code": -1121, "msg": "Invalid symbol."}``): the request itself is wrong.

A kline row as served (the open bar comes last, and is dropped here)::

    [1499040000000, "0.01634790", "0.80000000", "0.01575800", "0.01577100", "148976.11427815",
     1499644799999, "2434.19055334", 308, "1756.87402397", "28.46694368", "0"]
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import msgspec
from pydantic import SecretStr

from cryptoscan.clock import Clock, LiveClock
from cryptoscan.events import Kline
from cryptoscan.feed.backoff import DEFAULT_418_MS, DEFAULT_429_MS, retry_after_ms
from cryptoscan.feed.budget import used_weight
from cryptoscan.feed.gaps import KlineRequest
from cryptoscan.venues.binance import schemas
from cryptoscan.venues.binance.spec import FUTURES_REST, FUTURES_WS, SPOT_REST, SPOT_WS, Venue

API_KEY_HEADER = "X-MBX-APIKEY"
DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
_PREFIX = {Venue.SPOT: "/api/v3", Venue.FUTURES: "/fapi/v1"}


# --- failures ------------------------------------------------------------------------------------------


class RestFailure(Exception):
    """Base of every REST failure; ``status`` is 0 when no HTTP answer arrived."""

    def __init__(self, venue: Venue, path: str, status: int, message: str) -> None:
        super().__init__(f"{venue.value} {path}: {message}")
        self.venue = venue
        self.path = path
        self.status = status


class RestError(RestFailure):
    """5xx, timeout, connection error or an unreadable body: worth retrying later."""


class RateLimited(RestFailure):
    """429 (over the weight budget) or 418 (banned): wait ``retry_after_s`` before any request to this venue."""

    def __init__(self, venue: Venue, path: str, status: int, retry_after_s: float) -> None:
        super().__init__(venue, path, status, f"HTTP {status}, retry after {retry_after_s:g} s")
        self.retry_after_s = retry_after_s


class ApiError(RestFailure):
    """Binance refused the request (``code`` e.g. -1121 invalid symbol, -1125 unknown listenKey)."""

    def __init__(self, venue: Venue, path: str, status: int, code: int, msg: str) -> None:
        super().__init__(venue, path, status, f"{code} {msg}")
        self.code = code
        self.msg = msg


# --- weight tracking -----------------------------------------------------------------------------------


@dataclass(slots=True)
class VenueWeight:
    """What the last responses of one venue said about our request weight."""

    used: int | None = None  # last X-MBX-USED-WEIGHT-1M
    at_ms: int = 0  # when it was read (client clock)
    peak: int = 0  # highest figure seen
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    throttled: int = 0  # 429 and 418 answers
    blocked_until_ms: int = 0  # client clock: no request before this (Retry-After)


class WeightTracker:
    """Per-venue used weight, read from every response."""

    def __init__(self) -> None:
        self.venues: dict[Venue, VenueWeight] = {v: VenueWeight() for v in Venue}

    def observe(self, venue: Venue, status: int, headers: Mapping[str, str], now_ms: int) -> None:
        w = self.venues[venue]
        w.requests += 1
        w.statuses[status] += 1
        used = used_weight(headers)
        if used is not None:
            w.used, w.at_ms = used, now_ms
            w.peak = max(w.peak, used)
        if status in (429, 418):
            w.throttled += 1
            wait = retry_after_ms(headers, DEFAULT_429_MS if status == 429 else DEFAULT_418_MS)
            w.blocked_until_ms = max(w.blocked_until_ms, now_ms + wait)

    def used(self, venue: Venue) -> int | None:
        return self.venues[venue].used


Observer = Callable[[Venue, int, Mapping[str, str]], None]
"""Hears (venue, HTTP status, response headers) after every response; status 0 for transport errors."""


def weight_limit(exchange_info: Mapping[str, Any]) -> int | None:
    """The REQUEST_WEIGHT limit per minute that exchangeInfo's ``rateLimits`` announces, if any."""
    for rule in exchange_info.get("rateLimits") or ():
        if (
            isinstance(rule, Mapping)
            and rule.get("rateLimitType") == "REQUEST_WEIGHT"
            and rule.get("interval") == "MINUTE"
            and isinstance(rule.get("limit"), int)
        ):
            return int(rule["limit"]) // max(1, int(rule.get("intervalNum") or 1))
    return None


# --- decoding ------------------------------------------------------------------------------------------


class _KlineRow(msgspec.Struct, array_like=True, frozen=True):
    """One ``/klines`` row; decoded in lax mode, so the decimal strings become floats in the same pass."""

    open_time: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    close_time: int
    quote_volume: float
    trades: int
    taker_buy_volume: float
    taker_buy_quote_volume: float


_ROWS = msgspec.json.Decoder(list[_KlineRow], strict=False)
_ERROR = msgspec.json.Decoder(schemas.ApiError)
_ANY = msgspec.json.Decoder()


class _ListenKey(msgspec.Struct, frozen=True):
    key: str = msgspec.field(name="listenKey")


_LISTEN_KEY = msgspec.json.Decoder(_ListenKey)


# --- the client ----------------------------------------------------------------------------------------


class BinanceRest:
    """Async REST client for both venues. ``base_url`` set: one base for every path (the local sim)."""

    def __init__(
        self,
        base_url: str | None = None,
        *,
        spot_url: str = SPOT_REST,
        futures_url: str = FUTURES_REST,
        api_key: SecretStr | None = None,
        clock: Clock | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
        max_connections: int = 16,
    ) -> None:
        self.clock: Clock = clock or LiveClock()
        self.weights = WeightTracker()
        self._api_key = api_key
        self._observers: list[Observer] = []
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)

        def make(url: str) -> httpx.AsyncClient:
            return httpx.AsyncClient(base_url=url, timeout=timeout, transport=transport, limits=limits)

        self._base_url = base_url.rstrip("/") if base_url is not None else None
        if self._base_url is not None:
            one = make(self._base_url)
            self._clients = {Venue.SPOT: one, Venue.FUTURES: one}
        else:
            self._clients = {Venue.SPOT: make(spot_url), Venue.FUTURES: make(futures_url)}

    def add_observer(self, observer: Observer) -> None:
        self._observers.append(observer)

    def remove_observer(self, observer: Observer) -> None:
        if observer in self._observers:
            self._observers.remove(observer)

    async def aclose(self) -> None:
        for client in {id(c): c for c in self._clients.values()}.values():
            await client.aclose()

    async def close(self) -> None:
        await self.aclose()

    def ws_base(self, venue: Venue) -> str:
        """The WebSocket base for ``venue``: the sim's own host when one base URL serves everything."""
        if self._base_url is not None:
            return self._base_url.replace("http://", "ws://", 1).replace("https://", "wss://", 1)
        return SPOT_WS if venue is Venue.SPOT else FUTURES_WS

    async def __aenter__(self) -> BinanceRest:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # --- the one request path ----------------------------------------------------------------------

    async def request(
        self,
        venue: Venue,
        method: str,
        endpoint: str,
        params: Mapping[str, str] | None = None,
        *,
        keyed: bool = False,
        api_key: SecretStr | None = None,
    ) -> bytes:
        """Send one request (``endpoint`` without the venue prefix, e.g. ``/klines``); the body on 2xx."""
        path = _PREFIX[venue] + endpoint
        headers: dict[str, str] = {}
        if keyed:
            key = api_key or self._api_key
            if key is None:
                raise ApiError(venue, path, 0, -2014, "no API key configured")
            headers[API_KEY_HEADER] = key.get_secret_value()
        try:
            response = await self._clients[venue].request(method, path, params=params, headers=headers)
        except httpx.HTTPError as exc:  # timeouts, refused connections, protocol errors
            self._notify(venue, 0, {})
            raise RestError(venue, path, 0, f"{type(exc).__name__}: {exc}") from None
        status, resp_headers = response.status_code, response.headers
        self.weights.observe(venue, status, resp_headers, self.clock.now_ms())
        self._notify(venue, status, resp_headers)
        body = response.content
        if 200 <= status < 300:
            return body
        if status in (429, 418):
            default = DEFAULT_429_MS if status == 429 else DEFAULT_418_MS
            raise RateLimited(venue, path, status, retry_after_ms(resp_headers, default) / 1000)
        if status >= 500:
            raise RestError(venue, path, status, f"HTTP {status}")
        try:
            err = _ERROR.decode(body)
        except msgspec.DecodeError:
            raise ApiError(venue, path, status, 0, f"HTTP {status}") from None
        raise ApiError(venue, path, status, err.code, err.msg)

    def _notify(self, venue: Venue, status: int, headers: Mapping[str, str]) -> None:
        for observer in list(self._observers):
            observer(venue, status, headers)

    def _decode(self, venue: Venue, endpoint: str, body: bytes, decoder: msgspec.json.Decoder[Any]) -> Any:
        try:
            return decoder.decode(body)
        except msgspec.DecodeError as exc:
            raise RestError(venue, _PREFIX[venue] + endpoint, 200, f"unreadable body: {exc}") from None

    # --- endpoints ---------------------------------------------------------------------------------

    async def exchange_info(self, venue: Venue) -> dict[str, Any]:
        body = await self.request(venue, "GET", "/exchangeInfo")
        info = self._decode(venue, "/exchangeInfo", body, _ANY)
        if not isinstance(info, dict):
            raise RestError(venue, _PREFIX[venue] + "/exchangeInfo", 200, "not an object")
        return info

    async def tickers_24h(self, venue: Venue) -> list[dict[str, Any]]:
        body = await self.request(venue, "GET", "/ticker/24hr")
        rows = self._decode(venue, "/ticker/24hr", body, _ANY)
        if not isinstance(rows, list):
            raise RestError(venue, _PREFIX[venue] + "/ticker/24hr", 200, "not a list")
        return rows

    async def premium_index(self, symbol: str | None = None) -> list[dict[str, Any]]:
        """Futures mark price, index and funding; every symbol, or one (still returned as a list)."""
        params = {"symbol": symbol.upper()} if symbol else None
        body = await self.request(Venue.FUTURES, "GET", "/premiumIndex", params)
        data = self._decode(Venue.FUTURES, "/premiumIndex", body, _ANY)
        return [data] if isinstance(data, dict) else list(data)

    async def klines(
        self,
        venue: Venue,
        symbol: str,
        interval: str,
        start_ms: int | None = None,
        end_ms: int | None = None,
        limit: int = 500,
    ) -> list[Kline]:
        """Closed klines only (``closed=True``), oldest first; a bar whose close time is not past is dropped."""
        params = {"symbol": symbol.upper(), "interval": interval, "limit": str(limit)}
        if start_ms is not None:
            params["startTime"] = str(start_ms)
        if end_ms is not None:
            params["endTime"] = str(end_ms)
        body = await self.request(venue, "GET", "/klines", params)
        rows: list[_KlineRow] = self._decode(venue, "/klines", body, _ROWS)
        now = self.clock.now_ms()
        v, sym = str(venue.value), symbol.upper()
        return [
            Kline(
                v,
                sym,
                interval,
                r.open_time,
                r.close_time,
                r.open,
                r.high,
                r.low,
                r.close,
                r.volume,
                r.quote_volume,
                r.trades,
                r.taker_buy_volume,
                r.taker_buy_quote_volume,
                True,
                -1,
                -1,  # REST rows carry no trade ids
                r.close_time,
                now,
            )
            for r in rows
            if r.close_time < now
        ]

    async def fetch(self, request: KlineRequest) -> list[Kline]:
        """Run one backfill request from :class:`~cryptoscan.feed.gaps.GapTracker`."""
        return await self.klines(
            request.venue, request.symbol, request.interval, request.start_time, request.end_time, request.limit
        )

    # --- futures listenKey (API key in X-MBX-APIKEY; no signature needed) --------------------------

    async def listen_key_create(self, api_key: SecretStr | None = None) -> str:
        """POST: the active key (extended) or a new one. ``api_key`` overrides the client's key."""
        body = await self.request(Venue.FUTURES, "POST", "/listenKey", keyed=True, api_key=api_key)
        return str(self._decode(Venue.FUTURES, "/listenKey", body, _LISTEN_KEY).key)

    async def listen_key_keepalive(self, listen_key: str | None = None, api_key: SecretStr | None = None) -> None:
        """PUT: extend the key by 60 minutes; :class:`ApiError` -1125 means it is gone (create a new one)."""
        params = {"listenKey": listen_key} if listen_key else None
        await self.request(Venue.FUTURES, "PUT", "/listenKey", params, keyed=True, api_key=api_key)

    async def listen_key_close(self, listen_key: str | None = None, api_key: SecretStr | None = None) -> None:
        params = {"listenKey": listen_key} if listen_key else None
        await self.request(Venue.FUTURES, "DELETE", "/listenKey", params, keyed=True, api_key=api_key)
