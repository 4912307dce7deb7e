"""Live precision on the dashboard: a Tracker fed by hand (alerts, closed 1m bars, ``resolve`` at an explicit
market time on a ManualClock) behind a real dashboard; ``GET /api/tracking`` and the WebSocket push show its
figures next to a written backtest report's, re-read when the file changes."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from webdemo import BACKTEST, write_report
from websockets.asyncio.client import ClientConnection, connect

from cryptoscan.app import build_aggregator, build_scanner
from cryptoscan.backtest.tracking import Tracker
from cryptoscan.clock import ManualClock
from cryptoscan.config import Settings
from cryptoscan.web.options import DashboardOptions
from cryptoscan.web.server import Dashboard
from cryptoscan.web.source import PipelineSource
from cryptoscan.web.tracking import BacktestFile, Interval

MIN, HOUR, DAY = 60_000, 3_600_000, 86_400_000
NOW = 1_700_000_040_000  # market time of the dashboard's clock (a minute boundary)


def alert(tracker: Tracker, ts: int, venue: str, symbol: str, level: str, price: float, *,
          high: float | None = None, at_min: int = 0, until_min: int = 25 * 60) -> None:  # fmt: skip
    """One alert raised mid-bar at ``ts`` and the closed bars after it: flat at ``price``, but one bar ``at_min``
    minutes after the alert's bar reaching ``high``; bars stop ``until_min`` minutes after it."""
    assert tracker.on_alert(ts, venue, symbol, level, price)
    bar = ts // MIN * MIN
    for i in range(until_min + 1):
        top = high if high is not None and i == at_min else price
        tracker.on_kline(venue, symbol, bar + i * MIN, top, price, price)


def fed_tracker() -> Tracker:
    """FUERTE: a hit and a miss 2 days ago, a hit 10 days ago (30-day window only). ALTA: +8 % after 10 h (a
    miss at 4 h, a hit at 24 h) 3 days ago; one pending an hour ago; one without a price (not tracked)."""
    t = Tracker("1m")
    alert(t, NOW - 2 * DAY + 30_000, "spot", "AAAUSDT", "FUERTE", 100.0, high=110.0, at_min=60)
    alert(t, NOW - 2 * DAY + 30_000, "spot", "BBBUSDT", "FUERTE", 100.0, high=101.0, at_min=60)
    alert(t, NOW - 10 * DAY + 30_000, "spot", "CCCUSDT", "FUERTE", 100.0, high=108.0, at_min=5)
    alert(t, NOW - 3 * DAY + 30_000, "futures", "DDDUSDT", "ALTA", 50.0, high=54.0, at_min=600)
    assert t.on_alert(NOW - HOUR, "spot", "EEEUSDT", "ALTA", 10.0)
    assert not t.on_alert(NOW - HOUR, "spot", "FFFUSDT", "ALTA", 0.0)
    assert len(t.resolve(NOW)) == 8  # four alerts x two horizons; EEE's horizons are still open
    return t


def live(alerts: int, hits: int) -> dict[str, Any]:
    return {"alerts": alerts, "hits": hits, "precision": hits / alerts if alerts else None}


def backtest(level: str, h: int, figures: dict[tuple[str, int], tuple[float, float, float]] = BACKTEST) -> Any:
    got = figures.get((level, h))
    return {"value": got[0], "lo": got[1], "hi": got[2]} if got else None


@dataclass
class Served:
    dashboard: Dashboard
    tracker: Tracker
    clock: ManualClock
    report: Path
    client: httpx.AsyncClient

    async def tracking(self) -> Any:
        r = await self.client.get(self.dashboard.url + "/api/tracking", timeout=10)
        assert r.status_code == 200, r.text
        return r.json()


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    """A dashboard over a pipeline that never starts (no feed), with the hand-fed tracker and a report path;
    the cadence is an hour, so each test ticks by hand."""
    settings = Settings()
    clock = ManualClock(NOW)
    agg = build_aggregator(settings, "http://127.0.0.1:9", clock)
    tracker = fed_tracker()
    report = tmp_path / "reports" / "backtest" / "report.json"
    source = PipelineSource(agg, build_scanner(agg, settings, clock), tracker=tracker, backtest_report=report)
    async with Dashboard(source, DashboardOptions(port=0, tick_s=3600)) as dashboard, httpx.AsyncClient() as client:
        yield Served(dashboard, tracker, clock, report, client)


