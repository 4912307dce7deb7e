"""``cryptoscan replay``: a recording (``cryptoscan record``, the replay format of ``sim/replay.py``) run through
the venue parsers into market state as fast as possible, and summarised."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import msgspec

from cryptoscan.clock import Clock, LiveClock
from cryptoscan.events import Trade
from cryptoscan.market.state import MarketState
from cryptoscan.venues.binance.parser import ControlReply, DepthDiff, FrameParser, Parsed
from cryptoscan.venues.binance.recording import Message, read_recording
from cryptoscan.venues.binance.spec import Venue


class ReplaySummary(msgspec.Struct, kw_only=True):
    """What a replay saw; ``--json`` prints exactly this."""

    path: str
    messages: int = 0
    events: int = 0
    events_by_venue: dict[str, dict[str, int]] = msgspec.field(default_factory=dict)  # venue -> event type -> n
    symbols: dict[str, list[str]] = msgspec.field(default_factory=dict)  # venue -> sorted symbols
    parse_errors: dict[str, int] = msgspec.field(default_factory=dict)  # kind -> n
    messages_without_events: int = 0
    first_event_ms: int | None = None
    last_event_ms: int | None = None
    first_recv_ms: int | None = None
    last_recv_ms: int | None = None
    market: dict[str, dict[str, int]] = msgspec.field(default_factory=dict)  # venue -> market-state outcome -> n
    elapsed_s: float = 0.0


def replay_lines(summary: ReplaySummary) -> list[str]:
    """The text form of a replay summary."""

    def when(ms: int | None) -> str:
        return "-" if ms is None else datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")

    rate = summary.messages / summary.elapsed_s if summary.elapsed_s > 0 else 0.0
    out = [
        f"{summary.path}: {summary.messages} messages, {summary.events} events in {summary.elapsed_s:.2f} s "
        f"({rate:,.0f} messages/s)",
        f"events from {when(summary.first_event_ms)} to {when(summary.last_event_ms)}",
    ]
    for venue, counts in summary.events_by_venue.items():
        parts = ", ".join(f"{kind} {n}" for kind, n in counts.items())
        out.append(f"{venue}: {parts}; {len(summary.symbols.get(venue, []))} symbols")
    for venue, symbols in summary.symbols.items():
        out.append(f"{venue} symbols: {' '.join(symbols)}")
    errors = ", ".join(f"{kind} {n}" for kind, n in summary.parse_errors.items()) or "none"
    out.append(f"parse errors: {errors}; messages without events: {summary.messages_without_events}")
    return out


_NOT_STATE = (DepthDiff, ControlReply, Trade)  # what MarketState does not hold (diffs need a book; trades flow on)
OnMessage = Callable[[Message, Sequence[Parsed]], None]


def replay_recording(
    path: str | os.PathLike[str], *, on_message: OnMessage | None = None, clock: Clock | None = None
) -> ReplaySummary:
    """Parse every message with its venue's FrameParser and fold the events into a MarketState per venue.

    As fast as possible, one pass, memory bounded by the market state (not by the file). ``on_message`` sees
    each message with its events (checks and tools). Raises ValueError on a line that is not a replay line.
    """
    clock = clock or LiveClock()
    t0 = clock.monotonic()
    summary = ReplaySummary(path=str(path))
    parsers = {v: FrameParser(v) for v in Venue}
    markets = {v: MarketState(v) for v in Venue}
    by_venue: dict[str, Counter[str]] = {}
    symbols: dict[str, set[str]] = {}
    first = last = None
    out: list[Parsed] = []
    for msg in read_recording(path):
        out.clear()
        parsers[msg.venue].parse_into(msg.data, msg.recv_ms, out, msg.stream)
        summary.messages += 1
        if summary.first_recv_ms is None:
            summary.first_recv_ms = msg.recv_ms
        summary.last_recv_ms = msg.recv_ms
        if not out:
            summary.messages_without_events += 1
        counts = by_venue.setdefault(msg.venue.value, Counter())
        names = symbols.setdefault(msg.venue.value, set())
        market = markets[msg.venue]
        for ev in out:
            counts[type(ev).__name__] += 1
            symbol = getattr(ev, "symbol", None)
            if symbol is not None:
                names.add(symbol)
            ts = getattr(ev, "ts_event", None)
            if ts is not None:
                first = ts if first is None else min(first, ts)
                last = ts if last is None else max(last, ts)
            if not isinstance(ev, _NOT_STATE):
                market.apply(ev)
        summary.events += len(out)
        if on_message is not None:
            on_message(msg, tuple(out))
    summary.first_event_ms, summary.last_event_ms = first, last
    summary.events_by_venue = {v: dict(sorted(c.items())) for v, c in sorted(by_venue.items()) if c}
    summary.symbols = {v: sorted(s) for v, s in sorted(symbols.items()) if s}
    errors: Counter[str] = Counter()
    for parser in parsers.values():
        errors.update(parser.errors.counts)
    summary.parse_errors = dict(sorted(errors.items()))
    summary.market = {
        v.value: {str(o): n for o, n in sorted(m.outcomes.items())} for v, m in markets.items() if m.outcomes
    }
    summary.elapsed_s = clock.monotonic() - t0
    return summary
