"""A token bucket per delivery channel, sans-I/O: ``now`` (monotonic seconds) in, seconds to wait out.

Why: chat services throttle webhooks (Discord about 30 a minute, Telegram about 20 a minute per group) and
answer a burst with 429s or a ban. The channel spends a token per message; ``burst`` may go at once, then
messages are spaced at ``rate_per_s``. :meth:`TokenBucket.reserve` books the token even when the caller must
wait, so successive reservations queue up in order.
"""

from __future__ import annotations


class TokenBucket:
    def __init__(self, rate_per_s: float, burst: int, now: float) -> None:
        if rate_per_s < 0 or burst < 1:
            raise ValueError("need rate_per_s >= 0 (0: unlimited) and burst >= 1")
        self.rate = rate_per_s
        self.burst = float(burst)
        self.tokens = float(burst)
        self._at = now

    def _refill(self, now: float) -> None:
        if now > self._at:
            self.tokens = min(self.burst, self.tokens + (now - self._at) * self.rate)
            self._at = now

    def available(self, now: float) -> float:
        self._refill(now)
        return self.tokens

    def reserve(self, now: float) -> float:
        """Take one token; return how long to wait before using it (0: go now)."""
        if self.rate == 0:
            return 0.0
        self._refill(now)
        self.tokens -= 1.0
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate
