"""The truth file: every closed 1m kline of every listed TRADING symbol and every burst, as JSON lines.

Tests compare a client's view of the market against this file, so it is written whether or not anyone
subscribed. Line-buffered: a reader sees each line as soon as it is complete.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO

import msgspec


class KlineTruth(msgspec.Struct, tag_field="type", tag="kline", frozen=True):
    venue: str
    symbol: str
    interval: str
    open_time: int
    close_time: int
    open: str
    high: str
    low: str
    close: str
    volume: str
    quote_volume: str
    trades: int


class BurstTruth(msgspec.Struct, tag_field="type", tag="burst", frozen=True):
    venue: str
    symbol: str
    start_ms: int
    peak_ms: int
    end_ms: int
    pct: float
    kind: str


TruthLine = KlineTruth | BurstTruth
_ENC = msgspec.json.Encoder()


class TruthWriter:
    """Appends truth lines to a file (or any text stream)."""

    def __init__(self, path: Path | None = None, stream: IO[bytes] | None = None) -> None:
        if (path is None) == (stream is None):
            raise ValueError("give exactly one of path or stream")
        self._own = stream is None
        self._f: IO[bytes] = stream if stream is not None else open(path, "ab", buffering=0)  # type: ignore[arg-type]  # noqa: SIM115
        self._buf = bytearray()
        self.lines = 0

    def write(self, line: TruthLine) -> None:
        self._buf += _ENC.encode(line)
        self._buf += b"\n"
        self.lines += 1

    def flush(self) -> None:
        """Hand whole lines to the file; called by the source after each poll."""
        if self._buf:
            self._f.write(bytes(self._buf))
            self._buf.clear()

    def close(self) -> None:
        self.flush()
        if self._own:
            self._f.close()


def read_truth(path: Path) -> list[TruthLine]:
    """Parse a truth file (for tests and tools)."""
    dec = msgspec.json.Decoder(TruthLine)
    return [dec.decode(line) for line in path.read_bytes().splitlines() if line.strip()]
