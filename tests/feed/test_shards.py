from __future__ import annotations

import random

import pytest

from cryptoscan.feed.shards import ConnectGate, PlanDiff, ShardKey, ShardPlanner, category_of
from cryptoscan.venues.binance.spec import LIMITS, Category, Venue, VenueLimits


def kl(i: int) -> str:
    return f"s{i:04d}usdt@kline_1m"


def check_invariants(p: ShardPlanner) -> None:
    for shard in p.shards.values():
        assert 0 < len(shard.streams) <= p.capacity(shard.key.venue)
        cats = {category_of(shard.key.venue, s) for s in shard.streams}
        assert cats == {shard.key.category}


def apply(diff: PlanDiff, conns: dict[str, set[str]]) -> None:
    """What the connections would carry after executing the diff (a stand-in for the server side)."""
    for c in diff.changes:
        if c.closed:
            del conns[c.shard_id]
            continue
        if c.opened:
            assert c.shard_id not in conns and not c.unsubscribe
            conns[c.shard_id] = set()
        conns[c.shard_id] -= set(c.unsubscribe)
        conns[c.shard_id] |= set(c.subscribe)


def test_chunks_respect_chunk_size_and_venue_limit() -> None:
    p = ShardPlanner(chunk_size=200)
    diff = p.plan({Venue.SPOT: [kl(i) for i in range(450)]})
    assert [len(c.subscribe) for c in diff.changes] == [200, 200, 50]
    assert all(c.opened for c in diff.changes)
    tiny = dict(LIMITS)
    tiny[Venue.SPOT] = VenueLimits(5, 30, 300, 20_000, 60_000, 86_400_000, 6000)
    p2 = ShardPlanner(chunk_size=200, limits=tiny)
    assert p2.capacity(Venue.SPOT) == 30
    assert len(p2.plan({Venue.SPOT: [kl(i) for i in range(61)]}).opened) == 3
    check_invariants(p2)


def test_futures_categories_never_mix() -> None:
    p = ShardPlanner(chunk_size=3)
    streams = ["btcusdt@bookTicker", "btcusdt@kline_1m", "ethusdt@depth20", "ethusdt@aggTrade", "!markPrice@arr"]
    diff = p.plan({Venue.FUTURES: streams, Venue.SPOT: ["btcusdt@bookTicker"]})
    keys = {c.key for c in diff.changes}
    assert keys == {
        ShardKey(Venue.FUTURES, Category.PUBLIC),
        ShardKey(Venue.FUTURES, Category.MARKET),
        ShardKey(Venue.SPOT, Category.SPOT),
    }
    check_invariants(p)
    by_key = {c.key.category: set(c.subscribe) for c in diff.changes if c.key.venue is Venue.FUTURES}
    assert by_key[Category.PUBLIC] == {"btcusdt@bookTicker", "ethusdt@depth20"}


def test_unknown_stream_rejected() -> None:
    with pytest.raises(ValueError):
        ShardPlanner().plan({Venue.SPOT: ["nonsense"]})


def test_sticky_under_add_and_remove() -> None:
    p = ShardPlanner(chunk_size=10)
    conns: dict[str, set[str]] = {}
    apply(p.plan({Venue.SPOT: [kl(i) for i in range(35)]}), conns)
    before = {s: p.shard_of(Venue.SPOT, s) for i in range(35) for s in [kl(i)]}
    # remove 3 from one shard, add 2: one connection touched, no stream moves
    desired = [kl(i) for i in range(35) if i not in (0, 1, 2)] + [kl(100), kl(101)]
    diff = p.plan({Venue.SPOT: desired})
    apply(diff, conns)
    assert len(diff.changes) == 1 and not diff.opened
    for s, sid in before.items():
        if s in desired:
            assert p.shard_of(Venue.SPOT, s) == sid
    assert set().union(*conns.values()) == set(desired)
    check_invariants(p)


def test_empty_shard_closes_and_noop_plan_is_empty() -> None:
    p = ShardPlanner(chunk_size=5)
    p.plan({Venue.SPOT: [kl(i) for i in range(7)]})
    assert not p.plan({Venue.SPOT: [kl(i) for i in range(7)]})
    diff = p.plan({Venue.SPOT: [kl(i) for i in range(5)]})
    assert diff.closed == ("spot-spot-1",) and len(diff.changes) == 1
    assert p.plan({Venue.SPOT: []}).closed == ("spot-spot-0",)
    assert not p.shards


def test_random_churn_keeps_invariants_and_moves_nothing() -> None:
    rng = random.Random(3)
    p = ShardPlanner(chunk_size=17)
    conns: dict[str, set[str]] = {}
    universe = [kl(i) for i in range(300)] + [f"s{i:04d}usdt@bookTicker" for i in range(100)]
    current: set[str] = set()
    for _ in range(60):
        prev = {s: p.shard_of(Venue.FUTURES, s) for s in current}
        current = set(rng.sample(universe, rng.randint(0, 250)))
        diff = p.plan({Venue.FUTURES: current})
        apply(diff, conns)
        check_invariants(p)
        assert set().union(set(), *conns.values()) == current
        for s, sid in prev.items():
            if s in current:
                assert p.shard_of(Venue.FUTURES, s) == sid  # sticky: survivors never move
        total = sum(len(c) for c in conns.values())
        assert total == len(current)


def test_connect_gate_spacing_and_five_minute_cap() -> None:
    g = ConnectGate(interval_ms=1000)
    assert g.acquire(Venue.SPOT, 0)
    assert not g.acquire(Venue.SPOT, 999)
    assert g.ready_at(Venue.SPOT, 500) == 1000
    assert g.acquire(Venue.FUTURES, 500)  # per venue
    assert g.acquire(Venue.SPOT, 1000)
    small = dict(LIMITS)
    small[Venue.SPOT] = VenueLimits(5, 1024, 3, 20_000, 60_000, 86_400_000, 6000)
    g2 = ConnectGate(interval_ms=1000, limits=small)
    for t in (0, 1000, 2000):
        assert g2.acquire(Venue.SPOT, t)
    assert g2.ready_at(Venue.SPOT, 3000) == 300_000
    assert not g2.acquire(Venue.SPOT, 299_999)
    assert g2.acquire(Venue.SPOT, 300_000)