async def test_api_shows_live_precision_per_level_and_window_next_to_the_backtest(served: Served) -> None:
    doc = await served.tracking()
    assert doc["enabled"] and doc["now_ms"] == NOW and doc["target_pct"] == 7.5
    assert (doc["pending"], doc["dropped"], doc["resolved"]) == (1, 1, 8)
    assert doc["backtest_report"] is None  # no report written yet: no backtest column, not an error
    assert doc["rows"] == [
        {"level": "FUERTE", "horizon_h": 4, "live_7d": live(2, 1), "live_30d": live(3, 2), "backtest": None},
        {"level": "FUERTE", "horizon_h": 24, "live_7d": live(2, 1), "live_30d": live(3, 2), "backtest": None},
        {"level": "ALTA", "horizon_h": 4, "live_7d": live(1, 0), "live_30d": live(1, 0), "backtest": None},
        {"level": "ALTA", "horizon_h": 24, "live_7d": live(1, 1), "live_30d": live(1, 1), "backtest": None},
    ]  # fmt: skip

    write_report(served.report)
    doc = await served.tracking()
    assert doc["backtest_report"] == str(served.report)
    assert [(r["level"], r["horizon_h"], r["backtest"]) for r in doc["rows"]] == [
        (level, h, backtest(level, h)) for level in ("FUERTE", "ALTA") for h in (4, 24)
    ]  # MEDIA is in the report but had no live alert: not shown

    # The windows slide with market time: 5.5 days on, the FUERTE pair of 2 days ago left the 7-day window.
    served.clock.advance(5.5 * DAY / 1000)
    later = await served.tracking()
    fuerte_4h = later["rows"][0]
    assert later["now_ms"] == NOW + 5.5 * DAY and fuerte_4h["live_7d"] == live(0, 0)
    assert fuerte_4h["live_30d"] == live(3, 2)


async def frame_of(ws: ClientConnection, kind: str) -> Any:
    """The next frame of type ``kind`` (status frames may come between)."""
    while True:
        doc = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if doc["type"] == kind:
            return doc


async def test_panel_figures_are_pushed_when_they_change(served: Served) -> None:
    service = served.dashboard.service
    async with connect(served.dashboard.url.replace("http", "ws") + "/ws", open_timeout=10) as ws:
        snap = await frame_of(ws, "snapshot")
        assert snap["tracking"]["rows"][0]["live_30d"] == live(3, 2) and snap["tracking"]["pending"] == 1

        # A MEDIA alert 3 hours ago that hit: a MEDIA row appears with its backtest figure, once the report exists.
        alert(served.tracker, NOW - 3 * HOUR + 10_000, "spot", "GGGUSDT", "MEDIA", 2.0, high=2.2, at_min=30,
              until_min=170)  # fmt: skip
        assert len(served.tracker.resolve(NOW)) == 2
        write_report(served.report)
        service.tick()
        service.tick()  # nothing changed since: nothing pushed
        pushed = await frame_of(ws, "tracking")
        media = [r for r in pushed["rows"] if r["level"] == "MEDIA"]
        assert [(r["horizon_h"], r["live_7d"], r["backtest"]) for r in media] == [
            (4, live(1, 1), backtest("MEDIA", 4)), (24, live(1, 1), None)]  # fmt: skip
        assert pushed["pending"] == 1 and pushed["resolved"] == 10  # a hit is known before its horizon closes

        # A new backtest (the file rewritten): re-read and pushed; an unchanged file is not read again.
        newer = {**BACKTEST, ("FUERTE", 4): (0.4, 0.33, 0.47)}
        write_report(served.report, newer)
        st = served.report.stat()
        os.utime(served.report, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
        service.tick()
        pushed = await frame_of(ws, "tracking")
        assert pushed["rows"][0]["backtest"] == backtest("FUERTE", 4, newer)
        assert pushed["rows"][1]["backtest"] == backtest("FUERTE", 24, newer)


def test_a_missing_or_broken_report_means_no_backtest_column(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    file = BacktestFile(path)
    assert file.figures().path is None and not file.figures().precision
    path.write_text('{"levels": {"FUERTE": {"4h": {"precision": {"value": 0.3, "lo')  # being written
    assert file.figures().path is None and file.unreadable == 1
    assert file.figures().path is None and file.unreadable == 1  # same file: not parsed again
    fuerte = {"4h": {"precision": {"value": 0.3, "lo": None, "hi": None}}, "24h": {"precision": {"value": "high"}},
              "x": 1}  # fmt: skip
    media = {"4h": {"precision": {"value": float("nan")}}}
    path.write_text(json.dumps({"levels": {"FUERTE": fuerte, "ALTA": [], "MEDIA": media}}))
    got = file.figures()
    assert got.path == str(path) and dict(got.precision) == {("FUERTE", 4): Interval(0.3, None, None)}
    path.unlink()
    assert file.figures().path is None
