"""Rotation bookkeeping of one :class:`~cryptoscan.feed.connection.StreamConnection`, without sockets.

Wraps the Rotator (when), the Handover in progress (make-before-break steps) and the Deduplicator that filters
the overlap, and answers the driver's questions: is a rotation due, what should happen to the replacement now
(:meth:`RotationState.poll`: ``"swap"`` or ``"abort"``), which deadlines to sleep toward. The driver owns the
sockets and carries the answers out.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Literal

from cryptoscan.events import Kline, Trade
from cryptoscan.feed.rotation import Deduplicator, Handover, HandoverPhase, RotationPolicy, Rotator
from cryptoscan.venues.binance.parser import Parsed

LATE_FRAMES_MS = 2_000  # keep de-duplicating this long after the old socket is told to close


class RotationState:
    def __init__(
        self,
        conn_id: str,
        policy: RotationPolicy | None,
        rand: random.Random,
        *,
        handover_timeout_ms: int,
        always_dedup: bool,
    ) -> None:
        self.conn_id = conn_id
        self.rotator = Rotator(policy, rand=rand.random)
        self.handover_timeout_ms = handover_timeout_ms
        self.always_dedup = always_dedup
        self.handover: Handover | None = None
        self.started = 0
        self.overlap_end: int | None = None
        self.retry_at: int | None = None  # a failed rotation is tried again then
        self.dedup: Deduplicator | None = Deduplicator() if always_dedup else None
        self.dedup_until: int | None = None
        self._dropped_before = 0

    @property
    def dropped(self) -> int:
        return self._dropped_before + (self.dedup.dropped if self.dedup is not None else 0)

    # --- the serving socket ------------------------------------------------------------------------------

    def opened(self, now: int) -> None:
        """The serving socket is LIVE (new, or a replacement that took over): draw its rotation time."""
        self.rotator.opened(self.conn_id, now)

    def forget(self) -> None:
        self.rotator.forget(self.conn_id)

    def server_shutdown(self, now: int) -> None:
        self.rotator.server_shutdown(self.conn_id, now)

    def due(self, now: int) -> bool:
        """Ask only while LIVE with no replacement; a due answer is given once."""
        if self.conn_id in self.rotator.due(now):
            return True
        return self.retry_at is not None and now >= self.retry_at

    # --- the handover --------------------------------------------------------------------------------------

    def begin(self, old_label: str, streams: Iterable[str], now: int) -> None:
        self.retry_at = None
        self.handover = self.rotator.handover(old_label, "replacement", frozenset(streams))
        self.handover.start()
        self.started = now
        if self.dedup is None:
            self.dedup = Deduplicator()
        self.dedup_until = None

    @property
    def awaiting_live(self) -> bool:
        return self.handover is not None and self.handover.phase is HandoverPhase.AWAIT_LIVE

    def new_live(self, now: int) -> None:
        if self.handover is not None and self.handover.phase is HandoverPhase.AWAIT_LIVE:
            self.handover.on_new_live(now)
            self.overlap_end = now + self.handover.overlap_ms

    def poll(self, now: int) -> Literal["swap", "abort"] | None:
        ho = self.handover
        if ho is None:
            return None
        if ho.phase is HandoverPhase.AWAIT_LIVE and now - self.started >= self.handover_timeout_ms:
            return "abort"
        if ho.phase is HandoverPhase.OVERLAP and ho.poll(now):
            return "swap"
        return None

    def swapped(self, now: int) -> None:
        """The replacement serves, the old socket is closing."""
        self.handover = None
        self.overlap_end = None
        self.opened(now)
        self.dedup_until = now + LATE_FRAMES_MS

    def taken_over(self) -> None:
        """The old socket died first; the replacement took over as a reconnect (the lifecycle says so)."""
        self.handover = None
        self.overlap_end = None

    def aborted(self, now: int) -> None:
        if self.handover is not None and self.handover.phase is HandoverPhase.AWAIT_LIVE:
            self.handover.on_new_failed()
        self.handover = None
        self.overlap_end = None
        self.dedup_until = now + LATE_FRAMES_MS
        self.retry_at = now + min(60_000, max(1_000, self.rotator.policy.rotate_after_ms // 100))

    def expire(self, now: int) -> None:
        """Stop de-duplicating once no second socket can deliver anything."""
        if self.dedup_until is not None and now >= self.dedup_until and self.handover is None:
            self.dedup_until = None
            if not self.always_dedup and self.dedup is not None:
                self._dropped_before += self.dedup.dropped
                self.dedup = None

    def deadlines(self, *, rotating_allowed: bool) -> list[int]:
        times: list[int] = []
        if rotating_allowed:
            t = self.rotator.next_at()
            if t is not None:
                times.append(t)
            if self.retry_at is not None:
                times.append(self.retry_at)
        ho = self.handover
        if ho is not None:
            if ho.phase is HandoverPhase.AWAIT_LIVE:
                times.append(self.started + self.handover_timeout_ms)
            elif self.overlap_end is not None:
                times.append(self.overlap_end)
        elif self.dedup_until is not None:
            times.append(self.dedup_until)
        return times

    # --- the overlap -----------------------------------------------------------------------------------

    def filter(self, out: list[Parsed]) -> None:
        """Drop (in place) the klines and trades the other socket already delivered."""
        dedup = self.dedup
        if dedup is None:
            return
        out[:] = [
            e
            for e in out
            if not (isinstance(e, Kline) and not dedup.kline(e)) and not (isinstance(e, Trade) and not dedup.trade(e))
        ]
