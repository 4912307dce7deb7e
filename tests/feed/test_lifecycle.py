"""Every (phase, trigger) pair: legal ones land where the table says, illegal ones raise and change nothing."""

from __future__ import annotations

import itertools

import pytest

from cryptoscan.events import LinkState
from cryptoscan.feed.lifecycle import TRANSITIONS, IllegalTransition, Lifecycle, Phase, Trigger

# a path from CONNECTING to each phase
PATHS: dict[Phase, list[Trigger]] = {
    Phase.CONNECTING: [],
    Phase.SUBSCRIBING: [Trigger.OPENED],
    Phase.LIVE: [Trigger.OPENED, Trigger.SUBSCRIBED],
    Phase.STALE: [Trigger.OPENED, Trigger.SUBSCRIBED, Trigger.SILENT],
    Phase.BACKOFF: [Trigger.FAILED],
    Phase.CLOSED: [Trigger.CLOSE],
}


def at(phase: Phase) -> Lifecycle:
    lc = Lifecycle(0)
    for t in PATHS[phase]:
        lc.fire(t, 0)
    assert lc.phase is phase
    return lc


@pytest.mark.parametrize(("phase", "trigger"), list(itertools.product(Phase, Trigger)))
def test_every_pair(phase: Phase, trigger: Trigger) -> None:
    lc = at(phase)
    expected = TRANSITIONS.get((phase, trigger))
    if expected is None:
        with pytest.raises(IllegalTransition):
            lc.fire(trigger, 10)
        assert lc.phase is phase
        assert not lc.can(trigger)
    else:
        tr = lc.fire(trigger, 10)
        assert (tr.old, tr.new, lc.phase, lc.entered_at) == (phase, expected, expected, 10)


def test_closed_is_terminal_and_every_other_phase_can_close() -> None:
    assert not any(p is Phase.CLOSED for p, _ in TRANSITIONS)
    for phase in Phase:
        if phase is not Phase.CLOSED:
            assert TRANSITIONS[(phase, Trigger.CLOSE)] is Phase.CLOSED


def link(lc: Lifecycle) -> LinkState:
    """Read through a call, so the type checker does not pin the property after an assert."""
    return lc.link_state


def test_link_states() -> None:
    lc = Lifecycle(0, max_reconnections=2)
    assert link(lc) is LinkState.RECONNECTING
    lc.fire(Trigger.OPENED, 0)
    tr = lc.fire(Trigger.SUBSCRIBED, 0)
    assert tr.link_changed and tr.link_after is LinkState.CONNECTED
    tr = lc.fire(Trigger.FAILED, 1, throttled=True)
    assert link(lc) is LinkState.THROTTLED and tr.link_before is LinkState.CONNECTED
    lc.fire(Trigger.RETRY, 2)
    assert link(lc) is LinkState.RECONNECTING
    lc.fire(Trigger.FAILED, 3)
    assert lc.failures == 2 and link(lc) is LinkState.RECONNECTING
    lc.fire(Trigger.RETRY, 4)
    tr = lc.fire(Trigger.FAILED, 5)
    assert lc.failures == 3 and tr.link_after is LinkState.DISCONNECTED  # more than max: user told, retry goes on
    tr = lc.fire(Trigger.RETRY, 6)
    assert not tr.link_changed and lc.phase is Phase.CONNECTING
    lc.fire(Trigger.CLOSE, 7)
    assert link(lc) is LinkState.DISCONNECTED


def test_failures_reset_only_after_stable_live() -> None:
    lc = Lifecycle(0, stable_ms=1000)
    for now in (0, 10, 20):  # flapping: live for a moment, then fail
        lc.fire(Trigger.OPENED, now)
        lc.fire(Trigger.SUBSCRIBED, now)
        lc.fire(Trigger.FAILED, now + 5)
        lc.fire(Trigger.RETRY, now + 6)
    assert lc.failures == 3
    lc.fire(Trigger.OPENED, 100)
    lc.fire(Trigger.SUBSCRIBED, 100)
    assert not lc.stable(1099) and lc.stable(1100)
    lc.fire(Trigger.FAILED, 1100)
    assert lc.failures == 1
