"""``cryptoscan demo``: the real feed (``app.build_aggregator``) against the in-process sim, in a live view.

It starts ``cryptoscan sim`` in-process at high speed, builds the aggregator from the config exactly as a
real run would (only the exchange URL, a scaled clock and the sim's watchdog margins differ), and shows the
feed's health and the top movers over the last ``minutes`` market minutes, read from the aggregator's market
snapshot: closed 1m klines, or the latest 24 h mini tickers while no kline has closed yet.

The view is pure: :func:`kline_movers`, :func:`ticker_movers`, :func:`status_line`, :func:`render` and
:class:`RateMeter` take snapshots and numbers; only :func:`run_demo` touches sockets (through the app).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from cryptoscan.app import build_aggregator, run_feed, sim_feed_overrides, stop_on_signals
from cryptoscan.clock import Clock, LiveClock, ScaledClock
from cryptoscan.config import Settings
from cryptoscan.feed.aggregator import BinanceWebSocketAggregator
from cryptoscan.feed.status import FeedStatus
from cryptoscan.market.snapshot import MarketSnapshot, SnapshotExpired
from cryptoscan.sim.options import SimOptions

REDRAW_S = 0.25  # real seconds between redraws


@dataclass(frozen=True, slots=True)
class Row:
    """One line of a movers table."""

    venue: str
    symbol: str
    change_pct: float
    price: float
    quote_volume: float  # over the window (klines) or 24 h (mini tickers)


def rank(rows: Iterable[Row], n: int) -> tuple[list[Row], list[Row]]:
    """Top ``n`` gainers (best first) and losers (worst first); flat rows are in neither."""
    ordered = sorted(rows, key=lambda r: (-r.change_pct, r.symbol, r.venue))
    gainers = [r for r in ordered[:n] if r.change_pct > 0]
    losers = [r for r in reversed(ordered[-n:]) if r.change_pct < 0]
    return gainers, losers


def kline_movers(snapshots: Mapping[str, MarketSnapshot], minutes: int) -> list[Row]:
    """Change over the last ``minutes`` closed 1m klines: last close against the first bar's open.

    Price is the latest mini ticker's close when there is one (fresher than the last closed bar).
    """
    rows = []
    for venue, snap in snapshots.items():
        for symbol in snap.rings.get("1m", {}):
            try:
                w = snap.last_n(symbol, "1m", minutes)
            except SnapshotExpired:
                continue
            if len(w) == 0 or w.open[0] <= 0:
                continue
            close = float(w.close[-1])
            mini = snap.mini_tickers.get(symbol)
            price = mini.close if mini is not None else close
            change = (close / float(w.open[0]) - 1.0) * 100.0
            rows.append(Row(str(venue), symbol, change, price, float(w.quote_volume.sum())))
    return rows


def ticker_movers(snapshots: Mapping[str, MarketSnapshot]) -> list[Row]:
    """24 h change from the latest mini tickers (before any 1m kline has closed)."""
    return [
        Row(str(venue), t.symbol, (t.close / t.open - 1.0) * 100.0, t.close, t.quote_volume)
        for venue, snap in snapshots.items()
        for t in snap.mini_tickers.values()
        if t.open > 0
    ]


def market_ms(snapshots: Mapping[str, MarketSnapshot]) -> int:
    """The newest event time in the snapshots' mini tickers (0 before any)."""
    return max((t.ts_event for s in snapshots.values() for t in s.mini_tickers.values()), default=0)


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


def _price(p: float) -> str:
    decimals = 2 if p >= 100 else 4 if p >= 1 else 6 if p >= 0.01 else 8
    return f"{p:,.{decimals}f}"


def _volume(v: float) -> str:
    for unit, size in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if v >= size:
            return f"{v / size:.2f}{unit}"
    return f"{v:.0f}"


def _table(title: str, rows: list[Row], style: str, volume_label: str) -> Table:
    table = Table(title=title, title_style=style, expand=True)
    table.add_column("#", justify="right", style="dim", width=3)
    table.add_column("symbol")
    table.add_column("venue", style="dim")
    table.add_column("change %", justify="right", style=style)
    table.add_column("price", justify="right")
    table.add_column(volume_label, justify="right")
    for i, r in enumerate(rows, 1):
        table.add_row(str(i), r.symbol, r.venue, f"{r.change_pct:+.2f}", _price(r.price), _volume(r.quote_volume))
    return table


