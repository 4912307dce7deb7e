from __future__ import annotations

import random

import pytest

from cryptoscan.feed.backoff import (
    Backoff,
    BackoffPolicy,
    Verdict,
    classify_close,
    classify_exception,
    classify_handshake,
    retry_after_ms,
)


def test_sequence_grows_and_caps_without_jitter() -> None:
    b = Backoff(BackoffPolicy(initial_ms=1000, factor=2.0, max_ms=10_000, jitter=0.0), rand=lambda: 0.99)
    delays = [b.next_delay(0) for _ in range(8)]
    assert delays == [1000, 2000, 4000, 8000, 10_000, 10_000, 10_000, 10_000]


def test_jitter_stays_in_range_and_varies() -> None:
    policy = BackoffPolicy(initial_ms=1000, factor=1.5, max_ms=30_000, jitter=0.4)
    rng = random.Random(7)
    for _ in range(50):
        b = Backoff(policy, rand=rng.random)
        seen = [b.next_delay(0) for _ in range(20)]
        for n, d in enumerate(seen):
            base = policy.base_ms(n)
            assert 0.6 * base - 1 <= d <= base
        assert max(seen) <= 30_000
    b1 = Backoff(policy, rand=lambda: 0.0)
    b2 = Backoff(policy, rand=lambda: 0.999)
    assert b1.next_delay(0) == 1000 and b2.next_delay(0) < 610


def test_huge_attempt_counts_stay_capped() -> None:
    assert BackoffPolicy(max_ms=5000).base_ms(10_000) == 5000


def test_reset_after_stable_period_only() -> None:
    b = Backoff(BackoffPolicy(initial_ms=100, factor=2.0, max_ms=10_000, jitter=0.0, stable_ms=5000))
    for _ in range(4):
        b.next_delay(0)
    b.on_live(1000)
    assert b.next_delay(1000 + 4999) == 1600  # not stable yet: keeps growing
    b.on_live(10_000)
    assert b.next_delay(15_000) == 100  # stable: back to the start


def test_retry_after_is_a_floor() -> None:
    b = Backoff(BackoffPolicy(initial_ms=100, jitter=0.0))
    f = classify_handshake(429, {"Retry-After": "30"})
    assert f.verdict is Verdict.THROTTLED and f.min_delay_ms == 30_000
    assert b.next_delay(0, f) == 30_000


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        (429, Verdict.THROTTLED),
        (418, Verdict.THROTTLED),
        (503, Verdict.RETRY),
        (502, Verdict.RETRY),
        (400, Verdict.FATAL),
        (401, Verdict.FATAL),
        (404, Verdict.FATAL),
    ],
)
def test_handshake_classes(status: int, verdict: Verdict) -> None:
    f = classify_handshake(status, {})
    assert f.verdict is verdict and f.retry == (verdict is not Verdict.FATAL)


def test_retry_after_parsing() -> None:
    assert retry_after_ms({"retry-after": "2"}, 5) == 2000
    assert retry_after_ms({"Retry-After": "soon"}, 5) == 5
    assert retry_after_ms({}, 7) == 7
    assert classify_handshake(418, {}).min_delay_ms == 120_000


def test_close_and_exception_classes() -> None:
    assert classify_close(None).verdict is Verdict.RETRY
    assert classify_close(1001, "going away").verdict is Verdict.RETRY
    assert classify_close(1008, "too many").verdict is Verdict.THROTTLED
    assert classify_exception(ConnectionResetError()).verdict is Verdict.RETRY
    assert classify_exception(TimeoutError()).verdict is Verdict.RETRY
    assert classify_exception(EOFError()).verdict is Verdict.RETRY
    assert classify_exception(KeyError("x")).verdict is Verdict.FATAL


def test_bad_policy_rejected() -> None:
    with pytest.raises(ValueError):
        BackoffPolicy(initial_ms=10, max_ms=5)
    with pytest.raises(ValueError):
        BackoffPolicy(jitter=1.5)
