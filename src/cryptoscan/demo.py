"""``cryptoscan demo``: the local exchange, watched like a client would, in a live terminal table.

A stand-in until the scanner exists. It starts ``cryptoscan sim`` in-process at high speed, counts the USDT
pairs from REST ``/api/v3/exchangeInfo``, subscribes to ``!miniTicker@arr`` over a plain WebSocket on
``/stream`` and shows the session's top gainers and losers. The state (:class:`Board`, :func:`movers`,
:class:`RateMeter`) is plain and sans-I/O; only :func:`watch` touches sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import msgspec
import websockets
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text
from websockets.asyncio.client import connect

from cryptoscan.clock import Clock, LiveClock
from cryptoscan.sim.options import SimOptions
from cryptoscan.venues.binance.schemas import CombinedMsg, MiniTickerMsg

STREAM = "!miniTicker@arr"
_ENVELOPE = msgspec.json.Decoder(CombinedMsg)
_TICKERS = msgspec.json.Decoder(list[MiniTickerMsg])


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the table: change since the symbol was first seen in this session."""

    symbol: str
    change_pct: float
    price: float
    quote_volume: float


@dataclass(slots=True)
class Quote:
    first: float
    price: float
    quote_volume: float


def movers(quotes: Mapping[str, Quote], n: int) -> tuple[list[Row], list[Row]]:
    """Top ``n`` gainers (best first) and losers (worst first) by % change over the session."""
    rows = [
        Row(symbol, (q.price / q.first - 1.0) * 100.0, q.price, q.quote_volume)
        for symbol, q in quotes.items()
        if q.first > 0
    ]
    rows.sort(key=lambda r: (-r.change_pct, r.symbol))
    gainers = [r for r in rows[:n] if r.change_pct > 0]
    losers = [r for r in reversed(rows[-n:]) if r.change_pct < 0]
    return gainers, losers


@dataclass(slots=True)
class Board:
    """Per-symbol session state from miniTickers. Bounded by the number of listed symbols."""

    allowed: frozenset[str] | None = None  # USDT symbols from exchangeInfo; None: accept any *USDT
    quotes: dict[str, Quote] = field(default_factory=dict)
    market_ms: int = 0
    tickers: int = 0

    def update(self, tickers: Iterable[MiniTickerMsg]) -> int:
        """Apply one ``!miniTicker@arr`` frame; returns how many tickers were used."""
        used = 0
        for t in tickers:
            if not self._wanted(t.symbol):
                continue
            try:
                price, quote_volume = float(t.close), float(t.quote_volume)
            except ValueError:
                continue
            q = self.quotes.get(t.symbol)
            if q is None:
                self.quotes[t.symbol] = Quote(price, price, quote_volume)
            else:
                q.price, q.quote_volume = price, quote_volume
            self.market_ms = max(self.market_ms, t.event_time)
            used += 1
        self.tickers += used
        return used

    def rows(self, n: int) -> tuple[list[Row], list[Row]]:
        return movers(self.quotes, n)

    def _wanted(self, symbol: str) -> bool:
        return symbol in self.allowed if self.allowed is not None else symbol.endswith("USDT")


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


def usdt_symbols(exchange_info: Mapping[str, Any]) -> frozenset[str]:
    """Symbols quoted in USDT and TRADING, from a ``/api/v3/exchangeInfo`` body, leveraged tokens left out.

    A leveraged token's base is another listed base plus UP/DOWN/BULL/BEAR (BTCUP); JUP stays, J is not listed.
    """
    symbols = exchange_info.get("symbols", [])
    bases = {s.get("baseAsset", "") for s in symbols}

    def leveraged(base: str) -> bool:
        return any(base.endswith(x) and base[: -len(x)] in bases for x in ("UP", "DOWN", "BULL", "BEAR"))

    return frozenset(
        s["symbol"]
        for s in symbols
        if s.get("quoteAsset") == "USDT" and s.get("status") == "TRADING" and not leveraged(s.get("baseAsset", ""))
    )


def ws_base(http_url: str) -> str:
    """``http://host:port`` -> ``ws://host:port`` (https -> wss)."""
    if http_url.startswith("https://"):
        return "wss://" + http_url.removeprefix("https://").rstrip("/")
    return "ws://" + http_url.removeprefix("http://").rstrip("/")


@dataclass(slots=True)
class DemoStats:
    url: str = ""
    usdt_pairs: int = 0
    frames: int = 0
    bad_frames: int = 0
    reconnects: int = 0
    speed: float = 1.0


