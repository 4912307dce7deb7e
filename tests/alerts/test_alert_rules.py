"""Alert rules at every edge: hold count, candle confirmation, cooldown boundary, digest cadence, upgrade,
downgrade and re-arm, absent pairs, many pairs, and the transition table itself. Explicit times, no sleeps."""

from __future__ import annotations

import pytest
from alert_fixtures import T0, row

from cryptoscan.alerts.rules import (
    TRANSITIONS,
    Action,
    AlertRules,
    AlertState,
    Digest,
    Event,
    IllegalTransition,
    SendNow,
    _Pair,
)
from cryptoscan.scanner.result import ScanSnapshot

S = 1_000  # ms
MIN = 60 * S


def scan(rules: AlertRules, t: int, **levels: str) -> list[Action]:
    return rules.on_scan([row(sym, lv) for sym, lv in levels.items()], t)


def sent(actions: list[Action]) -> list[tuple[str, str, str]]:
    return [(a.alert.symbol, a.alert.level, a.alert.kind) for a in actions if isinstance(a, SendNow)]


def digests(actions: list[Action]) -> list[list[str]]:
    return [[al.symbol for al in a.alerts] for a in actions if isinstance(a, Digest)]


def test_a_level_alerts_only_after_holding_hold_scans_consecutive_scans() -> None:
    rules = AlertRules(hold_scans=3)
    assert scan(rules, T0, AUSDT="FUERTE") == []
    assert rules.state("spot", "AUSDT") is AlertState.PENDING
    assert scan(rules, T0 + 30 * S, AUSDT="FUERTE") == []
    assert sent(scan(rules, T0 + 60 * S, AUSDT="FUERTE")) == [("AUSDT", "FUERTE", "new")]
    assert rules.state("spot", "AUSDT") is AlertState.FIRED


def test_a_broken_run_starts_over_and_a_quiet_pair_is_forgotten() -> None:
    rules = AlertRules(hold_scans=2)
    assert scan(rules, T0, AUSDT="FUERTE") == []
    assert scan(rules, T0 + 30 * S, AUSDT="MEDIA") == []
    assert rules.state("spot", "AUSDT") is AlertState.ARMED and rules.tracked == 0
    assert scan(rules, T0 + 60 * S, AUSDT="FUERTE") == []  # one scan again: not held yet
    assert sent(scan(rules, T0 + 90 * S, AUSDT="FUERTE")) == [("AUSDT", "FUERTE", "new")]


def test_hold_scans_one_alerts_on_the_first_scan() -> None:
    assert sent(scan(AlertRules(hold_scans=1), T0, AUSDT="FUERTE")) == [("AUSDT", "FUERTE", "new")]


def test_the_held_level_is_the_lowest_of_the_run() -> None:
    rules = AlertRules(hold_scans=2, digest_s=0)  # digest off: ALTA is sent at once, easy to see
    scan(rules, T0, AUSDT="FUERTE", BUSDT="ALTA")
    out = scan(rules, T0 + 30 * S, AUSDT="ALTA", BUSDT="FUERTE")
    assert sent(out) == [("AUSDT", "ALTA", "new"), ("BUSDT", "ALTA", "new")]  # FUERTE held one scan only


def test_a_closed_candle_confirms_a_level_before_hold_scans() -> None:
    bar = T0 // MIN * MIN  # a bar's open
    rules = AlertRules(hold_scans=10, bar_ms=MIN)
    assert scan(rules, bar + 10 * S, AUSDT="FUERTE") == []
    assert scan(rules, bar + 50 * S, AUSDT="FUERTE") == []  # same bar
    assert sent(scan(rules, bar + MIN + 1 * S, AUSDT="FUERTE")) == [("AUSDT", "FUERTE", "new")]  # the bar closed
    other = AlertRules(hold_scans=10, bar_ms=MIN)
    assert scan(other, bar + MIN - 1, BUSDT="FUERTE") == []
    assert scan(other, bar + MIN, BUSDT="MEDIA") == []  # dropped right at the close: the run is gone
    assert scan(other, bar + 2 * MIN, BUSDT="FUERTE") == []


def test_no_repeat_while_the_pair_stays_high() -> None:
    rules = AlertRules(hold_scans=2, cooldown_s=300)
    fired = [sent(scan(rules, T0 + i * 30 * S, AUSDT="FUERTE")) for i in range(60)]  # 30 minutes
    assert sum(len(f) for f in fired) == 1 and fired[1] == [("AUSDT", "FUERTE", "new")]


def test_cooldown_boundary_re_arms_exactly_at_the_cooldown() -> None:
    rules = AlertRules(hold_scans=2, cooldown_s=300)
    scan(rules, T0 - 30 * S, AUSDT="FUERTE")
    assert sent(scan(rules, T0, AUSDT="FUERTE"))  # fired at T0
    scan(rules, T0 + 60 * S, AUSDT="MEDIA")
    assert rules.state("spot", "AUSDT") is AlertState.COOLDOWN
    scan(rules, T0 + 300 * S - 1, AUSDT="MEDIA")
    assert rules.state("spot", "AUSDT") is AlertState.COOLDOWN  # one ms short
    scan(rules, T0 + 300 * S, AUSDT="MEDIA")
    assert rules.state("spot", "AUSDT") is AlertState.ARMED and rules.tracked == 0  # exactly at: re-armed
    assert scan(rules, T0 + 330 * S, AUSDT="FUERTE") == []
    assert sent(scan(rules, T0 + 360 * S, AUSDT="FUERTE")) == [("AUSDT", "FUERTE", "new")]


