"""``RedisSink``: events in (sync, never blocking), batched pipelines out, through Redis outages.

``offer(event)`` maps the event to commands (:mod:`.keys`) and parks them in a :class:`.buffer.PendingBuffer`:
latest values coalesce per key, stream entries queue in a bounded FIFO (oldest dropped and counted). One
background task writes what is pending as one pipeline (``transaction=False``) per batch, plus one PUBLISH on
``{prefix}:updates`` describing the batch. When it wakes from idle it lingers ``flush_interval_s`` to gather
a batch; under load, what arrives during a round trip makes the next batch.

On an outage (refused, reset, timeout, LOADING) the batch goes back in the buffer, the connection pool is
dropped, and the writer waits a jittered, capped delay (``feed/backoff.py``'s policy) before trying again;
offers keep buffering meanwhile and nothing is raised into the caller. A batch leaves the buffer only after
its pipeline succeeded, so a resend may repeat commands: SETs are idempotent, closed klines have ids from
their open time (a repeat is a counted duplicate, see :mod:`.ordered`), orders and generic appends use
Redis-chosen ids and are at-least-once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, cast

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from cryptoscan.aio import wait_event
from cryptoscan.clock import Clock, LiveClock
from cryptoscan.feed.backoff import Backoff, BackoffPolicy
from cryptoscan.sinks.redis import connect
from cryptoscan.sinks.redis.buffer import Batch, PendingBuffer
from cryptoscan.sinks.redis.keys import DEFAULT_PREFIX, STREAM_MAXLEN, Append, KeySpace, announcement
from cryptoscan.sinks.redis.ordered import DUPLICATE_MARK, INSERT_LUA, Insert

log = logging.getLogger(__name__)

DEFAULT_BACKOFF = BackoffPolicy(initial_ms=50, factor=2.0, max_ms=2_000, jitter=0.5, stable_ms=30_000)


@dataclass(frozen=True, slots=True)
class SinkStats:
    written: int  # SET and XADD acknowledged (duplicates excluded)
    batches: int  # pipelines that succeeded
    dropped: int  # commands dropped by a full buffer (never silently)
    duplicates: int  # closed klines already in their stream
    reconnects: int  # times Redis came back after a failure
    pending: int  # commands not yet acknowledged
    connected: bool
    late_inserts: int = 0  # closed klines put in place behind newer ones (backfilled bars)
    stale: int = 0  # late closed klines older than a full stream keeps
    failures: int = 0  # failed pipeline attempts (each one retried)
    errors: int = 0  # commands Redis refused for good (e.g. WRONGTYPE), and events that failed to map
    ignored: int = 0  # events of kinds the sink does not store (trades, book tops, ...)


class _Registrar(Protocol):
    """What :meth:`RedisSink.attach` needs of the aggregator."""

    def register_kline_callback(self, cb: Callable[[Any], None]) -> object: ...
    def register_ticker_callback(self, cb: Callable[[Any], None]) -> object: ...
    def register_depth_callback(self, cb: Callable[[Any], None]) -> object: ...
    def register_mark_price_callback(self, cb: Callable[[Any], None]) -> object: ...
    def register_user_data_callback(self, cb: Callable[[Any], None]) -> object: ...


class RedisSink:
    def __init__(
        self,
        url: str,
        prefix: str = DEFAULT_PREFIX,
        *,
        clock: Clock | None = None,
        max_pending: int = 100_000,
        max_keys: int = 100_000,
        flush_interval_s: float = 0.002,
        batch_max: int = 2_000,
        backoff: BackoffPolicy | None = None,
        rand: Callable[[], float] = random.random,
        timeout_s: float = 2.0,
        announce: bool = True,
    ) -> None:
        self.url = url
        self.keys = KeySpace(prefix)
        self.clock: Clock = clock or LiveClock()
        self.flush_interval_s = flush_interval_s
        self.batch_max = batch_max
        self.announce = announce
        self._timeout_s = timeout_s
        self._buf = PendingBuffer(max_pending, max_keys)
        self._backoff = Backoff(backoff or DEFAULT_BACKOFF, rand)
        self._client: aioredis.Redis | None = None
        self._insert: Any = None  # redis-py Script for late closed klines
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()  # set when nothing is pending
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._connected = False
        self._ever_failed = False
        self._n = dict.fromkeys(
            ("written", "batches", "duplicates", "reconnects", "late_inserts", "stale", "failures", "errors",
             "ignored"), 0)  # fmt: skip

    # --- producer side (sync, never blocks, never raises) ---------------------------------------------------
    def offer(self, event: object) -> None:
        try:
            cmds = self.keys.commands(event)
        except Exception:  # a malformed event must not reach the caller
            self._n["errors"] += 1
            log.exception("redis sink: cannot map %s", type(event).__name__)
            return
        if not cmds:
            self._n["ignored"] += 1
            return
        add = self._buf.add
        for c in cmds:
            add(c)
        self._idle.clear()
        self._wake.set()

    def put_json(self, key_suffix: str, value: object, ttl_s: float | None) -> None:
        """``{prefix}:{key_suffix}`` = JSON of ``value``, expiring after ``ttl_s`` (None: never); coalesces."""
        self._buf.put(self.keys.put_json(key_suffix, value, None if ttl_s is None else round(ttl_s * 1000)))
        self._idle.clear()
        self._wake.set()

    def append(self, stream_suffix: str, fields: Mapping[str, object], maxlen: int = STREAM_MAXLEN) -> None:
        """One entry on the stream ``{prefix}:{stream_suffix}``, trimmed to about ``maxlen``; never coalesced."""
        self._buf.append(self.keys.append(stream_suffix, fields, maxlen))
        self._idle.clear()
        self._wake.set()

    def attach(self, aggregator: _Registrar) -> None:
        """Register :meth:`offer` for every kind the sink stores (klines, tickers, depth, mark prices, user)."""
        for register in (
            aggregator.register_kline_callback,
            aggregator.register_ticker_callback,
            aggregator.register_depth_callback,
            aggregator.register_mark_price_callback,
            aggregator.register_user_data_callback,
        ):
            register(self.offer)

    @property
    def stats(self) -> SinkStats:
        n = self._n
        return SinkStats(
            written=n["written"], batches=n["batches"], dropped=self._buf.dropped, duplicates=n["duplicates"],
            reconnects=n["reconnects"], pending=self._buf.pending, connected=self._connected,
            late_inserts=n["late_inserts"], stale=n["stale"], failures=n["failures"], errors=n["errors"],
            ignored=n["ignored"],
        )  # fmt: skip

    # --- lifecycle ------------------------------------------------------------------------------------------
    async def start(self) -> None:
        """Connect (a Redis that is down is not an error: the writer keeps trying) and start the writer."""
        if self._task is not None:
            return
        self._stopping = False
        self._client = connect.client(self.url, timeout_s=self._timeout_s, read_timeout=False)
        self._insert = self._client.register_script(INSERT_LUA)
        try:
            async with asyncio.timeout(self._timeout_s):
                await self._client.ping()
            self._connected = True
        except connect.UNAVAILABLE as exc:
            log.warning("redis sink: Redis unavailable at start (%s); buffering", type(exc).__name__)
        self._task = asyncio.create_task(self._run(), name="redis-sink")

    async def stop(self, timeout_s: float = 5.0) -> None:
        """Write what is pending within ``timeout_s``, then close; what is left is counted in ``pending``."""
        task = self._task
        if task is None:
            return
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout_s)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._task = None
        if self._client is not None:
            with contextlib.suppress(*connect.UNAVAILABLE, RedisError):
                await self._client.aclose()
            self._client = None
        self._connected = False

    async def flush(self, timeout_s: float | None = None) -> bool:
        """Wait until everything offered so far is acknowledged; False if ``timeout_s`` passed first."""
        return await wait_event(self._idle, timeout_s)

    async def __aenter__(self) -> RedisSink:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- the writer -----------------------------------------------------------------------------------------
    async def _run(self) -> None:
        buf = self._buf
        while True:
            if not buf.has_work:
                self._idle.set()
                if self._stopping:
                    return
                self._wake.clear()
                await self._wake.wait()
                if self.flush_interval_s > 0 and not self._stopping:
                    await asyncio.sleep(self.flush_interval_s)
                continue
            batch = buf.take(self.batch_max)
            if not await self._flush(batch):
                await asyncio.sleep(self._backoff.next_delay(self.clock.now_ms()) / 1000)

    async def _flush(self, batch: Batch) -> bool:
        """One pipeline for the batch; True when Redis answered (the batch is then out of the buffer)."""
        assert self._client is not None
        pipe = self._client.pipeline(transaction=False)
        for p in batch.puts:
            pipe.set(p.key, p.value, px=p.ttl_ms)
        for a in batch.appends:
            pipe.xadd(a.key, cast(Any, a.fields), id=a.entry_id, maxlen=a.maxlen, approximate=True)
        if self.announce:
            pipe.publish(self.keys.channel, announcement((*batch.puts, *batch.appends), self.clock.now_ms()))
        try:
            async with asyncio.timeout(self._timeout_s):  # one timer per pipeline, not one per reply
                results = await pipe.execute(raise_on_error=False)
        except connect.UNAVAILABLE as exc:
            await self._lost(batch, exc)
            return False
        except Exception:  # a bug, not an outage: retrying would loop forever
            log.exception("redis sink: pipeline failed")
            self._buf.done(batch)
            self._buf.dropped += len(batch)
            self._n["errors"] += len(batch)
            return True
        late: list[Append] = []
        n = self._n
        ok = len(batch.puts) - sum(isinstance(r, Exception) for r in results[: len(batch.puts)])
        n["errors"] += len(batch.puts) - ok
        for a, r in zip(batch.appends, results[len(batch.puts) :], strict=False):
            if not isinstance(r, Exception):
                ok += 1
            elif isinstance(r, ResponseError) and DUPLICATE_MARK in str(r) and a.entry_id != "*":
                late.append(a)
            else:
                n["errors"] += 1
                log.warning("redis sink: %s refused: %s", a.key, r)
        n["written"] += ok
        n["batches"] += 1
        if late:
            held = {id(a) for a in late}
            self._buf.done(Batch(batch.puts, [a for a in batch.appends if id(a) not in held]))
        else:
            self._buf.done(batch)
        self._live()
        if late:
            return await self._place_late(late)
        return True

    async def _place_late(self, late: list[Append]) -> bool:
        """Refused closed klines: duplicates, or late bars to put in order (see :mod:`.ordered`)."""
        n = self._n
        for i, a in enumerate(late):
            args: list[str | bytes | int] = [a.entry_id, a.maxlen]
            for k, v in a.fields.items():
                args += (k, v)
            try:
                async with asyncio.timeout(self._timeout_s):
                    code = Insert(int(await self._insert(keys=[a.key], args=args)))
            except connect.UNAVAILABLE as exc:
                await self._lost(Batch([], late[i:]), exc)
                return False
            except (RedisError, ValueError) as exc:
                n["errors"] += 1
                log.warning("redis sink: cannot place %s %s: %s", a.key, a.entry_id, exc)
            else:
                n["written" if code is Insert.INSERTED else "duplicates" if code is Insert.DUPLICATE else "stale"] += 1
                if code is Insert.INSERTED:
                    n["late_inserts"] += 1
            self._buf.done(Batch([], [a]))
        return True

    async def _lost(self, batch: Batch, exc: BaseException) -> None:
        self._buf.restore(batch)
        self._n["failures"] += 1
        if self._connected:
            log.warning("redis sink: Redis unavailable (%s: %s); buffering and retrying", type(exc).__name__, exc)
        self._connected = False
        self._ever_failed = True
        if self._client is not None:  # dead pooled sockets: the next attempt dials afresh
            with contextlib.suppress(Exception):
                await self._client.connection_pool.disconnect()

    def _live(self) -> None:
        if not self._connected:
            self._connected = True
            if self._ever_failed:
                self._n["reconnects"] += 1
                log.info("redis sink: Redis is back; %d commands pending", self._buf.pending)
            self._backoff.on_live(self.clock.now_ms())
