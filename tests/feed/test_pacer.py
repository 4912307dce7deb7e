from __future__ import annotations

import json
import random

import pytest

from cryptoscan.feed.pacer import LIST_SUBSCRIPTIONS, SUBSCRIBE, UNSUBSCRIBE, Pacer, Request
from cryptoscan.venues.binance.spec import LIMITS, Venue


def names(n: int, start: int = 0) -> list[str]:
    return [f"s{i:04d}usdt@kline_1m" for i in range(start, start + n)]


def ack(p: Pacer, req: Request) -> None:
    assert p.on_text(json.dumps({"result": None, "id": req.id})) is not None


def test_frames_are_binance_json_with_rising_ids_and_size_bound() -> None:
    p = Pacer(Venue.SPOT, max_frame_bytes=300)
    p.subscribe(names(40))
    out = p.poll(0)
    assert len(out) == 3  # the rate, not the work, stops it
    ids = [r.id for r in out]
    assert ids == sorted(ids) and ids[0] == 1
    for r in out:
        assert len(r.payload) <= 300
        body = json.loads(r.payload)
        assert body == {"method": SUBSCRIBE, "id": r.id, "params": list(r.params)}
    assert len(out[0].params) > 5  # batched


@pytest.mark.parametrize(("venue", "rate"), [(Venue.SPOT, 3), (Venue.FUTURES, 7)])
def test_never_more_than_rate_in_any_one_second_window(venue: Venue, rate: int) -> None:
    hard = LIMITS[venue].messages_per_second
    for seed in range(20):
        rng = random.Random(seed)
        p = Pacer(venue, max_frame_bytes=200, check_every_ms=700)
        p.start(0)
        control: list[int] = []
        pongs: list[int] = []
        now = 0
        for _ in range(400):
            now += rng.choice([0, 1, 13, 97, 250, 333, 999, 1000, 1001])
            if rng.random() < 0.3:
                p.subscribe(names(rng.randint(1, 30), rng.randint(0, 500)))
            if rng.random() < 0.1:
                p.unsubscribe(names(rng.randint(1, 10), rng.randint(0, 500)))
            if (not pongs or now - pongs[-1] >= 20_000) and rng.random() < 0.2:
                p.note_sent(now)  # a pong: sent regardless, but counted
                pongs.append(now)
            for req in p.poll(now):
                control.append(now)
                if rng.random() < 0.9:
                    p.on_reply(req.id, [] if req.method == LIST_SUBSCRIPTIONS else None)
            nxt = p.next_at(now)
            assert nxt is None or nxt >= now
        assert len(control) > 50
        assert max_in_window(control) <= rate, seed
        assert max_in_window(sorted(control + pongs)) <= hard, seed


def max_in_window(times: list[int]) -> int:
    """The most sends in any half-open window [t, t + 1000) (it suffices to start windows at sends)."""
    best = 0
    j = 0
    for i, t in enumerate(times):
        while j < len(times) and times[j] < t + 1000:
            j += 1
        best = max(best, j - i)
    return best


def test_next_at_waits_out_the_window() -> None:
    p = Pacer(Venue.SPOT, max_frame_bytes=100)
    p.subscribe(names(30))
    p.poll(0)
    assert p.poll(999) == []
    assert p.next_at(999) == 1000
    assert len(p.poll(1000)) == 3


def test_pending_until_reply_and_confirmed_set() -> None:
    p = Pacer(Venue.FUTURES)
    p.subscribe(["btcusdt@kline_1m", "ethusdt@kline_1m"])
    (req,) = p.poll(0)
    assert req.id in p.pending and not p.idle
    assert p.on_text(b'{"stream":"btcusdt@kline_1m","data":{"e":"kline"}}') is None
    reply = p.on_text(f'{{"result":null,"id":{req.id}}}')
    assert reply is not None and reply.ok and p.idle
    assert p.confirmed == {"btcusdt@kline_1m", "ethusdt@kline_1m"}
    p.unsubscribe(["btcusdt@kline_1m"])
    (req2,) = p.poll(10)
    assert req2.method == UNSUBSCRIBE and req2.params == ("btcusdt@kline_1m",)
    ack(p, req2)
    assert p.confirmed == {"ethusdt@kline_1m"}
    assert p.on_reply(999, None) is None  # unknown id


def test_subscribe_then_unsubscribe_before_sending_cancels() -> None:
    p = Pacer(Venue.SPOT)
    p.subscribe(["btcusdt@trade"])
    p.unsubscribe(["btcusdt@trade"])
    assert p.poll(0) == [] and p.idle
    p.subscribe(["btcusdt@trade"])
    ack(p, p.poll(0)[0])
    p.subscribe(["btcusdt@trade"])  # already there
    assert p.poll(5000) == []


def test_error_reply_both_shapes() -> None:
    p = Pacer(Venue.SPOT)
    p.subscribe(["btcusdt@trade"])
    (req,) = p.poll(0)
    reply = p.on_text(json.dumps({"error": {"code": 2, "msg": "Invalid request: invalid stream"}, "id": req.id}))
    assert reply is not None and not reply.ok and reply.code == 2 and "invalid stream" in reply.msg
    assert "btcusdt@trade" not in p.expected
    p.subscribe(["ethusdt@trade"])
    (req,) = p.poll(1000)
    reply = p.on_text(json.dumps({"code": 1, "msg": "Unknown property", "id": req.id}))
    assert reply is not None and reply.code == 1


def test_timeout_requeues() -> None:
    p = Pacer(Venue.SPOT, reply_timeout_ms=5000)
    p.subscribe(["btcusdt@trade"])
    (req,) = p.poll(0)
    assert p.next_at(1) == 5000
    (again,) = p.poll(5000)
    assert again.params == req.params and again.id > req.id and p.timeouts == 1


def test_list_subscriptions_finds_lost_and_extra() -> None:
    p = Pacer(Venue.SPOT, check_every_ms=60_000)
    p.start(0)
    p.subscribe(["a1usdt@trade", "b1usdt@trade", "c1usdt@trade"])
    ack(p, p.poll(0)[0])
    assert p.poll(59_999) == []
    (chk,) = p.poll(60_000)
    assert chk.method == LIST_SUBSCRIPTIONS and json.loads(chk.payload) == {"method": LIST_SUBSCRIPTIONS, "id": chk.id}
    p.subscribe(["d1usdt@trade"])  # sent after the LIST: must not count as lost
    (late,) = p.poll(60_001)
    reply = p.on_text(json.dumps({"result": ["a1usdt@trade", "zzusdt@trade"], "id": chk.id}))
    assert reply is not None and reply.lost == ("b1usdt@trade", "c1usdt@trade")
    assert reply.extra == ("zzusdt@trade",)
    ack(p, late)
    frames = p.poll(61_000)
    assert [(f.method, set(f.params)) for f in frames] == [
        (UNSUBSCRIBE, {"zzusdt@trade"}),
        (SUBSCRIBE, {"b1usdt@trade", "c1usdt@trade"}),
    ]
    assert p.resubscribed == 2
