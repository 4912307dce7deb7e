"""Recorder: raw stream frames with their receive time, as the JSON lines ``cryptoscan sim --replay`` serves.

One line per message (``sim/replay.py`` reads them back)::

    {"recv_ms":1617566591326,"stream":"btcusdt@aggTrade","venue":"spot","data":{"e":"aggTrade",...}}

``data`` is copied byte for byte from the combined envelope, never re-encoded, so a replay sends exactly
what was received. Lines are buffered (bounded: a full buffer is written out at once, so memory stays
flat whatever the rate) and written to ``FILE.part``; :meth:`Recorder.close` flushes, finishes the gzip
trailer and renames the part file to ``FILE``, so a reader never sees a half-written recording.
``.gz`` in the name means gzip.

:func:`record` is the capture loop: one plain ``websockets`` client per combined-stream connection
(futures streams grouped by routed path, at most ``streams_per_connection`` per socket), reconnecting
after drops with the feed's backoff, for ``duration_s`` seconds or until cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import os
from collections.abc import Sequence
from pathlib import Path
from typing import IO, cast

import msgspec
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from cryptoscan.clock import Clock, LiveClock
from cryptoscan.feed.backoff import Backoff, BackoffPolicy
from cryptoscan.log import get_logger
from cryptoscan.venues.binance import schemas
from cryptoscan.venues.binance.spec import Category, Venue, futures_ws_path, parse_stream

log = get_logger(__name__)

_ENVELOPE = msgspec.json.Decoder(schemas.CombinedMsg)
_STR = msgspec.json.Encoder()


class Recorder:
    """Appends ``(recv_ms, venue, stream, raw data)`` as replay lines; atomic on close."""

    def __init__(self, path: str | os.PathLike[str], *, compress: bool | None = None, max_buffer_bytes: int = 1 << 20):
        self.path = Path(path)
        self.part = self.path.with_name(self.path.name + ".part")
        self.compress = self.path.name.endswith(".gz") if compress is None else compress
        self.max_buffer_bytes = max_buffer_bytes
        self.lines = 0
        self.bytes = 0
        self.bad_frames = 0
        self._buf: list[bytes] = []
        self._buffered = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        raw = gzip.open(self.part, "wb", compresslevel=6) if self.compress else open(self.part, "wb")  # noqa: SIM115
        self._fh: IO[bytes] | None = cast(IO[bytes], raw)

    @property
    def closed(self) -> bool:
        return self._fh is None

    def write(self, recv_ms: int, venue: Venue | str, stream: str, data: bytes) -> None:
        """One message; ``data`` must be the JSON of the payload (the combined envelope's ``data``)."""
        if self._fh is None:
            raise ValueError("recorder is closed")
        line = b"".join(
            (
                b'{"recv_ms":',
                str(int(recv_ms)).encode(),
                b',"stream":',
                _STR.encode(stream),
                b',"venue":"',
                str(Venue(venue).value).encode(),
                b'","data":',
                data,
                b"}\n",
            )
        )
        self._buf.append(line)
        self._buffered += len(line)
        self.lines += 1
        if self._buffered >= self.max_buffer_bytes:
            self.flush()

    def write_frame(self, recv_ms: int, venue: Venue | str, frame: bytes) -> bool:
        """A combined-stream frame ``{"stream":..,"data":..}``; False (and counted) if it is not one."""
        try:
            msg = _ENVELOPE.decode(frame)
        except msgspec.DecodeError:
            self.bad_frames += 1
            return False
        self.write(recv_ms, venue, msg.stream, bytes(msg.data))
        return True

    def flush(self) -> None:
        if self._fh is None or not self._buf:
            return
        chunk = b"".join(self._buf)
        self._buf.clear()
        self._buffered = 0
        self._fh.write(chunk)
        self.bytes += len(chunk)

    def close(self) -> Path:
        """Flush, finish the file and move it into place; returns the final path. Idempotent."""
        if self._fh is not None:
            self.flush()
            self._fh.close()
            self._fh = None
            os.replace(self.part, self.path)
        return self.path

    def abort(self) -> None:
        """Throw the recording away (nothing is left behind)."""
        if self._fh is not None:
            self._buf.clear()
            self._fh.close()
            self._fh = None
            with contextlib.suppress(FileNotFoundError):
                self.part.unlink()

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def combined_urls(ws_base: str, venue: Venue, streams: Sequence[str], per_connection: int = 200) -> list[str]:
    """Combined-stream URLs covering ``streams``: spot ``/stream``, futures ``/<category>/stream``."""
    base = ws_base.rstrip("/").replace("http://", "ws://", 1).replace("https://", "wss://", 1)
    groups: dict[str, list[str]] = {}
    for name in dict.fromkeys(streams):
        if venue is Venue.SPOT:
            prefix = ""
        else:
            parsed = parse_stream(name)
            if parsed is None:
                raise ValueError(f"unknown stream {name!r}")
            if parsed.category is Category.PRIVATE:
                raise ValueError("user data is not recorded")
            prefix = futures_ws_path(parsed.category)
        groups.setdefault(prefix, []).append(name)
    urls = []
    for prefix, names in groups.items():
        for i in range(0, len(names), per_connection):
            urls.append(f"{base}{prefix}/stream?streams={'/'.join(names[i : i + per_connection])}")
    return urls


async def _capture(url: str, venue: Venue, recorder: Recorder, clock: Clock, backoff: Backoff) -> None:
    while True:
        try:
            async with connect(url, max_size=8 << 20, compression=None) as ws:
                backoff.on_live(clock.now_ms())
                while True:
                    frame = await ws.recv(decode=False)
                    recorder.write_frame(clock.now_ms(), venue, frame)
        except (ConnectionClosed, InvalidHandshake, OSError, TimeoutError) as exc:
            delay_ms = backoff.next_delay(clock.now_ms())
            log.warning("recorder connection lost", venue=venue.value, error=type(exc).__name__, retry_ms=delay_ms)
            await asyncio.sleep(delay_ms / 1000)


async def record(
    ws_base: str,
    venue: Venue,
    streams: Sequence[str],
    path: str | os.PathLike[str],
    *,
    duration_s: float | None = None,
    clock: Clock | None = None,
    per_connection: int = 200,
    compress: bool | None = None,
) -> Recorder:
    """Record ``streams`` for ``duration_s`` seconds (None: until cancelled); the file is complete either way."""
    clock = clock or LiveClock()
    urls = combined_urls(ws_base, venue, streams, per_connection)
    recorder = Recorder(path, compress=compress)
    policy = BackoffPolicy(initial_ms=500, max_ms=30_000)
    tasks = [asyncio.ensure_future(_capture(u, venue, recorder, clock, Backoff(policy))) for u in urls]
    try:
        await asyncio.wait(tasks, timeout=duration_s)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        recorder.close()
    return recorder
