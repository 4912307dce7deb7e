"""The demo with its dashboard, run in a background thread for the web tests (sync tests talk to it over sockets).

Why a thread: Playwright's sync API, schemathesis and the sync websockets client block; the demo (sim, feed,
scanner, dashboard) needs a running loop. The thread owns the loop; tests reach objects on it only through
:meth:`LiveDemo.call`, which runs a function on the loop and waits for its result.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import io
import json
import threading
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console

from cryptoscan.config import Settings
from cryptoscan.demo import run_demo
from cryptoscan.scanner.result import ScanResult
from cryptoscan.sim.options import SimOptions
from cryptoscan.sim.server import SimServer
from cryptoscan.web.options import DashboardOptions
from cryptoscan.web.server import Dashboard

T = TypeVar("T")
SPEED = 60.0  # market ms per real ms: a closed 1m bar every second
QUEUE_SIZE = 16

# Low level thresholds and no volume filter: the small sim fills every shown level at once, and rows change on
# every pass. Alerts on (no channels: records only), held one pass, no digest, so FUERTE/ALTA pairs get alerts.
SETTINGS = Settings.model_validate({
    "scanner": {"min_volume_usd": 0, "top": 5, "levels": {"fuerte": 30, "alta": 20, "media": 10, "baja": 5}},
    "alerts": {"enabled": True, "hold_scans": 1, "digest_s": 0, "cooldown_s": 0},
    "store": {"enabled": False},
})  # fmt: skip


# The backtest column of the live precision panel: (value, lo, hi) per level and horizon, as a report.json has it.
BACKTEST = {("FUERTE", 4): (0.31, 0.25, 0.38), ("FUERTE", 24): (0.52, 0.44, 0.6), ("ALTA", 4): (0.18, 0.14, 0.22),
            ("ALTA", 24): (0.35, 0.3, 0.41), ("MEDIA", 4): (0.09, 0.07, 0.11)}  # fmt: skip


def write_report(path: Path, figures: Mapping[tuple[str, int], tuple[float, float, float]] = BACKTEST) -> Path:
    """A ``report.json`` holding only what the dashboard reads from one: precision per level and horizon."""
    levels: dict[str, dict[str, Any]] = {}
    for (level, h), (value, lo, hi) in figures.items():
        levels.setdefault(level, {})[f"{h}h"] = {"count": 100, "precision": {"value": value, "lo": lo, "hi": hi}}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"meta": {"target_pct": 7.5}, "levels": levels}))
    return path


@dataclass
class LiveDemo:
    loop: asyncio.AbstractEventLoop
    stop: asyncio.Event
    dashboard: Dashboard
    sim: SimServer
    results: list[ScanResult] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.dashboard.url

    def call(self, fn: Callable[[], T], timeout: float = 10.0) -> T:
        """Run ``fn`` on the demo's loop (its objects live there) and return what it returns."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(fn())
            except BaseException as exc:  # handed to the caller
                future.set_exception(exc)

        self.loop.call_soon_threadsafe(run)
        return future.result(timeout)

    def run(self, coro: Callable[[], Coroutine[Any, Any, T]], timeout: float = 30.0) -> T:
        """Run a coroutine (made on the loop) on the demo's loop and wait for it."""
        return asyncio.run_coroutine_threadsafe(coro(), self.loop).result(timeout)


def start_demo(*, lang: str = "en", ready_passes: int = 2, limit_s: float = 60.0,
               report: Path | None = None) -> tuple[LiveDemo, threading.Thread]:  # fmt: skip
    """Start the demo thread; return once the dashboard listens and ``ready_passes`` scan passes ran.
    ``report``: the backtest report the live precision panel compares with (default: none there)."""
    backtest = report if report is not None else Path("/nonexistent/report.json")
    box: dict[str, Any] = {}
    ready = threading.Event()

    def on_result(result: ScanResult) -> None:
        box.setdefault("results", []).append(result)
        if len(box["results"]) >= ready_passes and "dashboard" in box:
            ready.set()

    async def main() -> None:
        box["loop"] = asyncio.get_running_loop()
        box["stop"] = stop = asyncio.Event()
        await run_demo(
            SETTINGS, speed=SPEED, seed=5, history_bars=200, console=Console(file=io.StringIO(), width=160),
            sim_options=SimOptions(n_spot=14, n_futures=4), stop=stop, on_result=on_result,
            on_sim=lambda sim: box.__setitem__("sim", sim),
            dashboard=DashboardOptions(port=0, lang=lang, top=5, queue_size=QUEUE_SIZE, tick_s=0.2,
                                       backtest_report=backtest),
            on_dashboard=lambda d: box.__setitem__("dashboard", d),
        )  # fmt: skip

    def thread_main() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:  # reported by the waiting test
            box["error"] = exc
            ready.set()

    thread = threading.Thread(target=thread_main, name="web-demo", daemon=True)
    thread.start()
    if not ready.wait(limit_s) or "error" in box:
        raise AssertionError(f"the demo did not get ready within {limit_s}s: {box.get('error')!r}")
    demo = LiveDemo(box["loop"], box["stop"], box["dashboard"], box["sim"], box["results"])
    return demo, thread


def stop_demo(demo: LiveDemo, thread: threading.Thread) -> None:
    demo.loop.call_soon_threadsafe(demo.stop.set)
    thread.join(30)
    assert not thread.is_alive(), "the demo did not stop within 30 s"
