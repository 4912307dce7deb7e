"""The asyncio driver of ONE market-stream connection: it moves bytes and timers; the sans-I/O objects decide.

``StreamConnection.run()`` opens the combined-stream endpoint, subscribes, reads, and reconnects forever
(jittered backoff) until ``close()``. Who decides what:

- :class:`~cryptoscan.feed.lifecycle.Lifecycle`: CONNECTING -> SUBSCRIBING -> LIVE -> STALE -> BACKOFF...;
  a ``ConnectionStatus`` is emitted on every change of the user-facing LinkState;
- :class:`~cryptoscan.feed.backoff.Backoff` and the ``classify_*`` functions: how long to wait, THROTTLED;
- :class:`~cryptoscan.feed.pacer.Pacer` (one per socket): SUBSCRIBE batches and LIST_SUBSCRIPTIONS checks
  under the message limit; every pong we send is noted in its window (pongs count on Binance);
- :class:`~cryptoscan.feed.watchdog.Watchdog`: a silent connection is reconnected; a silent stream triggers a
  LIST_SUBSCRIPTIONS check (lost streams are subscribed again by the pacer);
- :class:`~cryptoscan.feed.rotation.Rotator` / ``Handover`` / ``Deduplicator``: make-before-break rotation
  before the 24 h limit or on ``serverShutdown``; both sockets' events pass the deduplicator meanwhile.

Streams are never put in the URL: every socket (first connect, reconnect, rotation replacement) subscribes with
paced SUBSCRIBE frames. One code path for all cases and for runtime changes; no URL-length limit at 1024
streams; an unknown stream is rejected per frame instead of failing the whole handshake with HTTP 400. The cost
is one frame per ~150 names (4 KiB frames), i.e. under a second for a full shard at 3 frames/s.

Timers: one supervisor loop sleeps until the earliest deadline any core object reports (durations from clock
readings, converted to real seconds for a ``ScaledClock``, never more than ``MAX_SLEEP_S`` at once) or until a
read-path callback wakes it. The read path never awaits: ``on_events`` is called synchronously once per socket
read with all of its events (see ``conn_read``) and must be fast (the aggregator hands them to an EventRouter);
exceptions in it are caught and counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Coroutine, Iterable
from functools import partial

from cryptoscan.aio import wait_event
from cryptoscan.clock import Clock, ScaledClock
from cryptoscan.events import ConnectionStatus
from cryptoscan.feed.backoff import (
    Backoff,
    BackoffPolicy,
    Failure,
    Verdict,
    classify_close,
    classify_exception,
    classify_handshake,
)
from cryptoscan.feed.conn_parts import Connector, ConnOptions, ConnStats, Leg, RateLimitedLog, Reservoir, stream_url
from cryptoscan.feed.conn_read import Reader
from cryptoscan.feed.conn_rotation import RotationState
from cryptoscan.feed.lifecycle import Lifecycle, Phase, Trigger
from cryptoscan.feed.pacer import SUBSCRIBE, Pacer
from cryptoscan.feed.rotation import RotationPolicy
from cryptoscan.feed.transport import HandshakeRejected, Link, connect_picows
from cryptoscan.feed.watchdog import Watchdog
from cryptoscan.venues.binance.parser import ControlReply, FrameParser, Parsed
from cryptoscan.venues.binance.spec import Category, Venue

log = logging.getLogger(__name__)

MAX_SLEEP_S = 1.0  # re-read the clock at least this often, whatever the deadlines say


class StreamConnection:
    """One logical market-stream connection; it owns two sockets for a moment while rotating."""

    def __init__(
        self,
        *,
        conn_id: str,
        venue: Venue,
        category: Category,
        ws_base: str,
        streams: Iterable[str],
        parser: FrameParser,
        clock: Clock,
        on_events: Callable[[list[Parsed]], None],
        on_status: Callable[[ConnectionStatus], None],
        on_gap: Callable[[str, int, int], None] | None = None,
        backoff: BackoffPolicy | None = None,
        rotation: RotationPolicy | None = None,
        rand: random.Random | None = None,
        max_reconnections: int = 10,
        options: ConnOptions | None = None,
    ) -> None:
        o = options or ConnOptions()
        self.conn_id = conn_id
        self.venue = venue
        self.category = category
        self.url = stream_url(ws_base, venue, category)
        self._streams: dict[str, None] = dict.fromkeys(streams)
        self._clock = clock
        self._speed = clock.speed if isinstance(clock, ScaledClock) else 1.0
        self._on_status = on_status
        self._on_gap = on_gap
        self._rand = rand or random.Random()
        now = clock.now_ms()
        policy = backoff or BackoffPolicy()
        self._backoff = Backoff(policy, rand=self._rand.random)
        self._lc = Lifecycle(now, max_reconnections=max_reconnections, stable_ms=policy.stable_ms)
        self._rot = RotationState(
            conn_id, rotation, self._rand, handover_timeout_ms=o.handover_timeout_ms, always_dedup=o.always_dedup
        )
        self._watchdog = o.watchdog or Watchdog(venue)
        self._pacer = partial(
            Pacer,
            venue,
            rate=o.pacer_rate,
            max_frame_bytes=o.subscribe_frame_bytes,
            check_every_ms=o.list_check_every_ms,
        )
        self._subscribe_timeout_ms = o.subscribe_timeout_ms
        self._gate = o.connect_gate
        self._connector: Connector = o.connector or partial(
            connect_picows, max_frame_bytes=o.max_frame_bytes, connect_timeout_s=o.connect_timeout_s
        )
        self._stats = ConnStats()
        self._lags = Reservoir(self._stats.lag_ms, o.lag_samples, self._rand)
        self._warn = RateLimitedLog(log)
        self._reader = Reader(
            conn_id,
            parser=parser,
            clock=clock,
            stats=self._stats,
            lags=self._lags,
            watchdog=self._watchdog,
            rotation=self._rot,
            on_events=on_events,
            on_replies=self._on_replies,
            on_shutdown=self._on_shutdown,
            on_error=self._callback_error,
            max_names=lambda: 4 * len(self._streams) + 64,
        )
        self._primary: Leg | None = None
        self._spare: Leg | None = None  # the rotation replacement
        self._legs = 0
        self._retry_at: int | None = None
        self._failed_at: int | None = None
        self._down_since: int | None = None
        self._ever_live = False
        self._wake = asyncio.Event()
        self._connects: set[asyncio.Task[None]] = set()  # cancelled on close
        self._closers: set[asyncio.Task[None]] = set()  # awaited on close
        self._run_task: asyncio.Task[None] | None = None
        self._closing = False
        self._paused = False

    # --- public ----------------------------------------------------------------------------------------

    @property
    def stats(self) -> ConnStats:
        self._stats.phase = self._lc.phase.value
        self._stats.link_state = self._lc.link_state.value
        self._stats.duplicates_dropped = self._rot.dropped
        return self._stats.snapshot()

    @property
    def phase(self) -> Phase:
        return self._lc.phase

    @property
    def streams(self) -> frozenset[str]:
        return frozenset(self._streams)

    async def run(self) -> None:
        """Connect, subscribe, read; reconnect forever until :meth:`close`. Never raises on network trouble."""
        if self._run_task is not None:
            raise RuntimeError("run() is already running")
        self._run_task = asyncio.current_task()
        now = self._clock.now_ms()
        self._emit(now, "connecting")
        self._start_leg(primary=True, now=now)
        try:
            while not self._closing:
                self._wake.clear()
                now = self._clock.now_ms()
                self._on_timer(now)
                if self._closing:
                    break
                await wait_event(self._wake, self._sleep_s(now))
        finally:
            await self._shutdown(graceful=self._closing)

    def subscribe(self, streams: Iterable[str]) -> None:
        new = [s for s in streams if s not in self._streams]
        if not new:
            return
        self._streams.update(dict.fromkeys(new))
        now = self._clock.now_ms()
        for leg in self._open_legs():
            leg.pacer.subscribe(new)
            self._pump(leg, now)
        if self._lc.phase is Phase.LIVE:
            self._reader.tell_watchdog(now)  # what the read path holds is older than the new clocks
            self._watchdog.watch(self.conn_id, new, now)
        self._wake.set()

    def unsubscribe(self, streams: Iterable[str]) -> None:
        gone = [s for s in streams if s in self._streams]
        if not gone:
            return
        for s in gone:
            del self._streams[s]
        self._watchdog.unwatch(gone)
        now = self._clock.now_ms()
        for leg in self._open_legs():
            leg.pacer.unsubscribe(gone)
            self._pump(leg, now)
        self._wake.set()

    def pause_reading(self, paused: bool) -> None:
        """Backpressure from the consumer: stop reading the open sockets (the watchdog is held meanwhile).

        Sockets opened while paused still read, so a reconnect can subscribe. Binance drops a consumer that
        stays paused for long (pong deadline, server buffers): keep pauses short.
        """
        if paused == self._paused:
            return
        self._paused = paused
        for leg in self._open_legs():
            leg.link.pause_reading(paused)  # type: ignore[union-attr]
        if not paused:
            now = self._clock.now_ms()
            self._reader.tell_watchdog(now)
            self._watchdog.restart(self.conn_id, now)
        self._wake.set()

    async def close(self) -> None:
        """Graceful: close frames 1000, connect attempts cancelled, ``run()`` returns; nothing left running."""
        if not self._closing:
            self._closing = True
            self._wake.set()
            await self._shutdown(graceful=True)
        task = self._run_task
        if task is not None and task is not asyncio.current_task() and not task.done():
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                async with asyncio.timeout(5):
                    await asyncio.shield(task)

    # --- timers ----------------------------------------------------------------------------------------

    def _sleep_s(self, now: int) -> float:
        times: list[int] = []
        phase = self._lc.phase
        if phase is Phase.BACKOFF and self._retry_at is not None:
            times.append(self._retry_at)
        for leg in self._open_legs():
            t = leg.pacer.next_at(now)
            if t is not None:
                times.append(t)
        if phase is Phase.SUBSCRIBING:
            times.append(self._lc.entered_at + self._subscribe_timeout_ms)
        if phase is Phase.LIVE and not self._paused:
            t = self._watchdog.next_deadline(now)
            if t is not None:
                times.append(t)
        times += self._rot.deadlines(rotating_allowed=phase is Phase.LIVE and self._spare is None)
        if not times:
            return MAX_SLEEP_S
        delay_ms = max(1, min(times) - now)  # at least 1 ms: a deadline reported twice cannot spin the loop
        return min(MAX_SLEEP_S, delay_ms / 1000 / self._speed)

    def _on_timer(self, now: int) -> None:
        lc = self._lc
        if lc.phase is Phase.BACKOFF and self._retry_at is not None and now >= self._retry_at:
            self._retry_at = None
            self._fire(Trigger.RETRY, now, "retrying")
            self._start_leg(primary=True, now=now)
        for leg in self._open_legs():
            self._pump(leg, now)
        primary = self._primary
        if lc.phase is Phase.SUBSCRIBING and now - lc.entered_at >= self._subscribe_timeout_ms and primary:
            self._lose_primary(Failure(Verdict.RETRY, "subscriptions not acknowledged in time"), now)
        if lc.phase is Phase.LIVE and not self._paused:
            self._check_watchdog(now)
        if lc.phase is Phase.LIVE and self._spare is None and self._rot.due(now):
            self._start_rotation(now)
        action = self._rot.poll(now)
        if action == "abort":
            self._abort_rotation("replacement not live in time", now)
        elif action == "swap":
            self._swap(now)
        self._rot.expire(now)

    def _check_watchdog(self, now: int) -> None:
        self._reader.tell_watchdog(now)  # the read path tells it in batches: bring it up to date first
        report = self._watchdog.check(now)
        if not report:
            return
        if self.conn_id in report.connections and self._streams:
            self._fire(Trigger.SILENT, now, "no data")
            self._lose_primary(Failure(Verdict.RETRY, "silent connection"), now)
            return
        stale = [s for s in report.streams if s in self._streams]
        if stale and self._primary is not None:
            self._stats.stale_streams += len(stale)
            self._warn("stale", now, f"{self.conn_id}: {len(stale)} silent streams, e.g. {stale[0]}: checking")
            self._primary.pacer.request_list()
            self._watchdog.watch(self.conn_id, stale, now)  # their clocks restart: reported again if still silent

    # --- legs ------------------------------------------------------------------------------------------

    def _open_legs(self) -> list[Leg]:
        return [
            leg for leg in (self._primary, self._spare) if leg is not None and leg.link is not None and not leg.dead
        ]

    def _start_leg(self, *, primary: bool, now: int) -> Leg:
        self._legs += 1
        leg = Leg(self, self._reader, f"{self.conn_id}#{self._legs}", self._pacer())
        if primary:
            self._primary = leg
        else:
            self._spare = leg
        task = asyncio.get_running_loop().create_task(self._connect(leg), name=f"connect {leg.label}")
        self._connects.add(task)
        task.add_done_callback(self._connects.discard)
        return leg

    async def _connect(self, leg: Leg) -> None:
        try:
            gate = self._gate
            if gate is not None:
                while not gate.acquire(self.venue, now := self._clock.now_ms()):  # noqa: ASYNC110 (a clock, not an event)
                    await asyncio.sleep(min(MAX_SLEEP_S, (gate.ready_at(self.venue, now) - now) / 1000 / self._speed))
            self._stats.connect_attempts += 1
            link = await self._connector(self.url, leg)
            if leg.link is None:  # a connector that did not call on_open
                self._on_open(leg, link)
            return
        except HandshakeRejected as exc:
            failure = classify_handshake(exc.status, exc.headers)
        except asyncio.CancelledError:
            if leg.link is not None:
                leg.link.abort()
            raise
        except Exception as exc:  # network trouble, or a bug: classified, never fatal to the loop
            failure = classify_exception(exc)
        if leg.link is not None:  # the upgrade completed but the call failed late: drop the socket
            leg.link.abort()
        if not self._closing:
            self._leg_failed(leg, failure, self._clock.now_ms())
            self._wake.set()

    def _on_open(self, leg: Leg, link: Link) -> None:
        now = self._clock.now_ms()
        leg.link = link
        leg.opened_at = now
        if self._closing or leg.dead:
            link.abort()
            return
        leg.pacer.start(now)
        leg.pacer.subscribe(self._streams)
        if leg is self._primary and self._lc.phase is Phase.CONNECTING:
            self._fire(Trigger.OPENED, now, "subscribing")
        self._pump(leg, now)

    def _pump(self, leg: Leg, now: int) -> None:
        link = leg.link
        if link is None or leg.dead:
            return
        for req in leg.pacer.poll(now):
            link.send_text(req.payload)
            self._stats.control_sent += 1
        if not leg.live and leg.pacer.idle:
            leg.live = True
            if leg is self._primary:
                self._primary_live(now)
            elif leg is self._spare:
                self._rot.new_live(now)

    def _primary_live(self, now: int) -> None:
        if self._lc.phase is not Phase.SUBSCRIBING:
            return
        self._fire(Trigger.SUBSCRIBED, now, "live")
        self._backoff.on_live(now)
        self._rot.opened(now)
        self._reader.tell_watchdog(now)
        self._watchdog.watch(self.conn_id, self._streams, now)
        self._watchdog.restart(self.conn_id, now)
        if self._failed_at is not None:
            rec = self._stats.recoveries_ms
            rec.append(now - self._failed_at)
            del rec[:-256]
            self._failed_at = None
        if self._down_since is not None:
            down, self._down_since = self._down_since, None
            self._stats.gaps += 1
            if self._on_gap is not None:
                try:
                    self._on_gap(self.conn_id, down, now)
                except Exception as exc:
                    self._callback_error("on_gap", exc, now)
        self._ever_live = True

    def _leg_failed(self, leg: Leg, failure: Failure, now: int) -> None:
        """A connect attempt failed, or an open socket closed under us."""
        if leg is self._primary and not leg.retiring:
            self._lose_primary(failure, now)
        elif leg is self._spare:
            self._abort_rotation(f"replacement failed: {failure.reason}", now)

    def _lose_primary(self, failure: Failure, now: int) -> None:
        leg = self._primary
        if leg is None or self._closing or not self._lc.can(Trigger.FAILED):
            return
        leg.dead = True
        if leg.link is not None and not leg.closed:
            leg.link.abort()
        if self._ever_live and self._down_since is None:
            self._down_since = leg.last_data_ms if leg.last_data_ms is not None else now
        if self._failed_at is None:
            self._failed_at = now
        self._rot.forget()
        self._stats.reconnects += 1
        self._stats.last_failure = failure.reason
        throttled = failure.verdict is Verdict.THROTTLED
        self._fire(Trigger.FAILED, now, failure.reason, throttled=throttled)
        spare = self._spare
        if spare is not None and not spare.dead:  # a replacement is already on its way: it takes over
            self._primary, self._spare = spare, None
            self._rot.taken_over()
            self._stats.rotations += 1
            self._fire(Trigger.RETRY, now, "replacement takes over")
            if spare.link is not None:
                self._fire(Trigger.OPENED, now, "subscribing")
                if spare.live:
                    self._primary_live(now)
            return
        delay = self._backoff.next_delay(now, failure)
        if failure.verdict is Verdict.FATAL:
            delay = max(delay, self._backoff.policy.max_ms)
            log.error("%s: %s; retrying in %d ms", self.conn_id, failure.reason, delay)
        else:
            self._warn(f"fail.{failure.verdict.value}", now, f"{self.conn_id}: {failure.reason}; retry in {delay} ms")
        self._retry_at = now + delay
        self._stats.throttled_until_ms = self._retry_at if throttled else None

    # --- rotation --------------------------------------------------------------------------------------

    def _start_rotation(self, now: int) -> None:
        if self._primary is None:
            return
        self._rot.begin(self._primary.label, self._streams, now)
        self._start_leg(primary=False, now=now)

    def _swap(self, now: int) -> None:
        """Overlap done: the replacement serves, the old socket closes with 1000. The lifecycle stays LIVE."""
        old, new = self._primary, self._spare
        assert old is not None and new is not None
        old.retiring = True
        old.dead = True
        if old.link is not None:
            old.link.close(1000, "rotated")
            self._track(old.link.wait_closed())
        self._primary, self._spare = new, None
        self._stats.rotations += 1
        self._rot.swapped(now)
        self._reader.tell_watchdog(now)
        self._watchdog.restart(self.conn_id, now)

    def _abort_rotation(self, reason: str, now: int) -> None:
        spare, self._spare = self._spare, None
        self._rot.aborted(now)
        if spare is not None:
            spare.dead = True
            if spare.link is not None and not spare.closed:
                spare.link.abort()
        self._warn("rotation", now, f"{self.conn_id}: rotation aborted ({reason}); old socket keeps serving")

    def _on_shutdown(self, leg: Leg, now: int) -> None:
        self._warn("shutdown", now, f"{self.conn_id}: server announced shutdown; rotating")
        if leg is self._primary and self._spare is None and self._lc.phase is Phase.LIVE:
            self._start_rotation(now)  # at once: the server may close the old socket any moment
        else:
            self._rot.server_shutdown(now)
        self._wake.set()

    # --- read-path callbacks ---------------------------------------------------------------------------------------

    def _on_replies(self, leg: Leg, out: list[Parsed], now: int) -> None:
        for item in out:
            if not isinstance(item, ControlReply):
                continue
            if not isinstance(item.id, int):
                self._stats.control_errors += 1
                self._warn("control", now, f"{self.conn_id}: control error {item.error_code} {item.error_msg}")
                continue
            reply = leg.pacer.on_reply(item.id, item.result, item.error_code, item.error_msg or "")
            if reply is None:
                continue
            if not reply.ok:
                self._stats.control_errors += 1
                if reply.request.method == SUBSCRIBE:
                    self._stats.rejected_streams += len(reply.request.params)
                    self._watchdog.unwatch(reply.request.params)
                self._warn("control", now, f"{self.conn_id}: {reply.request.method} rejected: {reply.code} {reply.msg}")
            elif reply.lost:
                self._stats.lost_streams += len(reply.lost)
                self._warn("lost", now, f"{self.conn_id}: {len(reply.lost)} streams lost on the server; resubscribing")
        self._pump(leg, now)
        self._wake.set()

    def _on_closed(self, leg: Leg, code: int | None, reason: str) -> None:
        if self._closing or leg.retiring:
            return
        if leg is self._primary or leg is self._spare:
            if not leg.dead:
                self._leg_failed(leg, classify_close(code, reason), self._clock.now_ms())
            self._wake.set()

    # --- helpers -----------------------------------------------------------------------------------------

    def _fire(self, trigger: Trigger, now: int, detail: str, *, throttled: bool = False) -> None:
        tr = self._lc.fire(trigger, now, throttled=throttled)
        if tr.link_changed:
            self._emit(now, detail)

    def _emit(self, now: int, detail: str) -> None:
        status = ConnectionStatus(self.conn_id, self.venue.value, self._lc.link_state.value, detail, now, now)
        try:
            self._on_status(status)
        except Exception as exc:
            self._callback_error("on_status", exc, now)

    def _callback_error(self, where: str, exc: Exception, now: int) -> None:
        self._stats.callback_errors += 1
        self._warn(f"{where}:{type(exc).__name__}", now, f"{self.conn_id}: {where} raised {exc!r}", exc=exc)

    def _track(self, coro: Coroutine[object, object, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._closers.add(task)
        task.add_done_callback(self._closers.discard)

    async def _shutdown(self, *, graceful: bool) -> None:
        """Close every socket (1000 if graceful, else abort) and end every task this object started."""
        self._closing = True
        now = self._clock.now_ms()
        if self._lc.phase is not Phase.CLOSED:
            self._fire(Trigger.CLOSE, now, "closed")
        legs = [leg for leg in (self._primary, self._spare) if leg is not None and leg.link is not None]
        for leg in legs:
            assert leg.link is not None
            if graceful and not leg.closed:
                leg.link.close(1000, "bye")
            else:
                leg.link.abort()
        connects = list(self._connects)
        for t in connects:
            t.cancel()
        waits = [leg.link.wait_closed() for leg in legs if leg.link is not None]
        await asyncio.gather(*waits, *connects, *self._closers, return_exceptions=True)
