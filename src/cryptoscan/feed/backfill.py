"""Backfill executor: runs GapTracker's ``/klines`` requests through :class:`BinanceRest`, within budget.

The sans-I/O :class:`~cryptoscan.feed.budget.BackfillScheduler` (one per venue) decides what may go out;
this module only moves requests and timers:

- every REST response on the client (discovery too) reaches the scheduler, so the budget is shared;
- requests are spread: after sending weight ``w`` the next send on that venue waits
  ``w * 60 s * spread / allowed``, so a mass reconnect of hundreds of series becomes a steady trickle
  instead of a burst at the top of the minute;
- 429/418 block the venue until ``Retry-After`` (counted in ``throttles``; never retried blindly);
  5xx and transport errors are retried by the scheduler after a jittered backoff (``retries``);
- klines reach ``on_klines(klines)`` in order per series (a later batch waits for an earlier one still in
  flight), so the consumer can append to rings and feed ``GapTracker.on_closed`` as it goes;
- :meth:`Backfiller.fetch` is the awaitable form (initial history loads) under the same budget: its klines
  go to the caller, not to ``on_klines``.

Timing reads the injected Clock. ``time_scale`` (taken from a ScaledClock's ``speed`` by default) converts
its milliseconds to real seconds for sleeping, and Retry-After (real seconds on the wire) to clock time.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from cryptoscan.aio import wait_event
from cryptoscan.clock import Clock, LiveClock
from cryptoscan.events import Kline
from cryptoscan.feed.backoff import Backoff, BackoffPolicy
from cryptoscan.feed.budget import MINUTE_MS, BackfillScheduler, Outcome
from cryptoscan.feed.gaps import MAX_BARS, KlineRequest
from cryptoscan.feed.rest import ApiError, BinanceRest, RateLimited, RestError
from cryptoscan.log import get_logger
from cryptoscan.venues.binance.spec import INTERVAL_MS, Venue

log = get_logger(__name__)

KlineSink = Callable[[list[Kline]], None]
SeriesKey = tuple[Venue, str, str]

RETRY_POLICY = BackoffPolicy(initial_ms=500, factor=2.0, max_ms=30_000, jitter=0.5, stable_ms=60_000)


@dataclass(slots=True)
class BackfillCounters:
    requests: int = 0  # sent
    klines: int = 0  # fetched (to the sink or a fetch() caller)
    retries: int = 0  # 5xx / transport errors queued again
    throttles: int = 0  # 429 / 418 answers
    dropped: int = 0  # given up (client error, or retries exhausted)
    errors: int = 0  # every failed request, whatever the outcome


def _series(r: KlineRequest) -> SeriesKey:
    return (r.venue, r.symbol, r.interval)


class Backfiller:
    """Executes kline backfill requests for both venues under their weight budgets."""

    def __init__(
        self,
        rest: BinanceRest,
        clock: Clock | None,
        on_klines: KlineSink,
        *,
        schedulers: Mapping[Venue, BackfillScheduler] | None = None,
        budgets: Mapping[Venue, int] | None = None,
        share: float = 0.5,
        max_in_flight: int = 4,
        spread: float = 0.5,
        time_scale: float | None = None,
        max_idle_s: float = 1.0,
        retry_policy: BackoffPolicy = RETRY_POLICY,
    ) -> None:
        self.rest = rest
        self.on_klines = on_klines
        self.clock: Clock = clock or rest.clock
        self.share = share
        if schedulers is None:
            budgets = budgets or {}
            schedulers = {
                v: BackfillScheduler(v, budget_per_minute=budgets.get(v), max_share=share, max_in_flight=max_in_flight)
                for v in Venue
            }
        self.schedulers = dict(schedulers)
        self.spread = spread
        speed = getattr(self.clock, "speed", 1.0) if not isinstance(self.clock, LiveClock) else 1.0
        self.time_scale = float(time_scale if time_scale is not None else speed)
        self.max_idle_s = max_idle_s
        self.counters = BackfillCounters()
        self._backoff = {v: Backoff(retry_policy) for v in self.schedulers}
        self._not_before: dict[Venue, int] = dict.fromkeys(self.schedulers, 0)
        self._order: dict[SeriesKey, list[KlineRequest]] = {}  # undelivered, by start time
        self._ready: dict[KlineRequest, list[Kline]] = {}
        self._waiters: dict[KlineRequest, list[asyncio.Future[list[Kline]]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._closed = False
        rest.add_observer(self._observe)

    # --- inputs ---------------------------------------------------------------------------------------

    def add(self, requests: Iterable[KlineRequest]) -> int:
        """Queue requests (duplicates of queued ones are ignored); returns how many were new."""
        new = 0
        for r in requests:
            sched = self.schedulers.get(r.venue)
            if sched is None:
                raise ValueError(f"no scheduler for {r.venue}")
            pending = self._order.setdefault(_series(r), [])
            if r in pending:
                continue
            pending.append(r)
            pending.sort(key=lambda q: q.start_time)
            sched.add((r,))
            new += 1
        if new:
            self._wake.set()
        return new

    async def fetch(
        self, venue: Venue, symbol: str, interval: str, start_ms: int, end_ms: int, limit: int
    ) -> list[Kline]:
        """Closed klines with open time in [start_ms, end_ms], under the budget; [] if given up or closed.

        More than 1000 bars become several requests (sent in order, joined here).
        """
        if self._closed:
            return []
        step = INTERVAL_MS[interval]
        first = -(-start_ms // step) * step
        parts: list[KlineRequest] = []
        while first <= end_ms and sum(r.limit for r in parts) < limit:
            n = min(MAX_BARS, limit - sum(r.limit for r in parts), (end_ms - first) // step + 1)
            parts.append(KlineRequest(venue, symbol.upper(), interval, first, first + n * step - 1, n))
            first += n * step
        loop = asyncio.get_running_loop()
        futures = []
        for r in parts:
            fut: asyncio.Future[list[Kline]] = loop.create_future()
            self._waiters.setdefault(r, []).append(fut)
            futures.append(fut)
            self.schedulers[venue].add((r,))
        self._wake.set()
        try:
            batches = await asyncio.gather(*futures)
        finally:
            for r, fut in zip(parts, futures, strict=True):
                waiting = self._waiters.get(r)
                if waiting is not None and fut in waiting:
                    waiting.remove(fut)
                    if not waiting:
                        del self._waiters[r]
        return [k for batch in batches for k in batch]

    def set_budget(self, venue: Venue, per_minute: int) -> None:
        """The venue's weight per minute changed (e.g. read from exchangeInfo ``rateLimits``)."""
        sched = self.schedulers[venue]
        sched.budget = per_minute
        sched.allowed = int(per_minute * self.share)
        self._wake.set()

    def wake(self) -> None:
        """Re-check now (e.g. after a test moved a ManualClock)."""
        self._wake.set()

    # --- state ----------------------------------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Requests not yet delivered (queued, in flight, or waiting for an earlier batch)."""
        return sum(len(p) for p in self._order.values())

    @property
    def idle(self) -> bool:
        return self.pending == 0 and not self._tasks and not self._waiters

    # --- the loop -------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Send what the schedulers allow, sleep until the next moment anything may change; until close()."""
        try:
            while not self._closed:
                self._wake.clear()
                now = self.clock.now_ms()
                wake_at: int | None = None
                for venue, sched in self.schedulers.items():
                    due = self._send_due(venue, sched, now)
                    if due is not None:
                        wake_at = due if wake_at is None else min(wake_at, due)
                timeout = self.max_idle_s
                if wake_at is not None:
                    timeout = min(timeout, max(0.0, (wake_at - now) / 1000 / self.time_scale))
                await wait_event(self._wake, timeout)
        finally:
            await self._cancel_tasks()

    def _send_due(self, venue: Venue, sched: BackfillScheduler, now: int) -> int | None:
        """Send what may go now; return when to look again (None: when a reply or add() wakes us)."""
        if now < self._not_before[venue]:
            return self._not_before[venue] if sched.queued else None
        batch = sched.poll(now)
        for request in batch:
            self.counters.requests += 1
            task = asyncio.get_running_loop().create_task(self._fetch(venue, sched, request))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        if batch and self.spread > 0:
            weight = sum(r.weight for r in batch)
            self._not_before[venue] = now + int(weight * MINUTE_MS * self.spread / max(1, sched.allowed))
        nxt = sched.next_at(now)
        if nxt is None:
            return None
        return max(nxt, self._not_before[venue])

    async def _fetch(self, venue: Venue, sched: BackfillScheduler, request: KlineRequest) -> None:
        status, headers, klines = 200, {}, None
        try:
            klines = await self.rest.fetch(request)
        except RateLimited as exc:
            status, headers = exc.status, {"Retry-After": str(exc.retry_after_s * self.time_scale)}
            self.counters.throttles += 1
        except RestError as exc:
            status = exc.status
        except ApiError as exc:
            status = exc.status or 400
            log.warning("backfill refused", venue=venue.value, symbol=request.symbol, code=exc.code, msg=exc.msg)
        now = self.clock.now_ms()
        outcome = sched.on_response(request, now, status, headers)
        if klines is not None:
            self._backoff[venue].reset()
        else:
            self.counters.errors += 1
            if status not in (429, 418):
                delay = self._backoff[venue].next_delay(now)
                self._not_before[venue] = max(self._not_before[venue], now + delay)
        if outcome is Outcome.REQUEUED and status not in (429, 418):
            self.counters.retries += 1
        elif outcome is Outcome.DROPPED:
            self.counters.dropped += 1
        if outcome is not Outcome.REQUEUED:
            batch = [k for k in klines or () if request.start_time <= k.open_time <= request.end_time]
            self.counters.klines += len(batch)
            for fut in self._waiters.pop(request, ()):
                if not fut.done():
                    fut.set_result(batch)
            if request in self._order.get(_series(request), ()):
                self._finish(request, batch)
        self._wake.set()

    def _finish(self, request: KlineRequest, klines: list[Kline]) -> None:
        """Deliver this batch, and any later ones of the same series it was holding back."""
        self._ready[request] = klines
        key = _series(request)
        pending = self._order.get(key, [])
        while pending and pending[0] in self._ready:
            head = pending.pop(0)
            batch = self._ready.pop(head)
            try:
                self.on_klines(batch)
            except Exception:  # a consumer bug must not stop the backfill of everything else
                log.exception("backfill consumer failed", symbol=head.symbol)
        if not pending:
            self._order.pop(key, None)

    def _observe(self, venue: Venue, status: int, headers: Mapping[str, str]) -> None:
        """Every REST reply on this client feeds the venue's budget (Retry-After scaled to clock time)."""
        sched = self.schedulers.get(venue)
        if sched is None or status == 0:
            return
        if self.time_scale != 1.0 and status in (429, 418):
            scaled = {k: v for k, v in headers.items() if k.lower() != "retry-after"}
            for k, v in headers.items():
                if k.lower() == "retry-after":
                    with contextlib.suppress(ValueError):
                        scaled["Retry-After"] = str(float(v) * self.time_scale)
            headers = scaled
        sched.observe(self.clock.now_ms(), status, headers)

    # --- shutdown -------------------------------------------------------------------------------------

    async def close(self) -> None:
        """Stop the loop and cancel in-flight requests (their series are left undelivered)."""
        self._closed = True
        self.rest.remove_observer(self._observe)
        self._wake.set()
        await self._cancel_tasks()
        for waiting in self._waiters.values():
            for fut in waiting:
                if not fut.done():
                    fut.set_result([])
        self._waiters.clear()

    async def _cancel_tasks(self) -> None:
        tasks = list(self._tasks)
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
