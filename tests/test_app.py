"""The composition root: config -> FeedSettings, the aggregator against the real sim, graceful stops on signals."""

from __future__ import annotations

import asyncio
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from cryptoscan.app import build_aggregator, feed_settings, run_feed, sim_feed_overrides
from cryptoscan.clock import LiveClock, ScaledClock
from cryptoscan.config import Settings, load_config
from cryptoscan.events import Kline
from cryptoscan.feed.aggregator import BinanceWebSocketAggregator
from cryptoscan.feed.rest import RestError
from cryptoscan.sim.options import SimOptions
from cryptoscan.sim.server import SimServer
from helpers import until
from test_cli import clean_env

SPEED = 60.0

CONFIG = """
exchange:
  url: http://127.0.0.1:9999/
data_aggregator:
  max_workers: 3
  chunk_size: 77
  min_volume_24h: 12345.5
  max_pairs: 42
  min_price_change: 1.5
  klines_buffer_size: 321
  max_reconnections: 4
bot:
  analyze_all_usdt_pairs: false
  trading_pairs: [btcusdt, SOLUSDT]
scanner:
  interval: 5m
"""


def test_every_mapped_key_reaches_feed_settings(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG)
    settings = load_config(path, env={"CRYPTOSCAN_EXCHANGE__API_KEY": "k-123"})
    fs = feed_settings(settings)
    assert fs.exchange_url == "http://127.0.0.1:9999"
    assert (fs.max_workers, fs.chunk_size, fs.max_pairs, fs.klines_buffer_size) == (3, 77, 42, 321)
    assert (fs.min_volume_24h, fs.min_price_change, fs.max_reconnections) == (12345.5, 1.5, 4)
    assert fs.analyze_all_usdt_pairs is False
    assert tuple(fs.trading_pairs) == ("BTCUSDT", "SOLUSDT")
    assert fs.intervals == ("5m",)
    assert isinstance(fs.api_key, SecretStr) and fs.api_key.get_secret_value() == "k-123"
    # A URL given on the command line wins over exchange.url.
    assert feed_settings(settings, "http://127.0.0.1:1").exchange_url == "http://127.0.0.1:1"


def test_defaults_map_to_the_aggregator_defaults() -> None:
    fs = feed_settings(Settings())
    assert fs.exchange_url is None and fs.api_key is None
    assert (fs.max_workers, fs.chunk_size, fs.max_pairs, fs.min_volume_24h) == (4, 200, 600, 1_000_000)
    assert fs.intervals == ("1m",) and tuple(fs.trading_pairs) == ("BTCUSDT", "ETHUSDT")


def test_build_aggregator_applies_config_and_overrides() -> None:
    settings = Settings.model_validate({"data_aggregator": {"chunk_size": 50, "max_pairs": 7}})
    agg = build_aggregator(settings, "http://127.0.0.1:2", history_bars=9, stale_grace_ms=1)
    assert isinstance(agg, BinanceWebSocketAggregator)
    s = agg.settings
    assert (s.chunk_size, s.max_pairs, s.exchange_url, s.history_bars, s.stale_grace_ms) == (
        50, 7, "http://127.0.0.1:2", 9, 1,
    )  # fmt: skip
    assert agg.planner.chunk_size == 50
    with pytest.raises(TypeError, match="no_such_knob"):
        build_aggregator(settings, no_such_knob=1)


def test_sim_margins_scale_with_speed() -> None:
    assert sim_feed_overrides(60, 250) == {"stale_grace_ms": 60_000, "silence_ms": 120_000}
    assert sim_feed_overrides(1) == {"stale_grace_ms": 5_000, "silence_ms": 30_000}  # Binance's own cadence


# --- against the real local exchange --------------------------------------------------------------------------


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    async with SimServer(SimOptions(port=0, speed=SPEED, n_spot=30, n_futures=10, seed=5)) as s:
        yield s


def _small(sim: SimServer) -> BinanceWebSocketAggregator:
    settings = Settings.model_validate(
        {"data_aggregator": {"min_volume_24h": 0, "max_pairs": 8, "chunk_size": 10, "klines_buffer_size": 50}}
    )
    clock = ScaledClock(LiveClock(), SPEED, start_ms=sim.ctx.clock.now_ms())
    return build_aggregator(settings, sim.url, clock, history_bars=20, **sim_feed_overrides(SPEED))


