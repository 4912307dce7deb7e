"""The demo's pure view (movers from a market snapshot, the status line, the screen) and, over the real sim and
the real aggregator, a whole run in-process and as a command."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from cryptoscan.demo import RateMeter, Row, kline_movers, market_ms, rank, render, run_demo, status_line, ticker_movers
from cryptoscan.events import Kline, MiniTicker
from cryptoscan.feed.status import ConnectionReport, FeedStatus
from cryptoscan.market.snapshot import MarketSnapshot
from cryptoscan.market.state import MarketState
from cryptoscan.sim.options import SimOptions
from test_cli import clean_env

T0 = 1_700_000_000_000
MIN = 60_000


def kline(symbol: str, i: int, open_: float, close: float, venue: str = "spot", quote_volume: float = 1000.0) -> Kline:
    t = T0 + i * MIN
    hi, lo = max(open_, close), min(open_, close)
    return Kline(venue, symbol, "1m", t, t + MIN - 1, open_, hi, lo, close, 1.0, quote_volume, 1, 0.5, 0.5, True,
                 i, i, t + MIN, t + MIN)  # fmt: skip


def mini(symbol: str, open_: float, close: float, venue: str = "spot", ts: int = T0) -> MiniTicker:
    return MiniTicker(venue, symbol, close, open_, close, close, 10.0, 5e6, ts, ts)


def snapshots(*events: Kline | MiniTicker) -> dict[str, MarketSnapshot]:
    states = {v: MarketState(v, ("1m",)) for v in ("spot", "futures")}
    for ev in events:
        states[ev.venue].apply(ev)
    return {v: s.snapshot() for v, s in states.items()}


def status(**kw: object) -> FeedStatus:
    base: dict[str, object] = dict(
        now_ms=T0, uptime_s=10.0, active_connections=2, streaming_pairs={"spot": 12, "futures": 5},
        connections=(
            ConnectionReport("s0", "spot", "spot", "CONNECTED", "LIVE", 10, 100, 0, T0),
            ConnectionReport("s1", "spot", "spot", "CONNECTED", "LIVE", 3, 50, 1, T0),
            ConnectionReport("f0", "futures", "market", "RECONNECTING", "BACKOFF", 6, 20, 2, T0),
        ),
        messages=170, messages_per_s=17.0, lag_ms_p50=12.0, lag_ms_p99=340.0, reconnects=3, duplicate_klines=0,
        agg_trade_gaps=0, open_kline_holes=0, backfilled_klines=42, backfill_requests=2, parse_errors={},
        dropped=7, consumer_errors=0,
    )  # fmt: skip
    base.update(kw)
    return FeedStatus(**base)  # type: ignore[arg-type]


def test_kline_movers_use_the_last_n_closed_minutes() -> None:
    # BTC: 100 -> 90 (old bars), then 90 -> 99 over the last three minutes: +10 % over 3 min, -1 % over 6.
    btc = [kline("BTCUSDT", i, o, c, quote_volume=10.0 * (i + 1)) for i, (o, c) in
           enumerate([(100, 98), (98, 95), (95, 90), (90, 93), (93, 96), (96, 99)])]  # fmt: skip
    eth = [kline("ETHUSDT", i, 50, 50 - i, venue="futures") for i in range(6)]
    snaps = snapshots(*btc, *eth, mini("BTCUSDT", 80, 99.5))
    rows = {(r.venue, r.symbol): r for r in kline_movers(snaps, 3)}
    assert rows[("spot", "BTCUSDT")].change_pct == pytest.approx(10.0)
    assert rows[("spot", "BTCUSDT")].price == 99.5  # the mini ticker is fresher than the last closed bar
    assert rows[("spot", "BTCUSDT")].quote_volume == pytest.approx(40 + 50 + 60)  # over the window only
    assert rows[("futures", "ETHUSDT")].change_pct == pytest.approx(-10.0)  # every bar opens at 50
    assert rows[("futures", "ETHUSDT")].price == 45  # no mini ticker: the last close
    assert kline_movers(snaps, 6)[0].change_pct == pytest.approx(-1.0)  # BTC over all six bars


def test_ticker_movers_and_market_time() -> None:
    snaps = snapshots(mini("AUSDT", 10, 11, ts=T0 + 5), mini("BUSDT", 10, 9, venue="futures", ts=T0 + 9))
    rows = sorted(ticker_movers(snaps), key=lambda r: r.symbol)
    assert [(r.venue, r.symbol) for r in rows] == [("spot", "AUSDT"), ("futures", "BUSDT")]
    assert rows[0].change_pct == pytest.approx(10.0) and rows[1].change_pct == pytest.approx(-10.0)
    assert market_ms(snaps) == T0 + 9
    assert market_ms(snapshots()) == 0


def test_rank_orders_and_limits() -> None:
    rows = [Row("spot", f"S{i}USDT", float(i - 10), 1.0, 1.0) for i in range(21)]
    gainers, losers = rank(rows, 3)
    assert [r.symbol for r in gainers] == ["S20USDT", "S19USDT", "S18USDT"]
    assert [r.symbol for r in losers] == ["S0USDT", "S1USDT", "S2USDT"]
    g, lo = rank([Row("spot", "AUSDT", 2.0, 1, 1), Row("spot", "FLATUSDT", 0.0, 1, 1)], 15)
    assert [r.symbol for r in g] == ["AUSDT"] and lo == []  # flat is in neither table


def test_rate_meter_over_a_sliding_window() -> None:
    meter = RateMeter(window_s=5.0)
    assert meter.rate(0.0) == 0.0
    for i in range(50):  # 10 per second for 5 s
        meter.add(i * 0.1, 2)
    assert meter.rate(4.9) == pytest.approx(100 / 4.9, rel=0.01)
    assert meter.rate(20.0) == 0.0  # everything aged out


def test_status_line_has_every_figure() -> None:
    line = status_line(status(), 1234.0)
    assert "connections: 2 CONNECTED, 1 RECONNECTING" in line
    assert "pairs: futures 5, spot 12" in line
    assert "1,234 msg/s" in line and "lag p50 12 ms p99 340 ms" in line
    assert "reconnects 3" in line and "backfilled klines 42" in line and "drops 7" in line
    empty = status_line(status(connections=(), streaming_pairs={}, lag_ms_p50=None, lag_ms_p99=None), 0.0)
    assert "connections: none yet" in empty and "lag -" in empty


def _text(renderable: object) -> str:
    console = Console(file=io.StringIO(), width=200, color_system=None)
    console.print(renderable)
    return str(console.file.getvalue())  # type: ignore[attr-defined]


def test_render_prefers_klines_and_falls_back_to_mini_tickers() -> None:
    snaps = snapshots(kline("BTCUSDT", 0, 100, 103.5), kline("DOGEUSDT", 0, 0.1, 0.09, venue="futures"))
    text = _text(render(snaps, status(), messages_per_s=5.0, speed=60, top=15, minutes=5))
    assert "top 15 gainers" in text and "top 15 losers" in text and "speed 60x" in text
    assert "last 5 market min (closed 1m klines)" in text and "5m quote vol" in text
    assert "BTCUSDT" in text and "+3.50" in text and "DOGEUSDT" in text and "-10.00" in text
    assert "connections: 2 CONNECTED" in text
    text = _text(render(snapshots(mini("SOLUSDT", 20, 21)), status(), messages_per_s=0, speed=1, top=3, minutes=5))
    assert "24 h (mini tickers)" in text and "SOLUSDT" in text and "+5.00" in text


# --- over the real local exchange, with the real aggregator ---------------------------------------------------


async def test_run_demo_streams_and_shows_movers() -> None:
    console = Console(file=io.StringIO(), width=200, color_system=None)
    final = await run_demo(
        speed=60, seed=7, duration=4.0, top=5, minutes=3, console=console,
        sim_options=SimOptions(n_spot=40, n_futures=10),
    )  # fmt: skip
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert final.streaming_pairs["spot"] >= 20 and final.streaming_pairs["futures"] >= 5
    assert final.messages > 0 and final.parse_errors == {}
    assert all(c.state == "DISCONNECTED" for c in final.connections)  # stopped gracefully
    assert "top 5 gainers" in text and "last 3 market min (closed 1m klines)" in text
    assert "USDT" in text and "msg/s" in text


def test_demo_command_runs_for_duration_and_exits_0(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "cryptoscan.cli", "demo", "--duration", "3", "--top", "3", "--spot-pairs", "40",
         "--futures-pairs", "10"],
        cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=90,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "top 3 gainers" in proc.stdout and "connections:" in proc.stdout
    assert sum(1 for line in proc.stdout.splitlines() if "USDT" in line and "│" in line) >= 1