def test_back_high_within_the_cooldown_continues_the_episode_without_a_new_alert() -> None:
    rules = AlertRules(hold_scans=2, cooldown_s=300)
    scan(rules, T0 - 30 * S, AUSDT="FUERTE")
    scan(rules, T0, AUSDT="FUERTE")
    scan(rules, T0 + 30 * S, AUSDT="MEDIA")
    for i in range(2, 30):  # back to FUERTE at 60 s and held well past the cooldown
        assert scan(rules, T0 + i * 30 * S, AUSDT="FUERTE") == []
    assert rules.state("spot", "AUSDT") is AlertState.FIRED


def test_after_the_cooldown_a_pair_back_high_is_held_again_before_alerting() -> None:
    rules = AlertRules(hold_scans=2, cooldown_s=300)
    scan(rules, T0 - 30 * S, AUSDT="FUERTE")
    scan(rules, T0, AUSDT="FUERTE")
    scan(rules, T0 + 60 * S, AUSDT="BAJA")
    assert scan(rules, T0 + 301 * S, AUSDT="FUERTE") == []  # first scan after expiry, already high: PENDING
    assert rules.state("spot", "AUSDT") is AlertState.PENDING
    assert sent(scan(rules, T0 + 331 * S, AUSDT="FUERTE")) == [("AUSDT", "FUERTE", "new")]


def test_fired_pair_dropping_after_the_cooldown_re_arms_at_once() -> None:
    rules = AlertRules(hold_scans=1, cooldown_s=300)
    scan(rules, T0, AUSDT="FUERTE")
    scan(rules, T0 + 400 * S, AUSDT="MEDIA")  # FIRED -> COOLDOWN -> ARMED in one scan
    assert rules.state("spot", "AUSDT") is AlertState.ARMED
    assert sent(scan(rules, T0 + 430 * S, AUSDT="FUERTE")) == [("AUSDT", "FUERTE", "new")]


def test_alta_is_digested_and_the_window_closes_digest_s_after_its_first_alert() -> None:
    rules = AlertRules(hold_scans=1, digest_s=120)
    assert scan(rules, T0, AUSDT="ALTA") == []  # window opens at T0
    assert scan(rules, T0 + 70 * S, AUSDT="ALTA", BUSDT="ALTA") == []
    assert rules.tick(T0 + 120 * S - 1) == []
    out = rules.tick(T0 + 120 * S)
    assert digests(out) == [["AUSDT", "BUSDT"]] and rules.pending_digest == ()
    assert rules.tick(T0 + 500 * S) == []  # nothing gathered: nothing sent
    scan(rules, T0 + 200 * S, CUSDT="ALTA")  # a new window opens at 200 s
    assert rules.tick(T0 + 319 * S) == []
    assert digests(rules.tick(T0 + 320 * S)) == [["CUSDT"]]


def test_a_scan_closes_a_due_digest_window_too() -> None:
    rules = AlertRules(hold_scans=1, digest_s=120)
    scan(rules, T0, AUSDT="ALTA")
    out = scan(rules, T0 + 120 * S, AUSDT="ALTA", BUSDT="FUERTE")
    assert sent(out) == [("BUSDT", "FUERTE", "new")] and digests(out) == [["AUSDT"]]


def test_digest_s_zero_sends_alta_at_once_and_flush_empties_the_window() -> None:
    assert sent(scan(AlertRules(hold_scans=1, digest_s=0), T0, AUSDT="ALTA")) == [("AUSDT", "ALTA", "new")]
    rules = AlertRules(hold_scans=1, digest_s=120)
    scan(rules, T0, AUSDT="ALTA")
    assert digests(rules.flush(T0 + 1)) == [["AUSDT"]] and rules.flush(T0 + 2) == []


def test_upgrade_to_fuerte_breaks_the_cooldown_and_replaces_the_digested_alta() -> None:
    rules = AlertRules(hold_scans=2, cooldown_s=300, digest_s=120)
    scan(rules, T0, AUSDT="ALTA")
    assert scan(rules, T0 + 30 * S, AUSDT="FUERTE") == []  # ALTA held: into the digest
    assert [a.symbol for a in rules.pending_digest] == ["AUSDT"]
    out = scan(rules, T0 + 60 * S, AUSDT="FUERTE")  # FUERTE held two scans, within the cooldown
    assert sent(out) == [("AUSDT", "FUERTE", "upgrade")]
    alert = next(a.alert for a in out if isinstance(a, SendNow))
    assert alert.previous == "ALTA" and alert.row.level == "FUERTE"
    assert rules.pending_digest == () and rules.stats["superseded"] == 1
    assert rules.tick(T0 + 130 * S) == []  # the superseded ALTA never goes out
    for i in range(3, 10):  # FUERTE again, or down to ALTA and back: nothing more
        assert scan(rules, T0 + i * 30 * S, AUSDT="FUERTE" if i % 2 else "ALTA") == []


