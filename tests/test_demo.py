"""The demo's sans-I/O state (rows from miniTicker payloads) and, over the real sim, a whole run."""

from __future__ import annotations

import io
from typing import Any

import msgspec
import pytest
from rich.console import Console

from cryptoscan.demo import Board, DemoStats, Quote, RateMeter, Row, movers, render, usdt_symbols, ws_base
from cryptoscan.venues.binance.schemas import MiniTickerMsg

TICKERS = msgspec.json.Decoder(list[MiniTickerMsg])


def mini(symbol: str, close: str, quote_volume: str = "1000000", event_time: int = 1_700_000_000_000) -> dict[str, Any]:
    """A 24hrMiniTicker payload as Binance sends it (wire names)."""
    return {"e": "24hrMiniTicker", "E": event_time, "s": symbol, "c": close, "o": close, "h": close,
            "l": close, "v": "10", "q": quote_volume}  # fmt: skip


def frame(*payloads: dict[str, Any]) -> list[MiniTickerMsg]:
    """Decode a ``!miniTicker@arr`` payload exactly as the demo does."""
    return TICKERS.decode(msgspec.json.encode(list(payloads)))


def test_rows_from_payloads() -> None:
    board = Board()
    assert board.update(frame(mini("BTCUSDT", "100"), mini("ETHUSDT", "50"), mini("ETHBTC", "0.05"))) == 2
    used = board.update(
        frame(
            mini("BTCUSDT", "110", "2500000", event_time=1_700_000_001_000),
            mini("ETHUSDT", "45"),
            mini("SOLUSDT", "20"),
        )
    )
    assert used == 3
    assert board.market_ms == 1_700_000_001_000
    gainers, losers = board.rows(15)
    assert gainers == [Row("BTCUSDT", pytest.approx(10.0), 110.0, 2_500_000.0)]  # type: ignore[arg-type]
    assert losers == [Row("ETHUSDT", pytest.approx(-10.0), 45.0, 1_000_000.0)]  # type: ignore[arg-type]
    assert "ETHBTC" not in board.quotes  # not a USDT pair
    assert board.quotes["SOLUSDT"].first == 20.0  # first seen now: 0 %, in neither table


def test_allowed_symbols_filter_and_bad_numbers() -> None:
    board = Board(allowed=frozenset({"BTCUSDT"}))
    assert board.update(frame(mini("BTCUSDT", "1"), mini("ETHUSDT", "2"), mini("BTCUSDT", "not-a-number"))) == 1
    assert list(board.quotes) == ["BTCUSDT"]


def test_movers_orders_and_limits() -> None:
    quotes = {f"S{i}USDT": Quote(first=100.0, price=100.0 + i - 10, quote_volume=1.0) for i in range(21)}
    gainers, losers = movers(quotes, 3)
    assert [r.symbol for r in gainers] == ["S20USDT", "S19USDT", "S18USDT"]
    assert [r.symbol for r in losers] == ["S0USDT", "S1USDT", "S2USDT"]
    assert gainers[0].change_pct == pytest.approx(10.0) and losers[0].change_pct == pytest.approx(-10.0)
    few_g, few_l = movers({"AUSDT": Quote(1.0, 2.0, 0.0)}, 15)
    assert [r.symbol for r in few_g] == ["AUSDT"] and few_l == []


def test_rate_meter_over_a_sliding_window() -> None:
    meter = RateMeter(window_s=5.0)
    assert meter.rate(0.0) == 0.0
    for i in range(50):  # 10 per second for 5 s
        meter.add(i * 0.1, 2)
    assert meter.rate(4.9) == pytest.approx(100 / 4.9, rel=0.01)
    assert meter.rate(20.0) == 0.0  # everything aged out


def test_usdt_symbols_and_ws_base() -> None:
    info = {
        "symbols": [
            {"symbol": "BTCUSDT", "quoteAsset": "USDT", "status": "TRADING"},
            {"symbol": "ETHBTC", "quoteAsset": "BTC", "status": "TRADING"},
            {"symbol": "OLDUSDT", "quoteAsset": "USDT", "status": "BREAK"},
            {"symbol": "BTCUPUSDT", "baseAsset": "BTCUP", "quoteAsset": "USDT", "status": "TRADING"},
            {"symbol": "JUPUSDT", "baseAsset": "JUP", "quoteAsset": "USDT", "status": "TRADING"},
        ]
    }
    for s, base in zip(info["symbols"], ("BTC", "ETH", "OLD", "BTCUP", "JUP"), strict=True):
        s["baseAsset"] = base
    assert usdt_symbols(info) == frozenset({"BTCUSDT", "JUPUSDT"})  # BTCUP is a leveraged token, JUP is not
    assert ws_base("http://127.0.0.1:8123") == "ws://127.0.0.1:8123"
    assert ws_base("https://example.org/") == "wss://example.org"


def test_render_shows_both_tables() -> None:
    board = Board()
    board.update(frame(mini("BTCUSDT", "100"), mini("DOGEUSDT", "0.1")))
    board.update(frame(mini("BTCUSDT", "103.5", "12345678"), mini("DOGEUSDT", "0.09")))
    console = Console(file=io.StringIO(), width=160, color_system=None)
    console.print(render(board, DemoStats(url="http://x", usdt_pairs=2, speed=60), 2.0, 800.0, 15))
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "top 15 gainers" in text and "top 15 losers" in text
    assert "BTCUSDT" in text and "+3.50" in text and "12.35M" in text
    assert "DOGEUSDT" in text and "-10.00" in text
    assert "2 USDT spot pairs listed" in text and "speed 60x" in text


# --- over the real local exchange -------------------------------------------------------------------------


async def test_watch_over_the_real_sim_ends_cleanly_with_rows() -> None:
    from cryptoscan.demo import watch
    from cryptoscan.sim.options import SimOptions
    from cryptoscan.sim.server import SimServer

    console = Console(file=io.StringIO(), width=160, color_system=None)
    async with SimServer(SimOptions(speed=60, seed=7, n_spot=40, n_futures=5)) as sim:
        board, stats = await watch(sim.url, duration=2.0, top=5, console=console, speed=60)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert stats.frames > 0 and stats.bad_frames == 0 and stats.reconnects == 0
    assert 30 <= stats.usdt_pairs < 60  # about the 40 asked for; leveraged tokens and other quotes left out
    assert len(board.quotes) >= 30 and all(s.endswith("USDT") for s in board.quotes)
    assert board.market_ms > 0
    gainers, losers = board.rows(5)
    assert gainers or losers  # prices moved over ~2 market minutes
    assert "top 5 gainers" in text and "top 5 losers" in text
    shown = [r.symbol for r in gainers + losers]
    assert all(symbol in text for symbol in shown)


def test_demo_command_runs_for_duration_and_exits_0(tmp_path: Any) -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("CRYPTOSCAN_")}
    env["COLUMNS"] = "160"
    proc = subprocess.run(
        [sys.executable, "-m", "cryptoscan.cli", "demo", "--duration", "2", "--top", "3"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=90,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "top 3 gainers" in proc.stdout and "USDT spot pairs listed" in proc.stdout
    assert sum(1 for line in proc.stdout.splitlines() if "USDT" in line and "│" in line) >= 1
