"""Delivery for real on loopback: an SMTP server receives the email, an HTTP server the JSON webhook and a
Discord-shaped webhook (apprise's own Discord plugin, endpoint moved to loopback); failing endpoints are
retried and counted; a dead channel never delays the others; queues are bounded; secrets stay masked."""

from __future__ import annotations

from collections.abc import AsyncIterator
from email import message_from_bytes
from email.message import Message as EmailMessage

import pytest
from alert_fixtures import T0, HttpReceiver, SmtpReceiver, register_loopback_discord, row
from pydantic import SecretStr

from cryptoscan.alerts.delivery import AlertDispatcher, Notification
from cryptoscan.alerts.message import alert_message
from cryptoscan.alerts.records import DeliveryRecord, Record, RecordLog
from cryptoscan.alerts.rules import Alert
from cryptoscan.feed.backoff import BackoffPolicy
from helpers import until

FAST = BackoffPolicy(initial_ms=20, factor=2.0, max_ms=100, jitter=0.0)
SLOW = BackoffPolicy(initial_ms=5_000, factor=2.0, max_ms=10_000, jitter=0.0)
DASH = "http://127.0.0.1:8000"


@pytest.fixture
async def http() -> AsyncIterator[HttpReceiver]:
    receiver = await HttpReceiver().start()
    yield receiver
    await receiver.stop()


@pytest.fixture
async def smtp() -> AsyncIterator[SmtpReceiver]:
    receiver = await SmtpReceiver().start()
    yield receiver
    await receiver.stop()


def note(symbol: str = "SOLUSDT", n: int = 1) -> Notification:
    r = row(symbol, "FUERTE", price=142.35, momentum=88.0)
    alert = Alert(id=f"{T0 + n}-spot-{symbol}-FUERTE", ts_ms=T0 + n, venue="spot", symbol=symbol, level="FUERTE",
                  kind="new", previous=None, row=r)  # fmt: skip
    msg = alert_message(alert, DASH)
    return Notification(id=alert.id, ts_ms=alert.ts_ms, title=msg.title, text=msg.text, markdown=msg.markdown)


def final(log: RecordLog, channel_index: int) -> list[DeliveryRecord]:
    return [r for r in log.deliveries() if r.channel.startswith(f"{channel_index}:")]


def email_text(raw: bytes | str) -> tuple[EmailMessage, str]:
    mail = message_from_bytes(raw if isinstance(raw, bytes) else raw.encode())
    parts = [p.get_payload(decode=True) for p in mail.walk() if not p.is_multipart()]
    return mail, "\n".join(p.decode() for p in parts if isinstance(p, bytes))


async def test_email_json_and_discord_webhooks_receive_the_alert(http: HttpReceiver, smtp: SmtpReceiver) -> None:
    register_loopback_discord(f"http://127.0.0.1:{http.port}")
    token = "Tok3n-s3cr3t-abcdefghijklmnopqrstuvwxyz"
    urls = [smtp.url(), http.url("json", "/hook"), f"discordlo://112233445566/{token}"]
    dispatcher = AlertDispatcher(urls, rate_per_min=0, retries=0)
    await dispatcher.start()
    n = note()
    dispatcher.submit(n)
    await until(lambda: len(dispatcher.log.deliveries()) == 3, limit_s=20, what="three deliveries")
    await dispatcher.stop()

    assert all(r.ok and r.attempts == 1 and r.error is None for r in dispatcher.log.deliveries())
    (envelope,) = smtp.messages
    assert envelope.rcpt_tos == ["trader@example.com"] and envelope.mail_from == "alerts@cryptoscan.test"
    mail, body = email_text(envelope.original_content or b"")
    assert mail["Subject"] == n.title
    assert "SOLUSDT" in body and f"{DASH}/pairs/spot/SOLUSDT" in body and "142.35" in body

    (hook,) = http.at("/hook")
    assert hook.method == "POST" and hook.json()["title"] == n.title and hook.json()["message"] == n.markdown

    (discord,) = http.at(f"/api/webhooks/112233445566/{token}")
    payload = discord.json()  # Discord's webhook shape: the text in "content"
    assert payload["content"].startswith(n.title) and n.markdown in payload["content"] and payload["tts"] is False
    names = [ch.name for ch in dispatcher.channels]
    assert names == ["0:mailto://***", "1:json://***", "2:discordlo://***"]  # masked: no token, host or path
    assert token not in repr(dispatcher.log.all())


