"""The service on scan results: every ALTA+ row in, FUERTE out at once, ALTA as a digest on the tick, every
alert recorded with its delivery; a real JSON webhook on loopback receives both."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from alert_fixtures import T0, HttpReceiver, scan_result

from cryptoscan.alerts.delivery import AlertDispatcher
from cryptoscan.alerts.rules import AlertRules
from cryptoscan.alerts.service import AlertService, alert_rows
from cryptoscan.clock import ManualClock
from cryptoscan.scanner.levels import Level
from helpers import until

PAIRS = [("spot", "MEHUSDT", Level.MEDIA, 55.0), ("futures", "PUMPUSDT", Level.FUERTE, 92.0),
         ("spot", "RISEUSDT", Level.ALTA, 74.0), ("spot", "LOWUSDT", Level.BAJA, 31.0)]  # fmt: skip


@pytest.fixture
async def http() -> AsyncIterator[HttpReceiver]:
    receiver = await HttpReceiver().start()
    yield receiver
    await receiver.stop()


def test_alert_rows_are_every_pair_at_alta_or_higher_with_its_rank() -> None:
    rows = alert_rows(scan_result(PAIRS))
    assert [(r.symbol, r.level, r.rank) for r in rows] == [("PUMPUSDT", "FUERTE", 1), ("RISEUSDT", "ALTA", 2)]
    assert rows[0].venue == "futures" and rows[0].momentum == 92.0 and set(rows[0].components) >= {"rsi", "macd"}
    assert [r.symbol for r in alert_rows(scan_result(PAIRS), Level.MEDIA)][-1] == "MEHUSDT"


async def test_fuerte_now_alta_in_the_digest_both_delivered_and_recorded(http: HttpReceiver) -> None:
    clock = ManualClock(T0)
    dispatcher = AlertDispatcher([http.url("json", "/hook")], rate_per_min=0)
    service = AlertService(AlertRules(hold_scans=2, digest_s=120), dispatcher, clock=clock,
                           dashboard_url="http://dash", tick_s=3600)  # fmt: skip
    await service.start()
    service.listener(scan_result(PAIRS, T0))
    assert service.notifications == 0  # held one scan only
    clock.advance(30)
    service.listener(scan_result(PAIRS, clock.now_ms()))
    await until(lambda: len(http.at("/hook")) == 1, what="the FUERTE alert")
    first = http.at("/hook")[0].json()
    assert (
        first["title"].startswith("FUERTE PUMPUSDT (futures)")
        and "http://dash/pairs/futures/PUMPUSDT" in first["message"]
    )
    clock.advance(119)
    service.tick()
    assert service.notifications == 1  # the digest window is still open
    clock.advance(1)
    service.tick()
    await until(lambda: len(http.at("/hook")) == 2, what="the ALTA digest")
    assert http.at("/hook")[1].json()["title"] == "ALTA: 1 pair (RISEUSDT)"
    await service.stop()

    alerts = service.log.alerts()
    assert [(a.symbol, a.level, a.delivery) for a in alerts] == [
        ("PUMPUSDT", "FUERTE", "now"),
        ("RISEUSDT", "ALTA", "digest"),
    ]
    assert alerts[1].notification_id.startswith("digest-") and "RISEUSDT (spot) is ALTA" in alerts[1].message
    deliveries = service.log.deliveries()
    assert [d.alert_id for d in deliveries] == [alerts[0].alert_id, alerts[1].notification_id]
    assert all(d.ok and d.attempts == 1 for d in deliveries)


async def test_the_tick_task_closes_the_digest_and_stop_flushes_a_gathered_one(http: HttpReceiver) -> None:
    clock = ManualClock(T0)
    service = AlertService(AlertRules(hold_scans=1, digest_s=120), AlertDispatcher([http.url("json", "/d")]),
                           clock=clock, tick_s=0.01)  # fmt: skip
    await service.start()
    service.listener(scan_result([("spot", "AUSDT", Level.ALTA, 72.0)], T0))
    clock.advance(120)
    await until(lambda: len(http.at("/d")) == 1, what="the digest from the tick task")
    service.listener(scan_result([("spot", "BUSDT", Level.ALTA, 72.0)], clock.now_ms()))
    assert len(service.rules.pending_digest) == 1
    await service.stop()  # sends the gathered digest and drains it
    assert [r.json()["title"] for r in http.at("/d")] == ["ALTA: 1 pair (AUSDT)", "ALTA: 1 pair (BUSDT)"]
    assert len(service.log.deliveries()) == 2


async def test_without_channels_alerts_are_still_recorded() -> None:
    service = AlertService(AlertRules(hold_scans=1), AlertDispatcher([]), clock=ManualClock(T0))
    await service.start()
    service.listener(scan_result(PAIRS, T0))
    await service.stop()
    assert [a.symbol for a in service.log.alerts()] == ["PUMPUSDT", "RISEUSDT"] and service.log.deliveries() == []
