"""Backfill scheduler: spreads REST ``/klines`` requests under the venue's request-weight budget.

Driven by: :meth:`BackfillScheduler.add` with requests (from :mod:`cryptoscan.feed.gaps`),
:meth:`BackfillScheduler.poll` on a timer (``now`` in ms), :meth:`BackfillScheduler.on_response` with each
reply's status and headers, and :meth:`BackfillScheduler.observe` with any other REST reply from the same IP
(discovery calls share the budget). Returns: :meth:`poll` gives the requests to send now; :meth:`next_at`
says when to poll again; :meth:`on_response` says whether the request is done, queued again or dropped.

Budget: Binance counts weight per IP per minute and reports it in ``X-MBX-USED-WEIGHT-1M``. The estimate for
the current minute is the larger of our own weight sent this minute and the last reported figure plus what we
sent since (in-flight requests included); a request goes out only if the estimate plus its weight stays within
``max_share`` of the budget, leaving the rest to discovery and snapshots. A 429 or 418 stops everything until
its ``Retry-After`` has passed (ignoring 429s is how IPs get 418 bans), and the request is queued again first.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cryptoscan.feed.backoff import DEFAULT_418_MS, DEFAULT_429_MS, retry_after_ms
from cryptoscan.feed.gaps import KlineRequest
from cryptoscan.venues.binance.spec import LIMITS, Venue

MINUTE_MS = 60_000


class Outcome(enum.Enum):
    DONE = "DONE"
    REQUEUED = "REQUEUED"
    DROPPED = "DROPPED"  # gave up after max_retries, or a client error that will not improve


@dataclass(slots=True)
class _Flight:
    sent_at: int
    weight: int
    tries: int


def used_weight(headers: Mapping[str, str]) -> int | None:
    for key, value in headers.items():
        if key.lower() == "x-mbx-used-weight-1m":
            try:
                return int(value.strip())
            except ValueError:
                return None
    return None


class BackfillScheduler:
    def __init__(
        self,
        venue: Venue,
        *,
        budget_per_minute: int | None = None,
        max_share: float = 0.5,
        max_in_flight: int = 4,
        max_retries: int = 3,
    ) -> None:
        if not 0.0 < max_share <= 1.0:
            raise ValueError("max_share must be within (0, 1]")
        self.venue = venue
        self.budget = budget_per_minute if budget_per_minute is not None else LIMITS[venue].rest_weight_per_minute
        self.allowed = int(self.budget * max_share)
        self.max_in_flight = max_in_flight
        self.max_retries = max_retries
        self._queue: deque[tuple[KlineRequest, int]] = deque()  # request, tries so far
        self._queued: set[KlineRequest] = set()
        self._flight: dict[KlineRequest, _Flight] = {}
        self._minute = -1
        self._own = 0  # weight we sent in the current minute
        self._sent_log: list[tuple[int, int]] = []  # (time, weight) sent in the current minute
        self._reported: int | None = None  # last X-MBX-USED-WEIGHT-1M in the current minute
        self._reported_at = 0
        self.blocked_until = 0
        self.dropped = 0

    # --- inputs -----------------------------------------------------------------------------------------

    def add(self, requests: Iterable[KlineRequest]) -> None:
        for r in requests:
            if r not in self._queued and r not in self._flight:
                self._queue.append((r, 0))
                self._queued.add(r)

    def observe(self, now: int, status: int, headers: Mapping[str, str]) -> None:
        """Any REST reply on this IP: update the used weight and honour Retry-After."""
        self._roll(now)
        used = used_weight(headers)
        if used is not None:
            self._reported = used
            self._reported_at = now
        if status in (429, 418):
            wait = retry_after_ms(headers, DEFAULT_429_MS if status == 429 else DEFAULT_418_MS)
            self.blocked_until = max(self.blocked_until, now + wait)

    def on_response(self, request: KlineRequest, now: int, status: int, headers: Mapping[str, str]) -> Outcome:
        flight = self._flight.pop(request, None)
        self.observe(now, status, headers)
        tries = flight.tries + 1 if flight is not None else 1
        if 200 <= status < 300:
            return Outcome.DONE
        if status in (429, 418):
            self._queue.appendleft((request, tries - 1))  # throttling is not the request's fault
            self._queued.add(request)
            return Outcome.REQUEUED
        if (status >= 500 or status in (0, 408)) and tries <= self.max_retries:
            self._queue.append((request, tries))
            self._queued.add(request)
            return Outcome.REQUEUED
        self.dropped += 1
        return Outcome.DROPPED

    # --- outputs ----------------------------------------------------------------------------------------

    @property
    def queued(self) -> int:
        return len(self._queue)

    @property
    def in_flight(self) -> int:
        return len(self._flight)

    def estimate(self, now: int) -> int:
        """Weight already used this minute, as far as we can tell."""
        self._roll(now)
        own = self._own
        if self._reported is None:
            return own
        after = sum(w for t, w in self._sent_log if t > self._reported_at)
        before_in_flight = sum(f.weight for f in self._flight.values() if f.sent_at <= self._reported_at)
        return max(own, self._reported + after + before_in_flight)

    def poll(self, now: int) -> list[KlineRequest]:
        out: list[KlineRequest] = []
        if now < self.blocked_until:
            return out
        used = self.estimate(now)
        while self._queue and len(self._flight) < self.max_in_flight:
            request, tries = self._queue[0]
            w = request.weight
            if used + w > self.allowed:
                break
            self._queue.popleft()
            self._queued.discard(request)
            self._flight[request] = _Flight(now, w, tries)
            self._own += w
            self._sent_log.append((now, w))
            used += w
            out.append(request)
        return out

    def next_at(self, now: int) -> int | None:
        """When :meth:`poll` may return something; None while waiting on replies or with nothing queued."""
        if not self._queue:
            return None
        if now < self.blocked_until:
            return self.blocked_until
        if len(self._flight) >= self.max_in_flight:
            return None
        if self.estimate(now) + self._queue[0][0].weight > self.allowed:
            return (now // MINUTE_MS + 1) * MINUTE_MS
        return now

    def _roll(self, now: int) -> None:
        minute = now // MINUTE_MS
        if minute != self._minute:
            self._minute = minute
            # requests still in flight may land in the new minute: count them there too
            self._own = sum(f.weight for f in self._flight.values())
            self._sent_log.clear()
            self._reported = None
