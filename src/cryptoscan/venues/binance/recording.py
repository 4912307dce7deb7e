"""The recording format: raw Binance frames with their receive time, one JSON line each.

``{"recv_ms": 1617494400123, "stream": "btcusdt@kline_1m", "data": {...}, "venue": "spot"}``, optionally
gzipped (``.gz``); a folder means every ``*.jsonl`` / ``*.jsonl.gz`` in it. ``cryptoscan record`` writes it,
``cryptoscan replay`` and ``cryptoscan sim --replay`` read it, and it is the format of the real recordings in
``shared/data/binance/ws``. A line without ``venue`` is futures when its file name says ``usdm`` or
``futures``, else spot. Reading streams line by line: memory does not grow with the file.
"""

from __future__ import annotations

import gzip
import heapq
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import msgspec

from cryptoscan.venues.binance.spec import Venue


class _Line(msgspec.Struct):
    recv_ms: int
    stream: str
    data: msgspec.Raw
    venue: str | None = None


@dataclass(frozen=True, slots=True)
class Message:
    """One recorded message: ``data`` is the payload's JSON exactly as received."""

    recv_ms: int
    venue: Venue
    stream: str
    data: bytes


def recording_files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.name.endswith((".jsonl", ".jsonl.gz")))
    return [path]


def default_venue(path: Path) -> Venue:
    """The venue of lines without ``venue``: futures when the file name says usdm/futures."""
    name = path.name.lower()
    return Venue.FUTURES if "usdm" in name or "futures" in name else Venue.SPOT


def read_file(path: Path) -> Iterator[Message]:
    """One file's messages in file order; a malformed line raises ValueError naming the file and line."""
    decoder = msgspec.json.Decoder(_Line)
    default = default_venue(path)
    with gzip.open(path, "rb") if path.name.endswith(".gz") else open(path, "rb") as fh:
        for n, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            try:
                line = decoder.decode(raw)
            except msgspec.DecodeError as exc:
                raise ValueError(f"{path}:{n}: not a replay line: {exc}") from None
            venue = Venue(line.venue) if line.venue in ("spot", "futures") else default
            yield Message(line.recv_ms, venue, line.stream, bytes(line.data))


def read_recording(path: str | os.PathLike[str]) -> Iterator[Message]:
    """Every message of a recording (a file, ``.gz``, or a folder of them), streamed, not loaded whole.

    Files are read in their own (receive) order; a folder's files are merged by receive time.
    """
    files = recording_files(Path(path))
    if len(files) == 1:
        return read_file(files[0])
    return heapq.merge(*(read_file(f) for f in files), key=lambda m: m.recv_ms)
