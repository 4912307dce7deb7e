"""The simulator test doubles and the fixture type, importable by any test module (``from simfakes import ...``).

They live here, not in ``conftest.py``: ``from conftest import`` resolves to whichever of several
``conftest.py`` files pytest imported last.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any

from cryptoscan.sim.server import SimServer
from cryptoscan.venues.binance.spec import VENUE_KINDS, Venue, parse_stream


class FakeSource:
    """A StreamSource with exact, numbered messages for a few symbols."""

    def __init__(self, symbols: Collection[str] = ("btcusdt", "ethusdt"), every_ms: int = 50) -> None:
        self.symbols = set(symbols)
        self.every_ms = every_ms
        self.seq = 0
        self._last: dict[tuple[Venue, str], int] = {}

    def knows(self, venue: Venue, stream: str) -> bool:
        parsed = parse_stream(stream)
        if parsed is None or parsed.kind not in VENUE_KINDS[venue]:
            return False
        return parsed.symbol is None or parsed.symbol in self.symbols

    def poll(self, now_ms: int, wanted: Mapping[Venue, Collection[str]]) -> list[tuple[Venue, str, bytes]]:
        out: list[tuple[Venue, str, bytes]] = []
        for venue, streams in wanted.items():
            for stream in sorted(streams):
                last = self._last.get((venue, stream))
                if last is not None and now_ms - last < self.every_ms:
                    continue
                self._last[(venue, stream)] = now_ms
                self.seq += 1
                payload = {"e": "fake", "E": now_ms, "s": stream, "n": self.seq}
                out.append((venue, stream, json.dumps(payload, separators=(",", ":")).encode()))
        return out


class FakeMarket:
    """Records the control API's calls into the market."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def inject_burst(self, *args: Any) -> None:
        self.calls.append(("inject_burst", args))

    def set_status(self, *args: Any) -> None:
        self.calls.append(("set_status", args))


SimFactory = Callable[..., Awaitable[SimServer]]
