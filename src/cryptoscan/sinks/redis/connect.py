"""One way to build a redis-py asyncio client for cryptoscan: short timeouts and no retries of its own.

redis-py retries a failed command by itself (with its own backoff) by default; the sink has its own policy
(``feed/backoff.py``) and must stay in charge of when to try again, so the client's retry is turned off.
Failures the caller should treat as "Redis is away, try later" are :data:`UNAVAILABLE`.
"""

from __future__ import annotations

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

UNAVAILABLE: tuple[type[BaseException], ...] = (RedisConnectionError, RedisTimeoutError, OSError, TimeoutError)
"""Connection refused or lost, timeouts, and LOADING (BusyLoadingError is a ConnectionError)."""


def client(url: str, *, timeout_s: float = 2.0, read_timeout: bool = True) -> aioredis.Redis:
    """``read_timeout=False``: no per-reply timer (one costs ~6 µs a reply in a pipeline); the caller then
    bounds each round trip itself, e.g. ``asyncio.timeout`` around a whole pipeline."""
    return aioredis.Redis.from_url(
        url,
        socket_timeout=timeout_s if read_timeout else None,
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=0,
    )
