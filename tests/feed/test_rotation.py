from __future__ import annotations

import pytest

from cryptoscan.clock import ManualClock
from cryptoscan.events import Kline, Trade
from cryptoscan.feed.lifecycle import Lifecycle, Phase, Trigger
from cryptoscan.feed.rotation import Close, Deduplicator, Handover, HandoverPhase, Open, RotationPolicy, Rotator

HOUR = 3_600_000


def test_rotation_time_is_23h_plus_minus_jitter() -> None:
    lo = Rotator(RotationPolicy(), rand=lambda: 0.0)
    hi = Rotator(RotationPolicy(), rand=lambda: 0.999999)
    mid = Rotator(RotationPolicy(), rand=lambda: 0.5)
    assert lo.opened("c", 0) == 23 * HOUR - 900_000
    assert 23 * HOUR + 899_000 < hi.opened("c", 0) <= 23 * HOUR + 900_000
    assert mid.opened("c", 0) == 23 * HOUR
    assert mid.due(23 * HOUR - 1) == []
    assert mid.due(23 * HOUR) == ["c"]
    assert mid.due(23 * HOUR + 1) == []  # reported once


def test_policy_scales_and_is_validated() -> None:
    p = RotationPolicy().scaled(86_400)  # a simulator with a 1000x shorter lifetime
    assert (p.rotate_after_ms, p.jitter_ms, p.overlap_ms) == (82_800, 900, 2)
    with pytest.raises(ValueError):
        RotationPolicy(rotate_after_ms=24 * HOUR)


def test_server_shutdown_makes_due_now() -> None:
    r = Rotator(rand=lambda: 0.5)
    r.opened("a", 0)
    r.opened("b", 0)
    r.server_shutdown("a", 5000)
    assert r.next_at() == 5000
    assert r.due(5000) == ["a"]


def test_make_before_break_order() -> None:
    """The old connection is closed only after the new one is LIVE, plus the overlap."""
    clock = ManualClock(0)
    log: list[str] = []
    r = Rotator(RotationPolicy(overlap_ms=2000), rand=lambda: 0.5)
    r.opened("old", clock.now_ms())
    clock.advance(23 * 3600)
    (due,) = r.due(clock.now_ms())
    h = r.handover(due, "new", frozenset({"btcusdt@kline_1m"}))
    action = h.start()
    assert action == Open("new", "old", frozenset({"btcusdt@kline_1m"}))
    log.append("open new")
    new = Lifecycle(clock.now_ms())
    for _ in range(5):  # connecting and subscribing take a while: nothing closes
        clock.advance(1)
        assert h.poll(clock.now_ms()) == []
    new.fire(Trigger.OPENED, clock.now_ms())
    new.fire(Trigger.SUBSCRIBED, clock.now_ms())
    assert new.phase is Phase.LIVE
    h.on_new_live(clock.now_ms())
    log.append("new live")
    clock.advance(1.999)
    assert h.poll(clock.now_ms()) == []
    clock.advance(0.001)
    assert h.poll(clock.now_ms()) == [Close("old")]
    log.append("close old")
    assert log == ["open new", "new live", "close old"] and h.phase is HandoverPhase.DONE
    assert h.poll(clock.now_ms() + 10_000) == []


def test_failed_replacement_keeps_old_and_server_closed_old_needs_no_close() -> None:
    h = Handover("old", "new", frozenset(), 0)
    h.start()
    h.on_new_failed()
    assert h.phase is HandoverPhase.ABORTED and h.poll(10**9) == []
    with pytest.raises(RuntimeError):
        h.on_new_live(0)
    h2 = Handover("old", "new", frozenset(), 0)
    with pytest.raises(RuntimeError):
        h2.on_new_live(0)  # not started
    h2.start()
    h2.on_old_closed()
    h2.on_new_live(10)
    assert h2.poll(10) == [] and h2.phase is HandoverPhase.DONE


def kline(open_time: int, ts: int, closed: bool, close: float = 1.0) -> Kline:
    return Kline(
        "spot", "BTCUSDT", "1m", open_time, open_time + 59_999, 1, 1, 1, close, 1, 1, 1, 0, 0, closed, 0, 0, ts, ts
    )


def test_dedup_klines_last_wins_open_exactly_once_closed() -> None:
    d = Deduplicator()
    assert d.kline(kline(0, 1000, False))
    assert not d.kline(kline(0, 1000, False))  # same update from the other socket
    assert not d.kline(kline(0, 500, False))  # older update arriving late
    assert d.kline(kline(0, 3000, False))
    assert d.kline(kline(0, 60_000, True))
    assert not d.kline(kline(0, 60_000, True))
    assert not d.kline(kline(0, 59_000, False))  # open update after the close
    assert d.kline(kline(60_000, 61_000, False))
    assert d.dropped == 4


def test_dedup_trades_by_id_across_interleaved_sockets() -> None:
    d = Deduplicator(window=100)

    def t(i: int) -> Trade:
        return Trade("spot", "BTCUSDT", i, 1.0, 1.0, False, 0, i, i, True, 0, 0)

    old = list(range(100, 111))
    new = list(range(104, 116))
    passed = [i for pair in zip(old + [None] * 5, new, strict=False) for i in pair if i is not None and d.trade(t(i))]
    assert sorted(passed) == list(range(100, 116))
    assert d.dropped == len(set(old) & set(new))
    assert d.trade(Trade("spot", "ETHUSDT", 104, 1, 1, False, 0, 0, 0, True, 0, 0))  # other symbol


def test_dedup_memory_is_bounded() -> None:
    d = Deduplicator(window=10, max_series=2)
    for i in range(1000):
        d.trade(Trade("spot", f"S{i % 5}", i, 1, 1, False, 0, 0, 0, True, 0, 0))
    assert len(d._trades) == 2 and all(len(seen) <= 10 for seen, _ in d._trades.values())