async def test_format_text_in_the_url_sends_the_plain_text_body(http: HttpReceiver) -> None:
    dispatcher = AlertDispatcher([http.url("json", "/plain") + "?format=text"], rate_per_min=0)
    await dispatcher.start()
    n = note()
    dispatcher.submit(n)
    await until(lambda: len(dispatcher.log.deliveries()) == 1, what="delivery")
    await dispatcher.stop()
    assert http.at("/plain")[0].json()["message"] == n.text


async def test_a_failing_endpoint_is_retried_and_counted(http: HttpReceiver) -> None:
    http.script("/flaky", [500, 500, 200])
    dispatcher = AlertDispatcher([http.url("json", "/flaky")], rate_per_min=0, retries=3, backoff=FAST)
    await dispatcher.start()
    dispatcher.submit(note())
    await until(lambda: len(dispatcher.log.deliveries()) == 1, what="delivery")
    await dispatcher.stop()
    (record,) = dispatcher.log.deliveries()
    assert record.ok and record.attempts == 3 and len(http.at("/flaky")) == 3
    stats = dispatcher.channels[0].stats
    assert (stats.sent, stats.attempts, stats.retries, stats.failed) == (1, 3, 2, 0)


async def test_retries_run_out_and_the_failure_is_recorded(http: HttpReceiver) -> None:
    http.script("/down", [500] * 10)
    dispatcher = AlertDispatcher([http.url("json", "/down")], rate_per_min=0, retries=2, backoff=FAST)
    await dispatcher.start()
    dispatcher.submit(note())
    await until(lambda: len(dispatcher.log.deliveries()) == 1, what="the final outcome")
    await dispatcher.stop()
    (record,) = dispatcher.log.deliveries()
    assert not record.ok and record.attempts == 3 and record.error is not None and "500" in record.error
    assert dispatcher.log.counts["failed"] == 1 and dispatcher.channels[0].stats.failed == 1


async def test_a_hung_channel_does_not_delay_the_others(http: HttpReceiver, smtp: SmtpReceiver) -> None:
    http.hang("/dead")
    urls = [http.url("json", "/dead") + "?rto=30", http.url("json", "/live"), smtp.url()]  # rto: apprise's read timeout
    dispatcher = AlertDispatcher(urls, rate_per_min=0, retries=3, timeout_s=60, backoff=FAST)
    await dispatcher.start()
    dispatcher.submit(note("AUSDT", 1))
    dispatcher.submit(note("BUSDT", 2))
    await until(lambda: len(http.at("/live")) == 2 and len(smtp.messages) == 2, what="the healthy channels")
    await until(lambda: len(final(dispatcher.log, 1)) == 2 and len(final(dispatcher.log, 2)) == 2, what="records")
    assert all(r.ok for r in final(dispatcher.log, 1) + final(dispatcher.log, 2))
    # meanwhile the dead channel is still on its first message, first attempt, with nothing recorded
    assert len(http.at("/dead")) == 1 and final(dispatcher.log, 0) == []
    assert dispatcher.channels[0].stats.attempts == 1 and dispatcher.channels[0].queue.qsize() == 1
    await dispatcher.stop(drain_s=0)
    stopped, unsent = final(dispatcher.log, 0)
    assert (stopped.ok, stopped.attempts, stopped.error) == (False, 1, "stopped before delivery")
    assert (unsent.ok, unsent.attempts) == (False, 0) and unsent.alert_id == note("BUSDT", 2).id


async def test_a_refusing_channel_retries_while_the_others_deliver(http: HttpReceiver) -> None:
    refused = "json://127.0.0.1:1/nobody"  # port 1: connection refused
    dispatcher = AlertDispatcher([refused, http.url("json", "/live")], rate_per_min=0, retries=5, backoff=SLOW)
    await dispatcher.start()
    for i in range(3):
        dispatcher.submit(note(f"P{i}USDT", i))
    await until(lambda: len(final(dispatcher.log, 1)) == 3, what="the healthy channel")
    dead = dispatcher.channels[0]
    await until(lambda: dead.stats.attempts >= 1, what="the first failed attempt")
    assert final(dispatcher.log, 0) == [] and dead.stats.retries == 1  # waiting out its first backoff
    await dispatcher.stop(drain_s=0)
    records = final(dispatcher.log, 0)
    assert [r.attempts for r in records] == [1, 0, 0] and not any(r.ok for r in records)
    assert (dead.stats.failed, dead.stats.dropped) == (1, 2)


