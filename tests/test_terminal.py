"""The scan's terminal view: pure rendering of snapshots, status and start-up progress."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from cryptoscan.feed.status import ConnectionReport, FeedStatus
from cryptoscan.scanner.result import ScanRow, ScanSnapshot
from cryptoscan.terminal import Progress, RateMeter, price_text, render, status_line, volume_text

T0 = 1_700_000_000_000


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


def row(rank: int, symbol: str, level: str, momentum: float) -> ScanRow:
    return ScanRow(
        rank=rank, venue="spot", symbol=symbol, level=level, price=0.1234, momentum=momentum, probability=61.0,
        composite=0.6 * momentum + 0.4 * 61, volume_24h=12_345_678.0, updated_ms=T0,
        components={"rsi": 20.0, "macd": 20.0, "volume": 25.0, "velocity": 15.0, "breakout": 0.0},
        factors={"volatility": 1.0, "momentum": momentum / 100, "resistance": 0.5, "btc": 0.5, "liquidity": 0.6},
        indicators={"rsi14": 60.0, "resistance": None},
    )  # fmt: skip


SNAP = ScanSnapshot(
    ts_ms=T0, interval="1m", tracked=50, eligible=30,
    counts={"FUERTE": 1, "ALTA": 1, "MEDIA": 0, "BAJA": 3, "DESCARTADA": 25},
    levels={"FUERTE": [row(1, "PUMPUSDT", "FUERTE", 91)], "ALTA": [row(2, "RISEUSDT", "ALTA", 74)], "MEDIA": [],
            "BAJA": [row(3, "MEHUSDT", "BAJA", 31)], "DESCARTADA": []},
)  # fmt: skip


def text(renderable: object) -> str:
    console = Console(file=io.StringIO(), width=220, color_system=None)
    console.print(renderable)
    return str(console.file.getvalue())  # type: ignore[attr-defined]


def test_render_shows_levels_rows_and_why() -> None:
    out = text(render(SNAP, status(), messages_per_s=1234.0, progress=Progress(2, 2, 50, 50), title="scan"))
    assert "FUERTE (1)" in out and "ALTA (1)" in out and "MEDIA (0)" in out
    assert "BAJA (3)" not in out  # only FUERTE, ALTA and MEDIA tables by default
    assert "PUMPUSDT" in out and "RISEUSDT" in out and "MEHUSDT" not in out
    assert "91" in out and "61%" in out and "12.35M" in out and "0.123400" in out
    assert "rsi 20 macd 20 volume 25 velocity 15" in out  # the points behind the score
    assert "2023-11-14 22:13:20 UTC" in out and "FUERTE 1  ALTA 1  MEDIA 0  BAJA 3  DESCARTADA 25" in out
    assert "1,234 msg/s" in out and "loading history" not in out


def test_progress_bars_until_history_is_loaded() -> None:
    out = text(render(None, status(), messages_per_s=0, progress=Progress(1, 2, 10, 40), title="scan"))
    assert "discovering pairs" in out and "1/2 venues" in out and "10/40 pairs" in out
    assert "scanning soon" in out and "FUERTE (" not in out
    assert Progress(2, 2, 40, 40).complete and not Progress(2, 2, 39, 40).complete


def test_status_line_has_every_figure() -> None:
    line = status_line(status(), 1234.0)
    assert "connections: 2 CONNECTED, 1 RECONNECTING" in line
    assert "pairs: futures 5, spot 12" in line
    assert "1,234 msg/s" in line and "lag p50 12 ms p99 340 ms" in line
    assert "reconnects 3" in line and "backfilled klines 42" in line and "drops 7" in line
    empty = status_line(status(connections=(), streaming_pairs={}, lag_ms_p50=None, lag_ms_p99=None), 0.0)
    assert "connections: none yet" in empty and "lag -" in empty


def test_rate_meter_over_a_sliding_window() -> None:
    meter = RateMeter(window_s=5.0)
    assert meter.rate(0.0) == 0.0
    for i in range(50):  # 10 per second for 5 s
        meter.add(i * 0.1, 2)
    assert meter.rate(4.9) == pytest.approx(100 / 4.9, rel=0.01)
    assert meter.rate(20.0) == 0.0  # everything aged out


@pytest.mark.parametrize(("value", "out"), [(95_000.5, "95,000.50"), (1.5, "1.5000"), (0.05, "0.050000"),
                                            (0.00012, "0.00012000")])  # fmt: skip
def test_price_text(value: float, out: str) -> None:
    assert price_text(value) == out


def test_volume_text() -> None:
    assert [volume_text(v) for v in (float("nan"), 999, 1500, 2.5e6, 3e9)] == ["-", "999", "1.50K", "2.50M", "3.00B"]
