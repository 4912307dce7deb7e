"""The per-channel token bucket, sans-I/O: explicit times in, waits out."""

from __future__ import annotations

import pytest

from cryptoscan.alerts.ratelimit import TokenBucket


def test_burst_goes_at_once_then_messages_are_spaced_at_the_rate() -> None:
    bucket = TokenBucket(rate_per_s=0.5, burst=3, now=100.0)
    assert [bucket.reserve(100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.reserve(100.0) == pytest.approx(2.0)  # booked: wait 2 s
    assert bucket.reserve(100.0) == pytest.approx(4.0)  # the next one queues behind it
    assert bucket.reserve(106.0) == pytest.approx(0.0)  # 6 s later: two tokens refilled, both were spent


def test_refill_is_capped_at_the_burst() -> None:
    bucket = TokenBucket(rate_per_s=1.0, burst=2, now=0.0)
    bucket.reserve(0.0)
    assert bucket.available(1_000.0) == 2.0
    assert [bucket.reserve(1_000.0) for _ in range(3)] == [0.0, 0.0, pytest.approx(1.0)]


def test_time_going_backwards_refills_nothing_and_rate_zero_is_unlimited() -> None:
    bucket = TokenBucket(rate_per_s=1.0, burst=1, now=10.0)
    bucket.reserve(10.0)
    assert bucket.reserve(5.0) == pytest.approx(1.0)  # no refill from a step back
    free = TokenBucket(rate_per_s=0.0, burst=1, now=0.0)
    assert all(free.reserve(0.0) == 0.0 for _ in range(100))
    with pytest.raises(ValueError):
        TokenBucket(rate_per_s=1.0, burst=0, now=0.0)