async def test_a_full_queue_drops_the_oldest_waiting_message(http: HttpReceiver) -> None:
    http.hang("/slow")
    dispatcher = AlertDispatcher([http.url("json", "/slow") + "?rto=30"], rate_per_min=0, queue_size=1, timeout_s=60)
    await dispatcher.start()
    dispatcher.submit(note("AUSDT", 1))
    await until(lambda: len(http.at("/slow")) == 1, what="the first message in flight")
    dispatcher.submit(note("BUSDT", 2))
    dispatcher.submit(note("CUSDT", 3))  # the queue holds one: BUSDT goes
    (dropped,) = dispatcher.log.deliveries()
    assert dropped.alert_id == note("BUSDT", 2).id and dropped.attempts == 0 and "queue full" in (dropped.error or "")
    assert dispatcher.channels[0].stats.dropped == 1
    await dispatcher.stop(drain_s=0)
    expected = [note("BUSDT", 2).id, note("AUSDT", 1).id, note("CUSDT", 3).id]  # dropped, in flight, queued
    assert [r.alert_id for r in dispatcher.log.deliveries()] == expected


async def test_the_rate_limit_spaces_a_burst(http: HttpReceiver) -> None:
    dispatcher = AlertDispatcher([http.url("json", "/rl")], rate_per_min=300, burst=1)  # one per 0.2 s
    await dispatcher.start()
    for i in range(4):
        dispatcher.submit(note(f"P{i}USDT", i))
    await until(lambda: len(dispatcher.log.deliveries()) == 4, what="four deliveries")
    await dispatcher.stop()
    times = [r.at for r in http.at("/rl")]
    assert times[3] - times[0] >= 0.55  # three gaps of 0.2 s (minus scheduling slack)


async def test_stop_drains_what_is_queued(http: HttpReceiver) -> None:
    dispatcher = AlertDispatcher([http.url("json", "/drain")], rate_per_min=0)
    await dispatcher.start()
    for i in range(3):
        dispatcher.submit(note(f"P{i}USDT", i))
    await dispatcher.stop(drain_s=10)
    assert [r.ok for r in dispatcher.log.deliveries()] == [True, True, True] and len(http.at("/drain")) == 3
    dispatcher.submit(note("LATEUSDT", 9))  # after stop: recorded, never sent
    assert dispatcher.log.deliveries()[-1].error == "not sent: the dispatcher is stopped"


async def test_every_record_reaches_the_subscriber_whose_errors_are_contained(http: HttpReceiver) -> None:
    seen: list[Record] = []

    def subscriber(record: Record) -> None:
        seen.append(record)
        raise RuntimeError("subscriber bug")

    log = RecordLog(maxlen=2, on_record=subscriber)
    dispatcher = AlertDispatcher([http.url("json", "/a"), http.url("json", "/b")], rate_per_min=0, log=log)
    await dispatcher.start()
    for i in range(2):
        dispatcher.submit(note(f"P{i}USDT", i))
    await until(lambda: len(seen) == 4, what="four records")
    await dispatcher.stop()
    assert all(isinstance(r, DeliveryRecord) and r.ok for r in seen)
    assert len(log) == 2 and log.counts["delivered"] == 4 and log.counts["subscriber_errors"] == 4


def test_bad_urls_are_refused_without_echoing_secrets() -> None:
    with pytest.raises(ValueError, match=r"alerts.urls\[1\]: not a usable apprise URL \(nosuchservice://\*\*\*\)"):
        AlertDispatcher([SecretStr("json://127.0.0.1:9/x"), SecretStr("nosuchservice://hunter2/secret")])
    ok = AlertDispatcher([SecretStr("tgram://123456789:AAHsecretTOKENsecretTOKENsecret/12345")])
    assert ok.channels[0].name == "0:tgram://***" and "secret" not in repr(ok.stats)


async def test_an_attempt_that_outlives_timeout_s_is_abandoned_and_counted(http: HttpReceiver) -> None:
    http.hang("/hung")
    url = http.url("json", "/hung") + "?rto=30"
    dispatcher = AlertDispatcher([url], rate_per_min=0, retries=1, timeout_s=0.2, backoff=FAST)
    await dispatcher.start()
    dispatcher.submit(note())
    await until(lambda: len(dispatcher.log.deliveries()) == 1, what="the final outcome")
    await dispatcher.stop()
    (record,) = dispatcher.log.deliveries()
    assert not record.ok and record.attempts == 2 and record.error == "timeout: no answer within 0.2 s"
    assert dispatcher.channels[0].stats.timeouts == 2
    assert len(http.at("/hung")) == 1  # the retry waited behind the hung send in the channel's own thread