def test_upgrade_after_a_sent_digest_and_from_cooldown() -> None:
    rules = AlertRules(hold_scans=2, cooldown_s=300, digest_s=120)
    scan(rules, T0, AUSDT="ALTA")
    scan(rules, T0 + 30 * S, AUSDT="ALTA")
    assert digests(rules.tick(T0 + 150 * S)) == [["AUSDT"]]
    scan(rules, T0 + 160 * S, AUSDT="MEDIA")
    assert rules.state("spot", "AUSDT") is AlertState.COOLDOWN
    assert scan(rules, T0 + 170 * S, AUSDT="FUERTE") == []  # back high within the cooldown: FIRED, held one
    assert rules.state("spot", "AUSDT") is AlertState.FIRED
    assert sent(scan(rules, T0 + 180 * S, AUSDT="FUERTE")) == [("AUSDT", "FUERTE", "upgrade")]


def test_a_downgrade_sends_nothing() -> None:
    rules = AlertRules(hold_scans=1)
    scan(rules, T0, AUSDT="FUERTE")
    assert scan(rules, T0 + 30 * S, AUSDT="ALTA") == [] and rules.tick(T0 + 600 * S) == []
    assert rules.state("spot", "AUSDT") is AlertState.FIRED


def test_an_absent_pair_counts_as_below_alta() -> None:
    rules = AlertRules(hold_scans=2)
    scan(rules, T0, AUSDT="FUERTE", BUSDT="FUERTE")
    scan(rules, T0 + 30 * S, BUSDT="FUERTE")  # AUSDT gone before it held
    assert rules.state("spot", "AUSDT") is AlertState.ARMED
    rules.on_scan([], T0 + 60 * S)  # BUSDT fired, now gone
    assert rules.state("spot", "BUSDT") is AlertState.COOLDOWN


def test_venues_are_separate_pairs() -> None:
    rules = AlertRules(hold_scans=1)
    out = rules.on_scan([row("AUSDT", "FUERTE"), row("AUSDT", "FUERTE", venue="futures")], T0)
    assert [(a.alert.venue, a.alert.id) for a in out if isinstance(a, SendNow)] == [
        ("spot", f"{T0}-spot-AUSDT-FUERTE"),
        ("futures", f"{T0}-futures-AUSDT-FUERTE"),
    ]


def test_a_snapshot_is_accepted_as_input() -> None:
    snap = ScanSnapshot(ts_ms=T0, interval="1m", tracked=3, eligible=3, counts={"FUERTE": 1, "ALTA": 1, "MEDIA": 1},
                        levels={"FUERTE": [row("AUSDT", "FUERTE")], "ALTA": [row("BUSDT", "ALTA")],
                                "MEDIA": [row("CUSDT", "MEDIA")]})  # fmt: skip
    rules = AlertRules(hold_scans=1, digest_s=0)
    assert sent(rules.on_scan(snap, T0)) == [("AUSDT", "FUERTE", "new"), ("BUSDT", "ALTA", "new")]
    assert rules.tracked == 2  # the MEDIA pair is not kept


def test_many_pairs_each_alert_once_and_memory_empties_after_the_cooldown() -> None:
    rules = AlertRules(hold_scans=2, cooldown_s=300, digest_s=120)
    levels = {f"P{i:03d}USDT": ("FUERTE" if i % 2 else "ALTA") for i in range(500)}
    assert scan(rules, T0, **levels) == []
    out = scan(rules, T0 + 30 * S, **levels)
    assert len(sent(out)) == 250 and rules.tracked == 500
    assert {s for s, lv, _ in sent(out)} == {s for s, lv in levels.items() if lv == "FUERTE"}
    (digest,) = digests(rules.tick(T0 + 150 * S))
    assert len(digest) == 250 and len(set(digest)) == 250
    for t in range(60, 600, 30):  # everything drops out: no more alerts, and the state empties
        assert scan(rules, T0 + t * S) == []
    assert rules.tracked == 0 and rules.stats["sent_now"] == 250 and rules.stats["digested"] == 250


def test_the_transition_table_rejects_illegal_moves() -> None:
    pair = _Pair()
    with pytest.raises(IllegalTransition, match="ARMED on EXPIRE"):
        AlertRules._move(pair, Event.EXPIRE)
    pair.state = AlertState.FIRED
    with pytest.raises(IllegalTransition):
        AlertRules._move(pair, Event.CONFIRM)
    assert all((state, Event.LOW) in TRANSITIONS for state in AlertState)  # any pair may drop out any time
    assert all((state, Event.UPGRADE) not in TRANSITIONS for state in (AlertState.ARMED, AlertState.PENDING))


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        AlertRules(hold_scans=0)
    with pytest.raises(ValueError):
        AlertRules(cooldown_s=-1)
    with pytest.raises(ValueError):
        AlertRules(bar_ms=0)
