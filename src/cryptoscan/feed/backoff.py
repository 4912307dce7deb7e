"""Reconnect policy: jittered, capped exponential delays, reset after a stable LIVE period; plus the one
place where failures are classified into retry, throttled (retry, but not before Retry-After) or fatal.

Driven by: :meth:`Backoff.on_live` when a connection reaches LIVE, :meth:`Backoff.next_delay` on every
failure (with the :class:`Failure` from a ``classify_*`` function). Returns: the delay in ms before the next
attempt. ``rand`` is injectable (a ``() -> float`` in [0, 1)), so tests pin the jitter.

Delay n (0-based) is ``min(max_ms, initial_ms * factor**n)`` scaled by a factor drawn from
``[1 - jitter, 1]``, and never below a Failure's ``min_delay_ms`` (Retry-After).
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass


class Verdict(enum.Enum):
    RETRY = "RETRY"
    THROTTLED = "THROTTLED"  # retry, no sooner than min_delay_ms; the link reads THROTTLED meanwhile
    FATAL = "FATAL"  # retrying the same request cannot help (bad stream set, auth): tell the user


@dataclass(frozen=True, slots=True)
class Failure:
    verdict: Verdict
    reason: str
    min_delay_ms: int = 0

    @property
    def retry(self) -> bool:
        return self.verdict is not Verdict.FATAL


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    initial_ms: int = 1_000
    factor: float = 1.618
    max_ms: int = 60_000
    jitter: float = 0.5  # fraction of the delay that may be shaved off at random
    stable_ms: int = 60_000  # LIVE this long resets the sequence

    def __post_init__(self) -> None:
        if self.initial_ms <= 0 or self.max_ms < self.initial_ms or self.factor < 1.0:
            raise ValueError("need 0 < initial_ms <= max_ms and factor >= 1")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError("jitter must be within [0, 1]")

    def base_ms(self, attempt: int) -> int:
        """The un-jittered delay before attempt ``attempt`` (0-based), capped."""
        if attempt <= 0:
            return self.initial_ms
        # factor**attempt overflows floats for huge attempt counts; the cap makes that moot
        if attempt > 200:
            return self.max_ms
        return min(self.max_ms, round(self.initial_ms * self.factor**attempt))


class Backoff:
    """Consecutive-failure counter plus the policy; one per connection slot."""

    def __init__(self, policy: BackoffPolicy | None = None, rand: Callable[[], float] = random.random) -> None:
        self.policy = policy or BackoffPolicy()
        self._rand = rand
        self.attempt = 0
        self._live_since: int | None = None

    def on_live(self, now: int) -> None:
        self._live_since = now

    def reset(self) -> None:
        self.attempt = 0
        self._live_since = None

    def next_delay(self, now: int, failure: Failure | None = None) -> int:
        """Delay before the next attempt after a failure at ``now``; advances the sequence."""
        if self._live_since is not None and now - self._live_since >= self.policy.stable_ms:
            self.attempt = 0
        self._live_since = None
        base = self.policy.base_ms(self.attempt)
        self.attempt += 1
        delay = round(base * (1.0 - self.policy.jitter * self._rand()))
        floor = failure.min_delay_ms if failure is not None else 0
        return max(delay, floor)


# --- classification -------------------------------------------------------------------------------------

DEFAULT_429_MS = 60_000
DEFAULT_418_MS = 120_000  # Binance bans last 2 minutes to 3 days; Retry-After says how long


def retry_after_ms(headers: Mapping[str, str], default_ms: int) -> int:
    """``Retry-After`` (seconds) in ms, case-insensitive header lookup; ``default_ms`` if absent or odd."""
    for key, value in headers.items():
        if key.lower() == "retry-after":
            try:
                seconds = float(value.strip())
            except ValueError:
                return default_ms
            return max(0, round(seconds * 1000))
    return default_ms


def classify_handshake(status: int, headers: Mapping[str, str] | None = None) -> Failure:
    """An HTTP status refusing the WebSocket upgrade (or a REST call)."""
    headers = headers or {}
    if status == 429:
        return Failure(Verdict.THROTTLED, "429 too many requests", retry_after_ms(headers, DEFAULT_429_MS))
    if status == 418:
        return Failure(Verdict.THROTTLED, "418 IP banned", retry_after_ms(headers, DEFAULT_418_MS))
    if status >= 500 or status == 408:
        return Failure(Verdict.RETRY, f"HTTP {status}")
    if status == 400:
        return Failure(Verdict.FATAL, "HTTP 400: the stream set or path is invalid")
    if status in (401, 403):
        return Failure(Verdict.FATAL, f"HTTP {status}: not authorised")
    if 400 <= status < 500:
        return Failure(Verdict.FATAL, f"HTTP {status}")
    return Failure(Verdict.RETRY, f"unexpected HTTP {status}")


POLICY_VIOLATION_MS = 5_000


def classify_close(code: int | None, reason: str = "") -> Failure:
    """A WebSocket close (``code`` None: the TCP stream ended without a close frame)."""
    if code is None or code == 1006:
        return Failure(Verdict.RETRY, "connection lost")
    if code == 1008:
        # Binance closes with policy violation when a connection sends too many messages
        return Failure(Verdict.THROTTLED, f"policy violation: {reason}".rstrip(": "), POLICY_VIOLATION_MS)
    return Failure(Verdict.RETRY, f"closed {code} {reason}".rstrip())


def classify_exception(exc: BaseException) -> Failure:
    """Network-shaped errors retry; anything else is a bug or a misconfiguration and is fatal."""
    if isinstance(exc, TimeoutError):
        return Failure(Verdict.RETRY, "timeout")
    if isinstance(exc, (OSError, EOFError)):
        return Failure(Verdict.RETRY, f"{type(exc).__name__}: {exc}")
    return Failure(Verdict.FATAL, f"{type(exc).__name__}: {exc}")
