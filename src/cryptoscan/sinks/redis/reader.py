"""``MarketDataReader``: the consumer side of the Redis fan-out, for a process that does not run the feed.

Each read tries, in order (one MGET for the first two):

1. the WebSocket key the sink writes (``{prefix}:mark_price:{symbol}``, ``{prefix}:orderbook:{symbol}:20``),
   if its ``timestamp`` is less than ``fresh_s`` old by the injected clock;
2. the reader's own REST cache (``{prefix}:rest_cache:...``), if fetched less than ``cache_ttl_s`` ago (the key
   also expires in Redis after that long);
3. the exchange's REST API (``/fapi/v1/premiumIndex``, ``/fapi/v1/depth``) through
   :class:`~cryptoscan.feed.rest.BinanceRest`, if the per-minute call budget allows; the answer is cached.

``force_fresh`` skips 1 and 2. A refused budget, a REST failure or no data gives ``None``, counted. Redis being
away is not an error here: the read falls through to REST (``redis_errors`` counts it).
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import msgspec
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from cryptoscan.clock import Clock, LiveClock
from cryptoscan.feed.rest import BinanceRest, RestFailure
from cryptoscan.sinks.redis import connect
from cryptoscan.sinks.redis.budget import CallBudget
from cryptoscan.sinks.redis.keys import DEFAULT_PREFIX, DEPTH_LEVELS, KeySpace
from cryptoscan.venues.binance.spec import Venue

_REDIS_FAILED: tuple[type[BaseException], ...] = (*connect.UNAVAILABLE, RedisError)
_decode = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode


@dataclass(slots=True)
class ReaderStats:
    hits_ws: int = 0
    hits_cache: int = 0
    misses: int = 0  # reads that went past both keys (to REST, or refused)
    api_calls: int = 0
    budget_refusals: int = 0
    api_errors: int = 0
    redis_errors: int = 0


class MarketDataReader:
    def __init__(
        self,
        redis_url: str,
        rest: BinanceRest,
        *,
        prefix: str = DEFAULT_PREFIX,
        clock: Clock | None = None,
        api_calls_per_minute: int = 60,
        fresh_s: float = 5.0,
        cache_ttl_s: float = 3.0,
        timeout_s: float = 1.0,
    ) -> None:
        self.rest = rest
        self.keys = KeySpace(prefix)
        self.clock: Clock = clock or LiveClock()
        self.budget = CallBudget(api_calls_per_minute)
        self.fresh_ms = round(fresh_s * 1000)
        self.cache_ttl_ms = round(cache_ttl_s * 1000)
        self.stats = ReaderStats()
        self._redis: aioredis.Redis = connect.client(redis_url, timeout_s=timeout_s)

    async def close(self) -> None:
        with contextlib.suppress(*_REDIS_FAILED):
            await self._redis.aclose()

    async def __aenter__(self) -> MarketDataReader:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def get_mark_price(self, symbol: str, force_fresh: bool = False) -> float | None:
        """The futures mark price of ``symbol``, or None (no data, REST failed, or the budget is spent)."""

        async def fetch() -> dict[str, Any] | None:
            rows = await self.rest.premium_index(symbol)
            if not rows or "markPrice" not in rows[0]:
                return None
            row = rows[0]
            return {"mark_price": float(row["markPrice"]), "timestamp": int(row.get("time") or 0)}

        ws, cache = self.keys.mark_price(symbol), self.keys.rest_cache("mark_price", symbol.lower())
        value = await self._read(ws, cache, fetch, force_fresh)
        return None if value is None else float(value["mark_price"])

    async def get_orderbook(self, symbol: str, force_fresh: bool = False) -> dict[str, Any] | None:
        """``{"bids", "asks", "timestamp", "source"}`` (20 levels, ``[[price, qty], ...]``) or None;
        ``source`` says where it came from: ``websocket``, ``rest_cache`` or ``rest``."""

        async def fetch() -> dict[str, Any] | None:
            params = {"symbol": symbol.upper(), "limit": str(DEPTH_LEVELS)}
            data = _decode(await self.rest.request(Venue.FUTURES, "GET", "/depth", params))
            if not isinstance(data, dict):
                return None
            return {
                "bids": [[float(p), float(q)] for p, q in data.get("bids", [])[:DEPTH_LEVELS]],
                "asks": [[float(p), float(q)] for p, q in data.get("asks", [])[:DEPTH_LEVELS]],
                "timestamp": int(data.get("E") or 0),
            }

        ws = self.keys.orderbook(symbol)
        cache = self.keys.rest_cache("orderbook", symbol.lower(), str(DEPTH_LEVELS))
        return await self._read(ws, cache, fetch, force_fresh)

    async def _read(
        self,
        ws_key: str,
        cache_key: str,
        fetch: Callable[[], Awaitable[dict[str, Any] | None]],
        force_fresh: bool,
    ) -> dict[str, Any] | None:
        stats = self.stats
        now = self.clock.now_ms()
        if not force_fresh:
            ws, cached = await self._get_two(ws_key, cache_key)
            if ws is not None and _age_ok(ws.get("timestamp"), now, self.fresh_ms):
                stats.hits_ws += 1
                return ws
            if cached is not None and _age_ok(cached.get("fetched_at"), now, self.cache_ttl_ms):
                stats.hits_cache += 1
                cached["source"] = "rest_cache"
                return cached
        stats.misses += 1
        if not self.budget.try_acquire(now):
            stats.budget_refusals += 1
            return None
        stats.api_calls += 1
        try:
            value = await fetch()
        except (RestFailure, msgspec.DecodeError, ValueError, TypeError):
            stats.api_errors += 1
            return None
        if value is None:
            return None
        value["timestamp"] = value["timestamp"] or now
        value["source"] = "rest"
        value["fetched_at"] = now
        try:
            await self._redis.set(cache_key, _encode(value), px=self.cache_ttl_ms)
        except _REDIS_FAILED:
            stats.redis_errors += 1
        return value

    async def _get_two(self, a: str, b: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        try:
            raw = await self._redis.mget(a, b)
        except _REDIS_FAILED:
            self.stats.redis_errors += 1
            return None, None
        return _load(raw[0]), _load(raw[1])


def _load(raw: bytes | str | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        value = _decode(raw)
    except msgspec.DecodeError:
        return None
    return value if isinstance(value, dict) else None


def _age_ok(ts: object, now_ms: int, limit_ms: int) -> bool:
    return isinstance(ts, int) and not isinstance(ts, bool) and now_ms - ts < limit_ms
