"""Session: Binance's control protocol and limits, driven by hand with a market time ``now``."""

from __future__ import annotations

import json

import pytest

from cryptoscan.sim.session import (
    Close,
    IllegalTransition,
    SendPing,
    SendPong,
    SendText,
    Session,
    SessionLimits,
    State,
)
from cryptoscan.venues.binance.spec import Category, Venue

T0 = 1_700_000_000_000
KNOWN = {"btcusdt@trade", "btcusdt@kline_1m", "ethusdt@trade", "btcusdt@bookTicker", "btcusdt@depth5"}


def make(
    venue: Venue = Venue.SPOT,
    category: Category = Category.SPOT,
    streams_limit: int = 1024,
    *,
    combined: bool = False,
    control_frames: bool = True,
) -> tuple[Session, list[tuple[str, str, int]]]:
    seen: list[tuple[str, str, int]] = []
    limits = SessionLimits.for_venue(venue, streams_per_connection=streams_limit, lifetime_ms=86_400_000)
    session = Session(
        venue,
        category,
        limits,
        T0,
        knows=KNOWN.__contains__,
        on_violation=lambda *v: seen.append(v),
        combined=combined,
        control_frames=control_frames,
    )
    return session, seen


def reply(session: Session, request: object, now: int = T0, raw: str | None = None) -> dict[str, object]:
    actions = session.receive_text(raw if raw is not None else json.dumps(request), now)
    assert len(actions) == 1 and isinstance(actions[0], SendText)
    result: dict[str, object] = json.loads(actions[0].text)
    return result


def test_subscribe_list_unsubscribe_with_ids() -> None:
    s, _ = make()
    assert reply(s, {"method": "SUBSCRIBE", "params": ["btcusdt@trade", "ethusdt@trade"], "id": 1}) == {
        "result": None,
        "id": 1,
    }
    assert reply(s, {"method": "LIST_SUBSCRIPTIONS", "id": "abc"}, T0 + 300) == {
        "result": ["btcusdt@trade", "ethusdt@trade"],
        "id": "abc",
    }
    assert reply(s, {"method": "UNSUBSCRIBE", "params": ["btcusdt@trade"], "id": None}, T0 + 600) == {
        "result": None,
        "id": None,
    }
    assert s.subscriptions == ["ethusdt@trade"]


def test_properties() -> None:
    s, _ = make(combined=False)
    assert reply(s, {"method": "GET_PROPERTY", "params": ["combined"], "id": 2})["result"] is False
    assert reply(s, {"method": "SET_PROPERTY", "params": ["combined", True], "id": 3}, T0 + 300) == {
        "result": None,
        "id": 3,
    }
    assert s.combined is True


@pytest.mark.parametrize(
    ("request_obj", "raw", "code", "msg_start"),
    [
        (None, "{not json", 3, "Invalid JSON: expected value at line 1 column"),
        ({"method": "SUBSCRIBE", "params": ["nosuch@trade"], "id": 1}, None, 2, "Invalid request: invalid stream"),
        ({"method": "SUBSCRIBE", "params": [5], "id": 1}, None, 2, "Invalid request: invalid stream"),
        ({"method": "SUBSCRIB", "params": [], "id": 1}, None, 2, "Invalid request: unknown variant `SUBSCRIB`"),
        ({"params": [], "id": 1}, None, 2, "Invalid request: missing field `method`"),
        ({"method": "LIST_SUBSCRIPTIONS", "id": 1.5}, None, 2, "Invalid request: request ID must be"),
        ({"method": "LIST_SUBSCRIPTIONS", "params": ["x"], "id": 1}, None, 2, "Invalid request: too many"),
        ({"method": "GET_PROPERTY", "params": ["colour"], "id": 1}, None, 0, "Unknown property"),
        ({"method": "SET_PROPERTY", "params": ["combined", "yes"], "id": 1}, None, 1, "Invalid value type"),
        ({"method": "SET_PROPERTY", "params": [7, True], "id": 1}, None, 2, "Invalid request: property name"),
    ],
)
def test_error_shapes(request_obj: object, raw: str | None, code: int, msg_start: str) -> None:
    s, _ = make()
    answer = reply(s, request_obj, raw=raw)
    assert set(answer) == {"error", "id"}
    error = answer["error"]
    assert isinstance(error, dict)
    assert error["code"] == code
    assert str(error["msg"]).startswith(msg_start)
    assert s.open


def test_error_echoes_valid_id() -> None:
    s, _ = make()
    assert reply(s, {"method": "SUBSCRIBE", "params": ["nosuch@trade"], "id": 42})["id"] == 42


def test_message_rate_closes_on_the_sixth_spot_message_within_a_second() -> None:
    s, seen = make()
    for i in range(5):
        assert s.receive_ping(b"x", T0 + i * 100) == [SendPong(b"x")]
    actions = s.receive_pong(b"", T0 + 900)
    assert actions and isinstance(actions[-1], Close) and actions[-1].code == 1008
    assert s.state is State.CLOSING
    assert [v[0] for v in seen] == ["message_rate"]


def test_message_rate_window_slides() -> None:
    s, seen = make()
    for i in range(20):  # 4 per second, never 6 within one
        assert s.receive_ping(b"", T0 + i * 250) == [SendPong(b"")]
    assert s.open and not seen


