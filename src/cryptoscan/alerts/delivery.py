"""Delivery through apprise: one isolated lane per channel, so a dead channel never holds up another.

Each channel (one apprise URL from ``alerts.urls``) has its own bounded queue (when full, the oldest waiting
message is dropped and recorded), worker task, token bucket (:mod:`cryptoscan.alerts.ratelimit`), retry
sequence (``cryptoscan.feed.backoff``: jittered, capped, reset by a success) and thread. The thread is there
because apprise's plugins send with blocking ``requests`` / ``smtplib``: each send runs in its channel's one
thread, and a send that hangs past ``timeout_s`` is abandoned, which only ever delays its own channel.
:meth:`AlertDispatcher.submit` never blocks, so the scanner's listener can call it.

Every outcome becomes a :class:`DeliveryRecord` in the shared :class:`RecordLog`: delivered (with the number
of attempts), failed after the last retry, dropped from a full queue, or cut short by :meth:`stop`.
Channel names and errors are masked (``0:discord://***``): apprise URLs carry their tokens.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import apprise
from pydantic import SecretStr

from cryptoscan.alerts.ratelimit import TokenBucket
from cryptoscan.alerts.records import DeliveryRecord, RecordLog
from cryptoscan.clock import Clock, LiveClock
from cryptoscan.feed.backoff import Backoff, BackoffPolicy
from cryptoscan.log import get_logger, mask_text

log = get_logger(__name__)

ALERT_BACKOFF = BackoffPolicy(initial_ms=2_000, factor=2.0, max_ms=60_000, jitter=0.5, stable_ms=60_000)
MAX_ERROR_CHARS = 300


@dataclass(frozen=True, slots=True)
class Notification:
    """One message to every channel: a FUERTE alert, or a digest of ALTA alerts."""

    id: str
    ts_ms: int
    title: str
    text: str
    markdown: str


@dataclass(slots=True)
class ChannelStats:
    sent: int = 0
    failed: int = 0  # gave up after the last retry
    attempts: int = 0
    retries: int = 0
    timeouts: int = 0
    dropped: int = 0  # never tried: queue full, or the dispatcher stopped first


class Channel:
    """One apprise URL: its queue, bucket, retry sequence, thread and stats."""

    def __init__(
        self,
        index: int,
        url: str,
        *,
        rate_per_s: float,
        burst: int,
        policy: BackoffPolicy,
        queue_size: int,
        now: float,
        rand: Callable[[], float],
    ) -> None:
        self.name = f"{index}:{mask_text(url)}"
        self.apprise = apprise.Apprise(asset=apprise.AppriseAsset(async_mode=False, service_timeout=0))
        if not self.apprise.add(url):
            raise ValueError(f"alerts.urls[{index}]: not a usable apprise URL ({mask_text(url)})")
        for service in self.apprise:  # one rate limit per channel: ours (apprise sleeps 5.5 s between sends)
            service.request_rate_per_sec = 0
        # chat services get Markdown, email gets it as HTML, ``?format=text`` in the URL asks for plain text
        chosen = self.apprise[0].resolve_format(apprise.NotifyFormat.MARKDOWN)
        self.markdown = chosen is not apprise.NotifyFormat.TEXT
        self.queue: asyncio.Queue[tuple[Notification, float]] = asyncio.Queue(queue_size)
        self.bucket = TokenBucket(rate_per_s, burst, now)
        self.backoff = Backoff(policy, rand)
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"alerts-{index}")
        self.stats = ChannelStats()
        self.task: asyncio.Task[None] | None = None
        self.attempts = 0  # attempts made for the message in hand

    def send_blocking(self, n: Notification) -> str | None:
        """One attempt (in the channel's thread): None when delivered, else why not (masked)."""
        body, fmt = (
            (n.markdown, apprise.NotifyFormat.MARKDOWN) if self.markdown else (n.text, apprise.NotifyFormat.TEXT)
        )
        result = self.apprise.notify(body=body, title=n.title, body_format=fmt)
        if result:
            return None
        lines = [e.message for e in result.logs() if e.level in ("WARNING", "ERROR", "CRITICAL")]
        return mask_text("; ".join(lines) or f"apprise: {result.status.name}")[:MAX_ERROR_CHARS]


class AlertDispatcher:
    """Fan a :class:`Notification` out to every channel; call :meth:`start` on the loop, :meth:`stop` at the end.

    ``rate_per_min`` / ``burst``: each channel's token bucket (0: no limit). ``retries``: attempts after the
    first. ``timeout_s``: how long one attempt may take before it is abandoned and counted as failed.
    """

    def __init__(
        self,
        urls: Sequence[str | SecretStr],
        clock: Clock | None = None,
        *,
        rate_per_min: float = 20.0,
        burst: int = 5,
        retries: int = 3,
        backoff: BackoffPolicy | None = None,
        queue_size: int = 100,
        timeout_s: float = 30.0,
        log: RecordLog | None = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        if retries < 0 or queue_size < 1 or timeout_s <= 0:
            raise ValueError("need retries >= 0, queue_size >= 1, timeout_s > 0")
        self.clock = clock or LiveClock()
        self.retries = retries
        self.timeout_s = timeout_s
        self.log = log if log is not None else RecordLog()
        now = self.clock.monotonic()
        raw = [u.get_secret_value() if isinstance(u, SecretStr) else u for u in urls]
        self.channels = [
            Channel(i, url, rate_per_s=rate_per_min / 60.0, burst=burst, policy=backoff or ALERT_BACKOFF,
                    queue_size=queue_size, now=now, rand=rand)
            for i, url in enumerate(raw)
        ]  # fmt: skip
        self._closed = False

    @property
    def stats(self) -> dict[str, ChannelStats]:
        return {ch.name: ch.stats for ch in self.channels}

    # --- producer side (sync, never blocks) ---------------------------------------------------------------
    def submit(self, n: Notification) -> None:
        now = self.clock.monotonic()
        for ch in self.channels:
            if self._closed:
                self._finish(ch, n, now, ok=False, attempts=0, error="not sent: the dispatcher is stopped")
                continue
            if ch.queue.full():  # keep the freshest: drop the oldest waiting message
                old, queued = ch.queue.get_nowait()
                ch.queue.task_done()
                self._finish(ch, old, queued, ok=False, attempts=0, error="dropped: channel queue full")
            ch.queue.put_nowait((n, now))

    # --- lifecycle ----------------------------------------------------------------------------------------
    async def start(self) -> None:
        for ch in self.channels:
            if ch.task is None:
                ch.task = asyncio.create_task(self._run(ch), name=f"alerts {ch.name}")

    async def stop(self, drain_s: float = 5.0) -> None:
        """Let queued messages go out for up to ``drain_s``, then cancel; whatever is left is recorded."""
        self._closed = True
        tasks = [ch.task for ch in self.channels if ch.task is not None]
        if tasks and drain_s > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*(ch.queue.join() for ch in self.channels)), drain_s)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for ch in self.channels:
            ch.task = None
            while not ch.queue.empty():
                n, queued = ch.queue.get_nowait()
                ch.queue.task_done()
                self._finish(ch, n, queued, ok=False, attempts=0, error="not sent: the dispatcher stopped")
            ch.executor.shutdown(wait=False, cancel_futures=True)

    # --- one lane -----------------------------------------------------------------------------------------
    async def _run(self, ch: Channel) -> None:
        while True:
            n, queued = await ch.queue.get()
            try:
                await self._deliver(ch, n, queued)
            except asyncio.CancelledError:
                self._finish(ch, n, queued, ok=False, attempts=ch.attempts, error="stopped before delivery")
                raise
            finally:
                ch.queue.task_done()

    async def _deliver(self, ch: Channel, n: Notification, queued: float) -> None:
        ch.attempts = 0
        error: str | None = None
        for attempt in range(1 + self.retries):
            if attempt:
                ch.stats.retries += 1
                await asyncio.sleep(ch.backoff.next_delay(self.clock.now_ms()) / 1000.0)
            wait = ch.bucket.reserve(self.clock.monotonic())
            if wait > 0:
                await asyncio.sleep(wait)
            ch.attempts = attempt + 1
            ch.stats.attempts += 1
            error = await self._attempt(ch, n)
            if error is None:
                ch.backoff.reset()
                self._finish(ch, n, queued, ok=True, attempts=ch.attempts, error=None)
                return
            log.warning("alert delivery attempt failed", channel=ch.name, attempt=ch.attempts, error=error)
        self._finish(ch, n, queued, ok=False, attempts=ch.attempts, error=error)

    async def _attempt(self, ch: Channel, n: Notification) -> str | None:
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(ch.executor, ch.send_blocking, n)
        try:
            return await asyncio.wait_for(future, self.timeout_s)
        except TimeoutError:
            ch.stats.timeouts += 1
            return f"timeout: no answer within {self.timeout_s:g} s"
        except Exception as exc:  # a plugin bug is this channel's failure, not the dispatcher's
            return mask_text(f"{type(exc).__name__}: {exc}")[:MAX_ERROR_CHARS]

    def _finish(
        self, ch: Channel, n: Notification, queued: float, *, ok: bool, attempts: int, error: str | None
    ) -> None:
        if ok:
            ch.stats.sent += 1
        elif attempts:
            ch.stats.failed += 1
        else:
            ch.stats.dropped += 1
        latency = max(0, round((self.clock.monotonic() - queued) * 1000))
        self.log.add(
            DeliveryRecord(ts_ms=self.clock.now_ms(), alert_id=n.id, channel=ch.name, ok=ok, attempts=attempts,
                           error=error, latency_ms=latency)
        )  # fmt: skip
