"""The live terminal view of a scan (``cryptoscan scan`` and ``cryptoscan demo``), drawn with rich.

Pure functions of what they are given: :func:`render` takes a scan snapshot, the feed's status and the
start-up progress and returns a renderable; :class:`ScanView` only reads those from a running aggregator
and scanner on a redraw cadence.
"""

from __future__ import annotations

import asyncio
from collections import Counter, deque
from dataclasses import dataclass
from datetime import UTC, datetime

from rich.console import Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from cryptoscan.clock import Clock
from cryptoscan.feed.aggregator import BinanceWebSocketAggregator
from cryptoscan.feed.status import FeedStatus
from cryptoscan.scanner.live import LiveScanner
from cryptoscan.scanner.result import ScanRow, ScanSnapshot

REDRAW_S = 0.25  # real seconds between redraws
LEVEL_STYLE = {"FUERTE": "bold green", "ALTA": "green", "MEDIA": "yellow", "BAJA": "dim", "DESCARTADA": "dim"}


class RateMeter:
    """Events per second over a sliding window of real time."""

    def __init__(self, window_s: float = 5.0) -> None:
        self.window_s = window_s
        self._events: deque[tuple[float, int]] = deque()
        self._sum = 0

    def add(self, now: float, n: int = 1) -> None:
        self._events.append((now, n))
        self._sum += n
        self._trim(now)

    def rate(self, now: float) -> float:
        self._trim(now)
        if not self._events:
            return 0.0
        span = max(now - self._events[0][0], 1e-3)
        return self._sum / max(span, min(self.window_s, 1.0))

    def _trim(self, now: float) -> None:
        while self._events and now - self._events[0][0] > self.window_s:
            self._sum -= self._events.popleft()[1]


@dataclass(frozen=True, slots=True)
class Progress:
    """Start-up progress: venues discovered, and pairs whose history is loaded (of those selected)."""

    venues_done: int
    venues: int
    history_done: int
    history_total: int

    @property
    def complete(self) -> bool:
        return self.venues_done == self.venues and self.history_done >= self.history_total


def progress_of(agg: BinanceWebSocketAggregator, interval: str) -> Progress:
    """Read start-up progress off the aggregator: selections made, and series holding history."""
    done = total = 0
    for venue, sel in agg.selections.items():
        rings = agg.markets[venue].rings.get(interval, {})
        total += len(sel.symbols)
        done += sum(1 for m in sel.symbols if (r := rings.get(m.symbol)) is not None and len(r) > 0)
    return Progress(len(agg.selections), len(agg.settings.venues), done, total)


def status_line(status: FeedStatus, messages_per_s: float) -> str:
    """Connections by state, pairs per venue, rate, lag, reconnects, backfill and drops on one line."""
    states = Counter(c.state for c in status.connections)
    conns = ", ".join(f"{n} {state}" for state, n in sorted(states.items())) or "none yet"
    pairs = ", ".join(f"{venue} {n}" for venue, n in sorted(status.streaming_pairs.items())) or "none yet"
    lag = (
        f"lag p50 {status.lag_ms_p50:,.0f} ms p99 {status.lag_ms_p99:,.0f} ms"
        if status.lag_ms_p50 is not None and status.lag_ms_p99 is not None
        else "lag -"
    )
    return (
        f"connections: {conns}  pairs: {pairs}  {messages_per_s:,.0f} msg/s  {lag}  "
        f"reconnects {status.reconnects}  backfilled klines {status.backfilled_klines}  drops {status.dropped}"
    )


def price_text(p: float) -> str:
    decimals = 2 if p >= 100 else 4 if p >= 1 else 6 if p >= 0.01 else 8
    return f"{p:,.{decimals}f}"


def volume_text(v: float) -> str:
    if v != v:  # NaN: no ticker yet
        return "-"
    for unit, size in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if v >= size:
            return f"{v / size:.2f}{unit}"
    return f"{v:.0f}"


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%H:%M:%S") if ms > 0 else "-"


def level_table(level: str, rows: list[ScanRow], count: int) -> Table:
    style = LEVEL_STYLE.get(level, "")
    table = Table(title=f"{level} ({count})", title_style=style, expand=True, title_justify="left")
    for name, justify in (("#", "right"), ("symbol", "left"), ("venue", "left"), ("price", "right"),
                          ("momentum", "right"), ("prob +7.5%", "right"), ("level", "left"), ("24h vol", "right"),
                          ("why", "left"), ("updated", "right")):  # fmt: skip
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for r in rows:
        why = " ".join(f"{k} {v:.0f}" for k, v in r.components.items() if v > 0) or "-"
        table.add_row(str(r.rank), r.symbol, r.venue, price_text(r.price), f"{r.momentum:.0f}",
                      f"{r.probability:.0f}%", Text(r.level, style=style), volume_text(r.volume_24h), why,
                      _when(r.updated_ms))  # fmt: skip
    return table


def render(
    snap: ScanSnapshot | None,
    status: FeedStatus,
    *,
    messages_per_s: float,
    progress: Progress,
    title: str,
    levels: tuple[str, ...] = ("FUERTE", "ALTA", "MEDIA"),
) -> RenderableType:
    """Header, status line, start-up progress bars (until complete), then one table per level shown."""
    parts: list[RenderableType] = []
    when = datetime.fromtimestamp(snap.ts_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if snap else "-"
    counts = "  ".join(f"{k} {v}" for k, v in snap.counts.items()) if snap else "scanning soon"
    parts.append(Text.assemble((f"{title} ", "bold"), f"market {when}  ", counts))
    parts.append(Text(status_line(status, messages_per_s), style="dim"))
    if not progress.complete:
        grid = Table.grid(padding=(0, 1))
        grid.add_row("discovering pairs", ProgressBar(total=max(progress.venues, 1), completed=progress.venues_done,
                                                      width=40), f"{progress.venues_done}/{progress.venues} venues")
        grid.add_row("loading history", ProgressBar(total=max(progress.history_total, 1),
                                                    completed=progress.history_done, width=40),
                     f"{progress.history_done}/{progress.history_total} pairs")  # fmt: skip
        parts.append(grid)
    if snap is not None:
        for level in levels:
            parts.append(level_table(level, snap.levels.get(level, []), snap.counts.get(level, 0)))
    return Group(*parts)


class ScanView:
    """Redraws a rich Live view from the aggregator's status and the scanner's newest result."""

    def __init__(self, live: Live, agg: BinanceWebSocketAggregator, scanner: LiveScanner, clock: Clock,
                 title: str) -> None:  # fmt: skip
        self.live, self.agg, self.scanner, self.clock, self.title = live, agg, scanner, clock, title
        self.meter = RateMeter()
        self._seen = 0

    async def draw(self) -> None:
        status = await self.agg.get_connection_status()
        now = self.clock.monotonic()
        self.meter.add(now, max(status.messages - self._seen, 0))
        self._seen = status.messages
        latest = self.scanner.latest
        screen = render(latest.snapshot() if latest else None, status, messages_per_s=self.meter.rate(now),
                        progress=progress_of(self.agg, self.scanner.scanner.interval), title=self.title)  # fmt: skip
        self.live.update(screen, refresh=True)

    async def loop(self) -> None:
        while True:
            await self.draw()
            await asyncio.sleep(REDRAW_S)  # the redraw cadence, not a wait for a condition
