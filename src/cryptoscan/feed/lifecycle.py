"""One connection's lifecycle: a finite state machine with every legal transition in one table.

Driven by: the I/O layer calling :meth:`Lifecycle.fire` with a :class:`Trigger` and ``now`` (epoch ms)
when something happens (socket opened, subscriptions acknowledged, watchdog verdict, failure, timer).
Returns: a :class:`Transition` naming the old and new :class:`Phase` and the user-facing
:class:`~cryptoscan.events.LinkState` before and after, so the caller emits a ``ConnectionStatus`` exactly
when ``link_changed`` is true. An illegal trigger raises :class:`IllegalTransition` and changes nothing.

LinkState mapping: LIVE is CONNECTED; CONNECTING / SUBSCRIBING / STALE / BACKOFF are RECONNECTING;
BACKOFF after a 429/418 is THROTTLED; more than ``max_reconnections`` consecutive failures makes every
non-LIVE phase DISCONNECTED (retrying goes on at the backoff cap); CLOSED is DISCONNECTED.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from cryptoscan.events import LinkState


class Phase(enum.Enum):
    CONNECTING = "CONNECTING"  # TCP/TLS/WebSocket handshake in progress
    SUBSCRIBING = "SUBSCRIBING"  # socket open, SUBSCRIBE frames not all acknowledged yet
    LIVE = "LIVE"  # subscribed and data flowing
    STALE = "STALE"  # socket open but the watchdog saw silence
    BACKOFF = "BACKOFF"  # waiting before the next attempt
    CLOSED = "CLOSED"  # closed on purpose (shutdown, rotation done, fatal error); terminal


class Trigger(enum.Enum):
    OPENED = "OPENED"  # handshake succeeded
    SUBSCRIBED = "SUBSCRIBED"  # every pending SUBSCRIBE acknowledged (or nothing to subscribe)
    SILENT = "SILENT"  # watchdog: stream or connection silence
    RECOVERED = "RECOVERED"  # watchdog: data flows again
    FAILED = "FAILED"  # handshake error, socket closed, pong timeout, fatal reply...
    RETRY = "RETRY"  # backoff timer elapsed: try again
    CLOSE = "CLOSE"  # we close it for good


TRANSITIONS: dict[tuple[Phase, Trigger], Phase] = {
    (Phase.CONNECTING, Trigger.OPENED): Phase.SUBSCRIBING,
    (Phase.CONNECTING, Trigger.FAILED): Phase.BACKOFF,
    (Phase.CONNECTING, Trigger.CLOSE): Phase.CLOSED,
    (Phase.SUBSCRIBING, Trigger.SUBSCRIBED): Phase.LIVE,
    (Phase.SUBSCRIBING, Trigger.FAILED): Phase.BACKOFF,
    (Phase.SUBSCRIBING, Trigger.CLOSE): Phase.CLOSED,
    (Phase.LIVE, Trigger.SILENT): Phase.STALE,
    (Phase.LIVE, Trigger.FAILED): Phase.BACKOFF,
    (Phase.LIVE, Trigger.CLOSE): Phase.CLOSED,
    (Phase.STALE, Trigger.RECOVERED): Phase.LIVE,
    (Phase.STALE, Trigger.FAILED): Phase.BACKOFF,
    (Phase.STALE, Trigger.CLOSE): Phase.CLOSED,
    (Phase.BACKOFF, Trigger.RETRY): Phase.CONNECTING,
    (Phase.BACKOFF, Trigger.CLOSE): Phase.CLOSED,
}
"""The whole machine. Anything not listed is illegal; CLOSED has no way out (make a new Lifecycle)."""


class IllegalTransition(RuntimeError):
    def __init__(self, phase: Phase, trigger: Trigger) -> None:
        super().__init__(f"{trigger.value} is illegal in {phase.value}")
        self.phase = phase
        self.trigger = trigger


@dataclass(frozen=True, slots=True)
class Transition:
    old: Phase
    new: Phase
    trigger: Trigger
    link_before: LinkState
    link_after: LinkState
    at: int

    @property
    def link_changed(self) -> bool:
        return self.link_before is not self.link_after


class Lifecycle:
    """State of one connection; ``failures`` counts consecutive failures without a stable LIVE period."""

    def __init__(self, now: int, *, max_reconnections: int = 5, stable_ms: int = 60_000) -> None:
        self.phase = Phase.CONNECTING
        self.entered_at = now
        self.failures = 0
        self.throttled = False
        self.max_reconnections = max_reconnections
        self.stable_ms = stable_ms
        self._live_since: int | None = None

    @property
    def link_state(self) -> LinkState:
        phase = self.phase
        if phase is Phase.CLOSED:
            return LinkState.DISCONNECTED
        if phase is Phase.LIVE:
            return LinkState.CONNECTED
        if self.failures > self.max_reconnections:
            return LinkState.DISCONNECTED
        if phase is Phase.BACKOFF and self.throttled:
            return LinkState.THROTTLED
        return LinkState.RECONNECTING

    def can(self, trigger: Trigger) -> bool:
        return (self.phase, trigger) in TRANSITIONS

    def fire(self, trigger: Trigger, now: int, *, throttled: bool = False) -> Transition:
        """Apply ``trigger``; ``throttled`` (with FAILED) marks a 429/418 so BACKOFF reads THROTTLED."""
        new = TRANSITIONS.get((self.phase, trigger))
        if new is None:
            raise IllegalTransition(self.phase, trigger)
        before = self.link_state
        old = self.phase
        if trigger is Trigger.FAILED:
            self.failures = 1 if self.stable(now) else self.failures + 1
            self.throttled = throttled
            self._live_since = None
        elif new is Phase.LIVE and old is Phase.SUBSCRIBING:
            self._live_since = now
            self.throttled = False
        elif trigger is Trigger.CLOSE:
            self._live_since = None
        self.phase = new
        self.entered_at = now
        return Transition(old, new, trigger, before, self.link_state, now)

    def stable(self, now: int) -> bool:
        """True once LIVE has lasted ``stable_ms``: the next failure then counts as the first one again."""
        return self._live_since is not None and now - self._live_since >= self.stable_ms