def _price(p: float) -> str:
    decimals = 2 if p >= 100 else 4 if p >= 1 else 6 if p >= 0.01 else 8
    return f"{p:,.{decimals}f}"


def _volume(v: float) -> str:
    for unit, size in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if v >= size:
            return f"{v / size:.2f}{unit}"
    return f"{v:.0f}"


def _table(title: str, rows: list[Row], style: str) -> Table:
    table = Table(title=title, title_style=style, expand=True)
    table.add_column("#", justify="right", style="dim", width=3)
    table.add_column("symbol")
    table.add_column("change %", justify="right", style=style)
    table.add_column("price", justify="right")
    table.add_column("24h quote vol", justify="right")
    for i, r in enumerate(rows, 1):
        table.add_row(str(i), r.symbol, f"{r.change_pct:+.2f}", _price(r.price), _volume(r.quote_volume))
    return table


def render(board: Board, stats: DemoStats, frames_per_s: float, tickers_per_s: float, top: int) -> RenderableType:
    """The whole screen: a status line and the two tables side by side."""
    gainers, losers = board.rows(top)
    when = (
        datetime.fromtimestamp(board.market_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        if board.market_ms
        else "waiting for data"
    )
    status = Text.assemble(
        ("cryptoscan demo ", "bold"),
        f"{stats.url}  speed {stats.speed:g}x  market {when}\n",
        f"{stats.usdt_pairs} USDT spot pairs listed, {len(board.quotes)} ticking  ",
        f"{frames_per_s:.1f} msg/s ({tickers_per_s:,.0f} tickers/s)  ",
        f"bad frames {stats.bad_frames}  reconnects {stats.reconnects}",
    )
    grid = Table.grid(expand=True, padding=(0, 1))
    grid.add_column(ratio=1)
    grid.add_column(ratio=1)
    grid.add_row(_table(f"top {top} gainers", gainers, "green"), _table(f"top {top} losers", losers, "red"))
    return Group(status, grid)


async def watch(
    url: str,
    *,
    duration: float | None = None,
    top: int = 15,
    console: Console | None = None,
    clock: Clock | None = None,
    speed: float = 1.0,
) -> tuple[Board, DemoStats]:
    """Watch ``url`` (an exchange base URL) until cancelled or ``duration`` real seconds pass."""
    clock = clock or LiveClock()
    stats = DemoStats(url=url, speed=speed)
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        response = await http.get("/api/v3/exchangeInfo")
        response.raise_for_status()
        allowed = usdt_symbols(response.json())
    stats.usdt_pairs = len(allowed)
    board = Board(allowed=allowed or None)
    frames, tickers = RateMeter(), RateMeter()

    def screen() -> RenderableType:
        now = clock.monotonic()
        return render(board, stats, frames.rate(now), tickers.rate(now), top)

    with Live(screen(), console=console, auto_refresh=False, transient=False) as live:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(duration):
                await _receive(url, board, stats, frames, tickers, clock, lambda: live.update(screen(), refresh=True))
        live.update(screen(), refresh=True)
    return board, stats


async def _receive(
    url: str,
    board: Board,
    stats: DemoStats,
    frames: RateMeter,
    tickers: RateMeter,
    clock: Clock,
    redraw: Callable[[], None],
) -> None:
    """Read frames forever, reconnecting with a short capped backoff if the exchange drops us."""
    backoff = 0.25
    next_draw = 0.0
    while True:
        try:
            async with connect(f"{ws_base(url)}/stream?streams={STREAM}", max_size=2**24) as ws:
                backoff = 0.25
                async for message in ws:
                    now = clock.monotonic()
                    try:
                        envelope = _ENVELOPE.decode(message)
                        used = board.update(_TICKERS.decode(envelope.data))
                    except (msgspec.DecodeError, msgspec.ValidationError):
                        stats.bad_frames += 1
                        continue
                    stats.frames += 1
                    frames.add(now)
                    tickers.add(now, used)
                    if now >= next_draw:
                        redraw()
                        next_draw = now + 0.25
        except (websockets.ConnectionClosed, OSError):
            stats.reconnects += 1
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)


async def run_demo(
    speed: float = 60.0,
    seed: int = 7,
    duration: float | None = None,
    top: int = 15,
    console: Console | None = None,
) -> tuple[Board, DemoStats]:
    """Start the local exchange in-process and watch it."""
    from cryptoscan.sim.server import SimServer

    async with SimServer(SimOptions(seed=seed, speed=speed)) as sim:
        return await watch(sim.url, duration=duration, top=top, console=console, speed=speed)
