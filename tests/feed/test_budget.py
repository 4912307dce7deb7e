from __future__ import annotations

import random

from cryptoscan.feed.budget import BackfillScheduler, Outcome, used_weight
from cryptoscan.feed.gaps import KlineRequest
from cryptoscan.venues.binance.spec import Venue

M = 60_000


def req(i: int, venue: Venue = Venue.FUTURES, limit: int = 1000) -> KlineRequest:
    return KlineRequest(venue, f"S{i}USDT", "1m", i * M, i * M + limit * M - 1, limit)


class FakeServer:
    """Counts weight per IP per calendar minute, like Binance; other clients spend some too."""

    def __init__(self) -> None:
        self.used: dict[int, int] = {}

    def spend(self, now: int, weight: int) -> int:
        minute = now // M
        self.used[minute] = self.used.get(minute, 0) + weight
        return self.used[minute]


def test_never_exceeds_share_of_budget_under_random_load() -> None:
    for seed in range(10):
        rng = random.Random(seed)
        sched = BackfillScheduler(Venue.FUTURES, max_share=0.5, max_in_flight=3)  # 1200 of 2400 per minute
        server = FakeServer()
        sched.add(req(i) for i in range(400))  # weight 5 each: 2000 in total
        in_flight: list[tuple[int, KlineRequest]] = []
        now = 0
        sent = 0
        while (sched.queued or in_flight) and now < 30 * M:
            now += rng.choice([1, 10, 50, 200, 1000])
            if rng.random() < 0.2:
                server.spend(now, rng.choice([1, 20, 40]))  # discovery calls by someone else
                sched.observe(now, 200, {"X-MBX-USED-WEIGHT-1M": str(server.used[now // M])})
            for r in sched.poll(now):
                before = server.used.get(now // M, 0)
                assert before + r.weight <= 1200, (seed, now, before)  # we never push the minute past our share
                server.spend(now, r.weight)
                in_flight.append((now + rng.choice([5, 50, 300]), r))
                sent += 1
            for due, r in [x for x in in_flight if x[0] <= now]:
                in_flight.remove((due, r))
                used = server.spend(due, 0)
                assert sched.on_response(r, now, 200, {"x-mbx-used-weight-1m": str(used)}) is Outcome.DONE
        assert sent == 400
        assert max(server.used.values()) <= 2400  # and never over the whole budget


def test_own_weight_alone_stays_within_share() -> None:
    sched = BackfillScheduler(Venue.SPOT, budget_per_minute=100, max_share=0.5, max_in_flight=100)
    sched.add(req(i, Venue.SPOT) for i in range(100))  # weight 2 each
    first = sched.poll(0)
    assert sum(r.weight for r in first) == 50
    assert sched.poll(59_999) == [] and sched.next_at(59_999) == M
    for r in first:
        sched.on_response(r, 1, 200, {})
    assert sum(r.weight for r in sched.poll(M)) == 50


def test_reported_weight_from_others_shrinks_what_we_send() -> None:
    sched = BackfillScheduler(Venue.SPOT, budget_per_minute=1000, max_share=0.5, max_in_flight=100)
    sched.observe(0, 200, {"X-MBX-USED-WEIGHT-1M": "480"})
    sched.add(req(i, Venue.SPOT) for i in range(50))
    assert len(sched.poll(1)) == 10  # (500 - 480) / 2
    assert sched.estimate(1) == 500


def test_retry_after_honoured() -> None:
    sched = BackfillScheduler(Venue.FUTURES, max_in_flight=1)
    sched.add([req(1), req(2)])
    (r,) = sched.poll(0)
    assert sched.on_response(r, 100, 429, {"Retry-After": "7"}) is Outcome.REQUEUED
    assert sched.poll(7099) == []
    assert sched.next_at(5000) == 7100
    (again,) = sched.poll(7100)
    assert again == r  # the throttled request goes first
    assert sched.on_response(again, 7200, 418, {}) is Outcome.REQUEUED
    assert sched.blocked_until == 7200 + 120_000
    assert sched.poll(7200 + 119_999) == []
    assert sched.poll(7200 + 120_000) == [r]


def test_retries_then_drops() -> None:
    sched = BackfillScheduler(Venue.FUTURES, max_retries=2, max_in_flight=1)
    sched.add([req(1)])
    outcomes = []
    for t in range(4):
        (r,) = sched.poll(t * 10)
        outcomes.append(sched.on_response(r, t * 10 + 1, 503, {}))
        if outcomes[-1] is Outcome.DROPPED:
            break
    assert outcomes == [Outcome.REQUEUED, Outcome.REQUEUED, Outcome.DROPPED] and sched.dropped == 1
    sched.add([req(2)])
    (r,) = sched.poll(100)
    assert sched.on_response(r, 101, 400, {}) is Outcome.DROPPED


def test_in_flight_cap_and_duplicates_ignored() -> None:
    sched = BackfillScheduler(Venue.FUTURES, max_in_flight=2)
    sched.add([req(1), req(1), req(2), req(3)])
    assert sched.queued == 3
    assert len(sched.poll(0)) == 2 and sched.in_flight == 2
    assert sched.next_at(0) is None
    assert used_weight({"X-MBX-USED-WEIGHT-1M": "x"}) is None