async def test_built_aggregator_reaches_connected_and_stops_gracefully(sim: SimServer) -> None:
    agg = _small(sim)
    closed: list[Kline] = []
    agg.register_kline_callback(lambda k: closed.append(k) if k.closed else None)

    async def body(a: BinanceWebSocketAggregator) -> None:
        await until(lambda: bool(a.connections), 10, "connections opened")
        await until(lambda: all(c.stats.link_state == "CONNECTED" for c in a.connections.values()), 20, "all CONNECTED")
        await until(lambda: len(closed) > 0, 20, "a closed kline delivered")

    status = await run_feed(agg, body=body, duration=60)
    assert status.streaming_pairs == {"spot": 8, "futures": 8}
    assert status.messages > 0 and status.parse_errors == {}
    assert all(c.state == "DISCONNECTED" for c in status.connections)  # every socket closed on stop
    assert all(d.queue_depth == 0 for d in agg.dispatcher.stats())  # consumers drained
    assert sim.ctx.stats.violation_counts() == {}


async def test_sigterm_stops_run_feed_gracefully(sim: SimServer) -> None:
    agg = _small(sim)
    loop = asyncio.get_running_loop()

    async def body(a: BinanceWebSocketAggregator) -> None:
        await until(lambda: sum(c.stats.messages for c in a.connections.values()) > 0, 20, "messages flowing")
        os.kill(os.getpid(), signal.SIGTERM)  # run_feed's handler turns it into a graceful stop
        await asyncio.Event().wait()

    t0 = loop.time()
    status = await run_feed(agg, body=body, duration=60)
    assert loop.time() - t0 < 30
    assert status.messages > 0
    assert all(c.state == "DISCONNECTED" for c in status.connections)
    assert not agg._running
    # The handlers are gone again: the loop's default SIGTERM behaviour is back.
    assert loop.remove_signal_handler(signal.SIGTERM) is False


async def test_a_start_failure_is_raised_after_cleanup() -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    agg = build_aggregator(Settings(), f"http://127.0.0.1:{port}")
    with pytest.raises(RestError, match="exchangeInfo: ConnectError"):
        await run_feed(agg, duration=30)
    assert not agg._running


def _wait_for_line(proc: subprocess.Popen[str], needle: str, timeout: float) -> list[str]:
    """Read stderr lines until one contains ``needle`` (bounded; no sleeping)."""
    assert proc.stderr is not None
    seen: list[str] = []
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stderr, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if sel.select(timeout=deadline - time.monotonic()):
                line = proc.stderr.readline()
                if not line:
                    break
                seen.append(line)
                if needle in line:
                    return seen
    raise AssertionError(f"{needle!r} not seen in {timeout}s; exit {proc.poll()}; stderr: {''.join(seen)[-2000:]}")


def test_sigterm_to_demo_exits_0_promptly_and_cleanly(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "cryptoscan.cli", "demo", "--duration", "60"],
        cwd=tmp_path, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        _wait_for_line(proc, "feed started", timeout=60)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        elapsed = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert proc.returncode == 0, err
    assert elapsed < 10, f"took {elapsed:.1f}s to stop"
    assert "Traceback" not in err and "feed stopped" in err
    assert "cryptoscan demo" in out and "connections:" in out  # the final picture was drawn


# --- alerts wiring ----------------------------------------------------------------------------------------------


def test_alerts_are_built_only_when_enabled_and_listen_to_the_scanner() -> None:
    from cryptoscan.app import build_alerts, build_scanner

    agg = build_aggregator(Settings(), "http://127.0.0.1:9")
    scanner = build_scanner(agg, Settings())
    assert build_alerts(Settings(), scanner) is None and scanner._listeners == []
    on = Settings.model_validate({"alerts": {"enabled": True, "urls": ["json://127.0.0.1:9/hook"], "hold_scans": 3},
                                  "dashboard": {"port": 8123}})  # fmt: skip
    service = build_alerts(on, scanner)
    assert service is not None and scanner._listeners == [service.listener]
    assert service.rules.hold_scans == 3 and service.dashboard_url == "http://127.0.0.1:8123"
    assert service.rules.bar_ms == 60_000  # a closed 1m candle confirms a level (the scanner's interval)
    off = on.model_copy(update={"alerts": on.alerts.model_copy(update={"candle_confirms": False}),
                                "scanner": on.scanner.model_copy(update={"interval": "5m"})})  # fmt: skip
    built = build_alerts(off, scanner)
    assert built is not None and built.rules.bar_ms is None
    five = on.model_copy(update={"scanner": on.scanner.model_copy(update={"interval": "5m"})})
    built = build_alerts(five, scanner)
    assert built is not None and built.rules.bar_ms == 300_000


def test_an_alert_url_apprise_rejects_is_a_one_line_config_error(capsys: pytest.CaptureFixture[str]) -> None:
    from cryptoscan.cli import main

    env = {"CRYPTOSCAN_ALERTS__ENABLED": "true", "CRYPTOSCAN_ALERTS__URLS": '["nosuchscheme://SECRETTOKEN/x"]'}
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        rc = main(["scan", "--exchange-url", "http://127.0.0.1:9", "--duration", "5"])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err, err
    assert err.splitlines()[-1].startswith("config error: alerts.urls[0]")  # after apprise's own (masked) log line
    assert "SECRETTOKEN" not in err