def render(
    snapshots: Mapping[str, MarketSnapshot],
    status: FeedStatus,
    *,
    messages_per_s: float,
    speed: float,
    top: int,
    minutes: int,
) -> RenderableType:
    """The whole screen: a header, the feed's status line, and gainers and losers side by side."""
    rows = kline_movers(snapshots, minutes)
    if rows:
        window, volume_label = f"last {minutes} market min (closed 1m klines)", f"{minutes}m quote vol"
    else:
        rows, window, volume_label = ticker_movers(snapshots), "24 h (mini tickers)", "24h quote vol"
    gainers, losers = rank(rows, top)
    ms = market_ms(snapshots)
    when = datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if ms else "waiting for data"
    header = Text.assemble(
        ("cryptoscan demo ", "bold"),
        f"speed {speed:g}x  market {when}  movers over {window}\n",
        status_line(status, messages_per_s),
    )
    grid = Table.grid(expand=True, padding=(0, 1))
    grid.add_column(ratio=1)
    grid.add_column(ratio=1)
    grid.add_row(
        _table(f"top {top} gainers", gainers, "green", volume_label),
        _table(f"top {top} losers", losers, "red", volume_label),
    )
    return Group(header, grid)


class _View:
    """Redraws the Live view from the aggregator's snapshot and status (the only state: a rate meter)."""

    def __init__(self, live: Live, speed: float, top: int, minutes: int, clock: Clock) -> None:
        self.live, self.speed, self.top, self.minutes, self.clock = live, speed, top, minutes, clock
        self.meter = RateMeter()
        self._seen = 0

    async def draw(self, agg: BinanceWebSocketAggregator) -> None:
        status = await agg.get_connection_status()
        snaps = {str(v): s for v, s in (await agg.get_market_snapshot()).items()}
        now = self.clock.monotonic()
        self.meter.add(now, max(status.messages - self._seen, 0))
        self._seen = status.messages
        screen = render(
            snaps, status, messages_per_s=self.meter.rate(now), speed=self.speed, top=self.top, minutes=self.minutes
        )
        self.live.update(screen, refresh=True)

    async def loop(self, agg: BinanceWebSocketAggregator) -> None:
        while True:
            await self.draw(agg)
            await asyncio.sleep(REDRAW_S)  # the redraw cadence, not a wait for a condition


async def run_demo(
    settings: Settings | None = None,
    *,
    speed: float = 60.0,
    seed: int = 7,
    duration: float | None = None,
    top: int = 15,
    minutes: int = 5,
    sim_options: SimOptions | None = None,
    console: Console | None = None,
    stop: asyncio.Event | None = None,
) -> FeedStatus:
    """Sim in-process, the configured aggregator against it, the live view; until a signal or ``duration``.

    SIGINT/SIGTERM handlers are installed before the sim starts (unless ``stop`` is given), so a signal at
    any point ends the run the same graceful way. Returns the feed's final status.
    """
    from cryptoscan.sim.server import SimServer

    settings = settings or Settings()
    options = sim_options or SimOptions()
    options.seed, options.speed = seed, speed
    guard: contextlib.AbstractContextManager[object] = contextlib.nullcontext()
    if stop is None:
        stop = asyncio.Event()
        guard = stop_on_signals(stop)
    real = LiveClock()
    with guard:
        async with SimServer(options) as sim:
            clock = ScaledClock(LiveClock(), speed, start_ms=sim.ctx.clock.now_ms())
            intervals = tuple(dict.fromkeys(("1m", settings.scanner.interval)))
            agg = build_aggregator(
                settings,
                exchange_url=sim.url,
                clock=clock,
                intervals=intervals,
                history_bars=max(minutes, 1),
                **sim_feed_overrides(speed, options.snapshot_min_real_ms),
            )
            with Live(console=console, auto_refresh=False, transient=False) as live:
                view = _View(live, speed, top, minutes, real)
                status = await run_feed(agg, body=view.loop, duration=duration, stop=stop)
                await view.draw(agg)  # the final picture, after the graceful stop
    return status