def test_futures_allows_ten_per_second() -> None:
    s, _ = make(Venue.FUTURES, Category.MARKET)
    for i in range(10):
        assert s.receive_ping(b"", T0 + i) == [SendPong(b"")]
    assert isinstance(s.receive_ping(b"", T0 + 10)[-1], Close)


def test_stream_limit() -> None:
    s, seen = make(streams_limit=2)
    assert reply(s, {"method": "SUBSCRIBE", "params": ["btcusdt@trade", "ethusdt@trade"], "id": 1})["result"] is None
    answer = reply(s, {"method": "SUBSCRIBE", "params": ["btcusdt@kline_1m"], "id": 2}, T0 + 500)
    assert answer["error"] == {"code": 2, "msg": "Invalid request: too many streams; current limit is 2"}
    assert s.subscriptions == ["btcusdt@trade", "ethusdt@trade"]
    assert [v[0] for v in seen] == ["streams_per_connection"]


def test_ping_schedule_and_pong_deadline_spot() -> None:
    s, seen = make()
    assert s.tick(T0 + 19_999) == []
    assert s.tick(T0 + 20_000) == [SendPing(b"1")]
    assert s.tick(T0 + 40_000) == [SendPing(b"2")]
    assert s.receive_pong(b"2", T0 + 41_000) == []  # answers ping 2 and the older ping 1
    assert s.tick(T0 + 60_000) == [SendPing(b"3")]
    assert s.tick(T0 + 79_999) == []  # ping 1 (sent at 20 s) would have timed out here: it was answered
    assert s.tick(T0 + 80_000) == [SendPing(b"4")]
    assert s.tick(T0 + 119_999) == [SendPing(b"5")]
    assert s.open
    actions = s.tick(T0 + 120_000)  # ping 3 (sent at 60 s) unanswered for 60 s
    assert actions == [Close(1008, "Pong timeout")]
    assert [v[0] for v in seen] == ["pong_timeout"]


def test_pong_answers_keep_the_connection() -> None:
    s, seen = make()
    now = T0
    for _ in range(20):
        now += 20_000
        actions = s.tick(now)
        for a in actions:
            assert isinstance(a, SendPing)
            s.receive_pong(a.payload, now + 1)
    assert s.open and not seen


def test_futures_ping_every_three_minutes_timeout_ten() -> None:
    s, seen = make(Venue.FUTURES, Category.PUBLIC)
    assert s.tick(T0 + 179_999) == []
    assert s.tick(T0 + 180_000) == [SendPing(b"1")]
    assert s.tick(T0 + 779_999) == [SendPing(b"2")]  # one ping per tick; ping 1 is 599.999 s old
    assert s.open
    assert s.tick(T0 + 780_000) == [Close(1008, "Pong timeout")]
    assert seen[0][0] == "pong_timeout"


def test_stall_suppresses_pings() -> None:
    s, _ = make()
    assert s.tick(T0 + 20_000, pings=False) == []
    assert s.tick(T0 + 200_000, pings=False) == []
    assert s.open


def test_lifetime_sends_server_shutdown_then_closes() -> None:
    limits = SessionLimits.for_venue(Venue.SPOT, lifetime_ms=10_000)
    s = Session(Venue.SPOT, Category.SPOT, limits, T0, knows=KNOWN.__contains__, combined=True)
    assert s.tick(T0 + 9_999) == []
    actions = s.tick(T0 + 10_000)
    assert isinstance(actions[0], SendText)
    assert json.loads(actions[0].text) == {
        "stream": "!serverShutdown",
        "data": {"e": "serverShutdown", "E": T0 + 10_000},
    }
    assert actions[1] == Close(1001, "Connection lifetime reached")
    assert s.tick(T0 + 20_000) == []


def test_raw_shutdown_is_bare_event() -> None:
    s, _ = make()
    actions = s.shutdown(T0 + 5)
    assert isinstance(actions[0], SendText)
    assert json.loads(actions[0].text) == {"e": "serverShutdown", "E": T0 + 5}


def test_futures_routing_acknowledges_but_does_not_deliver() -> None:
    s, _ = make(Venue.FUTURES, Category.PUBLIC)
    assert reply(s, {"method": "SUBSCRIBE", "params": ["btcusdt@kline_1m", "btcusdt@bookTicker"], "id": 1}) == {
        "result": None,
        "id": 1,
    }
    assert s.subscriptions == ["btcusdt@kline_1m", "btcusdt@bookTicker"]
    assert s.delivered() == ["btcusdt@bookTicker"]


def test_lifecycle_transitions_are_checked() -> None:
    s, _ = make()
    s.transport_closed()
    assert s.state is State.CLOSED
    assert s.receive_text("{}", T0) == []
    with pytest.raises(IllegalTransition):
        s._move(State.OPEN)


def test_private_session_ignores_control_frames_but_counts_them() -> None:
    s, seen = make(Venue.FUTURES, Category.PRIVATE, control_frames=False)
    for i in range(10):
        assert s.receive_text('{"method":"LIST_SUBSCRIPTIONS","id":1}', T0 + i) == []
    assert isinstance(s.receive_text("{}", T0 + 10)[-1], Close)
    assert seen[0][0] == "message_rate"
