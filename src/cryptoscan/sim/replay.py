"""ReplaySource: a StreamSource that serves a recording instead of the generator.

A recording is JSON lines ``{"recv_ms": ..., "stream": "...", "data": {...}}`` (optionally ``.gz``;
a directory means every ``*.jsonl`` / ``*.jsonl.gz`` in it). A line's ``"venue"`` field ("spot" or
"futures") decides its venue; without one the file is futures when its name says ``usdm`` or
``futures``, else spot. Messages come out at the recorded pace times ``speed`` (0: as fast as
possible, a bounded batch per poll) from the first poll that wants anything, so a client that
connects and subscribes sees the recording from its start.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path

from cryptoscan.venues.binance.recording import read_recording
from cryptoscan.venues.binance.spec import Venue

FAST_BATCH = 20_000  # messages per poll when replaying as fast as possible


def load(path: Path) -> list[tuple[int, Venue, str, bytes]]:
    """Every message of a recording (file or directory), ordered by receive time."""
    rows = [(m.recv_ms, m.venue, m.stream, m.data) for m in read_recording(path)]
    rows.sort(key=lambda r: r[0])  # stable: lines with equal receive times keep their file order
    return rows


class ReplaySource:
    """Serves a recording at its recorded pace (scaled by ``speed``) against the market clock."""

    def __init__(self, path: Path, speed: float = 1.0) -> None:
        if speed < 0:
            raise ValueError("replay speed must be >= 0")
        self.path = path
        self.speed = speed
        self._rows = load(path)
        self._streams: dict[Venue, set[str]] = {Venue.SPOT: set(), Venue.FUTURES: set()}
        for _, venue, stream, _ in self._rows:
            self._streams[venue].add(stream)
        self._pos = 0
        self._started_ms: int | None = None  # market time of the first poll that wanted anything
        self._rec0 = self._rows[0][0] if self._rows else 0

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def done(self) -> bool:
        return self._pos >= len(self._rows)

    def streams(self, venue: Venue) -> frozenset[str]:
        return frozenset(self._streams[venue])

    def knows(self, venue: Venue, stream: str) -> bool:
        return stream in self._streams[venue]

    def poll(self, now_ms: int, wanted: Mapping[Venue, Collection[str]]) -> list[tuple[Venue, str, bytes]]:
        if self._started_ms is None:
            if not any(wanted.values()):
                return []
            self._started_ms = now_ms
        rows, pos, end = self._rows, self._pos, len(self._rows)
        if self.speed == 0:
            limit = min(end, pos + FAST_BATCH)
        else:
            horizon = self._rec0 + (now_ms - self._started_ms) * self.speed
            limit = pos
            while limit < end and rows[limit][0] <= horizon:
                limit += 1
        out = [(v, s, d) for _, v, s, d in rows[pos:limit] if s in wanted.get(v, ())]
        self._pos = limit
        return out
