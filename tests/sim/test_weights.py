"""WeightLimiter: minute windows in market time, 429 with Retry-After, escalating 418 bans."""

from __future__ import annotations

from cryptoscan.sim.stats import SimStats
from cryptoscan.sim.weights import BAN_MAX_MS, WeightLimiter
from cryptoscan.venues.binance.spec import Venue

T0 = 1_700_000_020_000  # 40 s into a market minute
MINUTE0 = T0 - T0 % 60_000


def limiter(spot: int = 10, futures: int = 5) -> tuple[WeightLimiter, SimStats]:
    stats = SimStats()
    return WeightLimiter({Venue.SPOT: spot, Venue.FUTURES: futures}, stats), stats


def test_used_weight_rises_per_request_and_per_venue() -> None:
    lim, stats = limiter()
    assert lim.charge("1.1.1.1", Venue.SPOT, 2, T0).used == 2
    assert lim.charge("1.1.1.1", Venue.SPOT, 3, T0).used == 5
    assert lim.charge("1.1.1.1", Venue.FUTURES, 1, T0).used == 1  # futures has its own budget
    assert lim.charge("2.2.2.2", Venue.SPOT, 1, T0).used == 1  # and each IP its own
    assert lim.used("1.1.1.1", Venue.SPOT, T0) == 5
    assert stats.violation_counts() == {}


def test_over_budget_is_429_with_retry_after_to_the_end_of_the_minute() -> None:
    lim, stats = limiter(spot=10)
    assert lim.charge("ip", Venue.SPOT, 10, T0).status == 200
    d = lim.charge("ip", Venue.SPOT, 1, T0)
    assert d.status == 429
    assert d.used == 10  # the rejected request is not counted
    assert d.retry_after_s == (MINUTE0 + 60_000 - T0) // 1000
    assert stats.violation_counts() == {"rest_weight": 1}
    assert stats.violations[0].market_ms == T0


def test_window_resets_in_market_time() -> None:
    lim, _ = limiter(spot=10)
    lim.charge("ip", Venue.SPOT, 10, T0)
    next_minute = MINUTE0 + 60_000
    assert lim.charge("ip", Venue.SPOT, 1, next_minute - 1).status == 429
    # A 429 answered, and the client waited as told: no ban.
    d = lim.charge("ip", Venue.SPOT, 4, next_minute)
    assert (d.status, d.used) == (200, 4)


def test_sending_while_told_to_wait_is_a_418_ban_that_escalates() -> None:
    lim, stats = limiter(spot=10)
    lim.charge("ip", Venue.SPOT, 10, T0)
    assert lim.charge("ip", Venue.SPOT, 1, T0).status == 429
    ban = lim.charge("ip", Venue.SPOT, 1, T0 + 1000)
    assert ban.status == 418
    assert ban.retry_after_s == 120
    assert ban.banned_until_ms == T0 + 1000 + 120_000
    # Still banned after the window rolls over; Retry-After counts down.
    later = lim.charge("ip", Venue.SPOT, 1, T0 + 61_000)
    assert (later.status, later.retry_after_s) == (418, 60)
    assert lim.charge("other", Venue.SPOT, 1, T0 + 61_000).status == 200  # another IP is unaffected
    # Ban over: served again.
    after = T0 + 1000 + 120_000
    assert lim.charge("ip", Venue.SPOT, 1, after).status == 200
    # Second offence: twice as long.
    lim.charge("ip", Venue.SPOT, 9, after)
    assert lim.charge("ip", Venue.SPOT, 1, after).status == 429
    second = lim.charge("ip", Venue.SPOT, 1, after + 10)
    assert (second.status, second.retry_after_s) == (418, 240)
    counts = stats.violation_counts()
    assert counts["rest_weight"] == 2
    assert counts["rest_ban"] == 3  # the ban, the request during it, the second ban


def test_ban_length_is_capped_at_three_days() -> None:
    lim, _ = limiter(spot=1)
    now = MINUTE0
    retry = 0
    for _ in range(20):
        lim.charge("ip", Venue.SPOT, 1, now)
        assert lim.charge("ip", Venue.SPOT, 1, now).status == 429
        d = lim.charge("ip", Venue.SPOT, 1, now)
        assert d.status == 418 and d.retry_after_s is not None
        retry = d.retry_after_s
        now = (d.banned_until_ms or 0) + 60_000
        now -= now % 60_000
    assert retry == BAN_MAX_MS // 1000
