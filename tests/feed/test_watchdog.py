from __future__ import annotations

from cryptoscan.clock import ManualClock
from cryptoscan.feed.watchdog import Watchdog
from cryptoscan.venues.binance.spec import Venue


def test_silent_stream_flagged_healthy_one_not() -> None:
    clock = ManualClock(0)
    wd = Watchdog(Venue.SPOT, multiple=3.0, grace_ms=1000, silence_ms=30_000)
    wd.watch("c1", ["btcusdt@kline_1m", "ethusdt@kline_1m"], clock.now_ms())
    assert wd.limit_ms("btcusdt@kline_1m") == 7000  # 3 x 2000 + 1000
    for _ in range(10):
        clock.advance(2.0)
        wd.on_message("c1", "btcusdt@kline_1m", clock.now_ms())  # eth stays silent
        report = wd.check(clock.now_ms())
        if clock.now_ms() <= 7000:
            assert not report
        else:
            assert report.streams == ("ethusdt@kline_1m",) and report.connections == ()


def test_exact_threshold_and_next_deadline() -> None:
    wd = Watchdog(Venue.FUTURES, multiple=3.0, grace_ms=250, silence_ms=10_000)
    wd.watch("c", ["btcusdt@kline_1m"], 0)  # futures kline: 250 ms cadence -> 1000 ms limit
    assert not wd.check(1000)
    assert wd.check(1001).streams == ("btcusdt@kline_1m",)
    assert wd.next_deadline(0) == 1001
    wd.on_message("c", "btcusdt@kline_1m", 900)
    assert wd.next_deadline(1000) == 1901


def test_realtime_streams_unwatched_unless_asked() -> None:
    wd = Watchdog(Venue.SPOT, silence_ms=60_000)
    wd.watch("c", ["btcusdt@trade"], 0)
    assert wd.check(50_000).streams == ()
    wd2 = Watchdog(Venue.SPOT, realtime_idle_ms=20_000, silence_ms=60_000)
    wd2.watch("c", ["btcusdt@trade"], 0)
    assert wd2.check(20_001).streams == ("btcusdt@trade",)


def test_connection_silence_and_restart() -> None:
    wd = Watchdog(Venue.SPOT, silence_ms=30_000)
    wd.watch("a", ["btcusdt@trade"], 0)
    wd.watch("b", ["ethusdt@trade"], 0)
    wd.on_message("b", None, 25_000)  # a raw payload with no stream name still feeds the connection
    assert wd.check(30_001).connections == ("a",)
    wd.restart("a", 30_001)
    assert wd.check(40_000).connections == ()
    wd.forget_connection("a")
    assert wd.check(100_000).connections == ("b",)


def test_message_on_other_connection_does_not_count_for_stream() -> None:
    wd = Watchdog(Venue.SPOT, grace_ms=0)
    wd.watch("old", ["btcusdt@ticker"], 0)
    wd.on_message("new", "btcusdt@ticker", 2500)
    assert wd.check(3001).streams == ("btcusdt@ticker",)
    wd.unwatch(["btcusdt@ticker"])
    assert wd.check(3001).streams == ()
