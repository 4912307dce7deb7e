"""REST request-weight accounting, per client IP and venue, sans-I/O.

Binance counts request weight per IP in fixed minute windows and reports the total in
``X-MBX-USED-WEIGHT-1M``. Going over the budget answers 429 with ``Retry-After`` (seconds to the end of
the window); a client that keeps sending while told to wait is banned with 418, for 2 minutes at first
and longer for each repeat (up to 3 days). Every 429 and 418 is recorded as a limit violation, because a
well-behaved client never sees either.

All times are market time (the simulator's ScaledClock), so tests drive windows and bans by hand.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cryptoscan.sim.stats import SimStats
from cryptoscan.venues.binance.spec import Venue

WINDOW_MS = 60_000
BAN_START_MS = 120_000  # first ban: 2 minutes
BAN_MAX_MS = 3 * 86_400_000  # longest ban: 3 days


@dataclass(frozen=True, slots=True)
class Decision:
    """What to answer: ``status`` 200 (serve), 429 (over budget) or 418 (banned).

    ``used`` is the weight used in the current window (for the header); ``retry_after_s`` is set
    for 429 and 418, and ``banned_until_ms`` for 418.
    """

    status: int
    used: int
    retry_after_s: int | None = None
    banned_until_ms: int | None = None


@dataclass(slots=True)
class _Client:
    window_start: int = 0
    used: int = 0
    wait_until: int = 0  # after a 429: the client must not send before this
    banned_until: int = 0
    bans: int = 0  # bans so far: each doubles the next one


def _ceil_s(ms: int) -> int:
    return max(1, -(-ms // 1000))


class WeightLimiter:
    """Per (IP, venue) weight windows, 429s and escalating 418 bans."""

    def __init__(
        self,
        budgets: Mapping[Venue, int],
        stats: SimStats,
        *,
        window_ms: int = WINDOW_MS,
        ban_start_ms: int = BAN_START_MS,
        ban_max_ms: int = BAN_MAX_MS,
    ) -> None:
        self.budgets = dict(budgets)
        self.stats = stats
        self.window_ms = window_ms
        self.ban_start_ms = ban_start_ms
        self.ban_max_ms = ban_max_ms
        self._clients: dict[tuple[str, Venue], _Client] = {}

    def _client(self, ip: str, venue: Venue, now_ms: int) -> _Client:
        c = self._clients.get((ip, venue))
        if c is None:
            c = self._clients[(ip, venue)] = _Client()
        start = now_ms - now_ms % self.window_ms
        if c.window_start != start:
            c.window_start = start
            c.used = 0
        return c

    def used(self, ip: str, venue: Venue, now_ms: int) -> int:
        """Weight used by ``ip`` on ``venue`` in the current window."""
        return self._client(ip, venue, now_ms).used

    def charge(self, ip: str, venue: Venue, weight: int, now_ms: int) -> Decision:
        """Account one request of ``weight``; say whether to serve it."""
        c = self._client(ip, venue, now_ms)
        if now_ms < c.banned_until:
            return self._ban_answer(ip, venue, c, now_ms, renewed=False)
        if now_ms < c.wait_until:
            # Told to wait and sent anyway: ban, longer for each repeat.
            duration = min(self.ban_max_ms, self.ban_start_ms * (2 ** min(c.bans, 30)))
            c.bans += 1
            c.banned_until = now_ms + duration
            c.wait_until = 0
            return self._ban_answer(ip, venue, c, now_ms, renewed=True)
        budget = self.budgets.get(venue, 0)
        if c.used + weight > budget:
            window_end = c.window_start + self.window_ms
            c.wait_until = window_end
            self.stats.violation(
                "rest_weight",
                f"{ip} {venue.value}: {c.used}+{weight} over {budget} per minute",
                now_ms,
            )
            return Decision(429, c.used, retry_after_s=_ceil_s(window_end - now_ms))
        c.used += weight
        return Decision(200, c.used)

    def _ban_answer(self, ip: str, venue: Venue, c: _Client, now_ms: int, *, renewed: bool) -> Decision:
        what = "banned" if renewed else "request while banned"
        self.stats.violation("rest_ban", f"{ip} {venue.value}: {what} until {c.banned_until} (ban #{c.bans})", now_ms)
        return Decision(418, c.used, retry_after_s=_ceil_s(c.banned_until - now_ms), banned_until_ms=c.banned_until)
