"""Helpers shared by the benchmarks (not a test): symbols, RSS, CPU pinning, and a kline tape.

The tape is what ``bench/ingest.py`` floods: realistic combined-stream kline frames (encoded with the wire
schemas, framed exactly as the sim's hub frames them), 400 symbols round robin, ``updates`` messages per
symbol per bar of which the last one is closed (``x`` true). Encoding every frame on the fly would make the
server the bottleneck, and cycling a fixed set would send the client the same bars again (duplicates take
a cheaper path). So one bar is encoded once and every later bar is made by shifting the 13-digit time
fields (``E``, ``t``, ``T``) of that buffer with numpy: bars never repeat, the server stays cheap.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
from pathlib import Path

import numpy as np
import numpy.typing as npt

from cryptoscan.sim.hub import combined_frame
from cryptoscan.venues.binance import schemas

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "binance" / "rest"
SPOT_INFO = "api_binance_com__api_v3_exchangeInfo__2021-10-12.json.gz"
MINUTE_MS = 60_000
_DIGITS = 13  # epoch milliseconds keep 13 digits until the year 2286
_POW10 = 10 ** np.arange(_DIGITS - 1, -1, -1, dtype=np.int64)


def symbols(n: int) -> list[str]:
    """``n`` USDT symbols: the real spot listing of 2021 first (if the recorded file is there), then made-up ones."""
    names: list[str] = []
    with contextlib.suppress(OSError, ValueError, KeyError):
        info = json.loads(gzip.decompress((DATA / SPOT_INFO).read_bytes()))
        names = sorted(s["symbol"] for s in info["symbols"] if s["quoteAsset"] == "USDT" and s["status"] == "TRADING")
    i = 0
    while len(names) < n:
        names.append(f"X{i:03d}USDT")
        i += 1
    return names[:n]


def rss_mb() -> float:
    """Resident set size of this process (``VmRSS``), MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def pin_to_cpu(index: int) -> int | None:
    """Pin this process to the ``index``-th CPU it may run on (if there are at least two); returns the CPU."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None
    cpu = cpus[index % len(cpus)]
    os.sched_setaffinity(0, {cpu})
    return cpu


def _dec(x: float) -> str:
    return f"{x:.8f}"


def kline_payload(symbol: str, open_time: int, event_time: int, step: int, closed: bool, base: float) -> bytes:
    """One realistic kline payload (the combined envelope's ``data``), encoded by the wire schema."""
    p = base * (1 + 0.0001 * (step % 17))
    bar = schemas.KlineBar(
        open_time=open_time,
        close_time=open_time + MINUTE_MS - 1,
        symbol=symbol,
        interval="1m",
        first_trade_id=1_384_844_002,
        last_trade_id=1_384_844_002 + 7 * step,
        open=_dec(base),
        close=_dec(p),
        high=_dec(max(base, p) * 1.0002),
        low=_dec(min(base, p) * 0.9998),
        volume=_dec(0.2 + step * 0.013),
        trades=7 * step + 1,
        closed=closed,
        quote_volume=_dec((0.2 + step * 0.013) * p),
        taker_buy_volume=_dec(0.1 + step * 0.006),
        taker_buy_quote_volume=_dec((0.1 + step * 0.006) * p),
    )
    return schemas.encode(schemas.KlineMsg(event_time=event_time, symbol=symbol, kline=bar))


class KlineTape:
    """Endless pre-framed kline_1m frames for ``symbols``, bar after bar; see the module docstring."""

    def __init__(self, names: list[str], updates: int = 30, start_ms: int = 1_700_000_040_000, chunk: int = 256):
        if updates < 2:
            raise ValueError("need at least one open and one closed update per bar")
        self.streams = [f"{s.lower()}@kline_1m" for s in names]
        self.updates = updates
        frames: list[bytes] = []
        offsets: list[int] = []
        pos = 0
        t0 = start_ms - start_ms % MINUTE_MS
        gap = MINUTE_MS // updates
        for j in range(updates):
            closed = j == updates - 1
            event_time = t0 + MINUTE_MS if closed else t0 + (j + 1) * gap
            for i, (sym, stream) in enumerate(zip(names, self.streams, strict=True)):
                base = 0.5 + (i * 7919 % 50_000) / 3.0
                frame = combined_frame(stream, kline_payload(sym, t0, event_time, j, closed, base))
                for key in (b'"E":', b'"t":', b'"T":'):
                    at = frame.find(key) + len(key)
                    assert frame[at : at + _DIGITS].isdigit() and not frame[at + _DIGITS : at + _DIGITS + 1].isdigit()
                    offsets.append(pos + at)
                frames.append(frame)
                pos += len(frame)
        self.frames_per_bar = len(frames)
        self.bytes_per_bar = pos
        self.mean_frame_bytes = pos / len(frames)
        self._buf = np.frombuffer(b"".join(frames), dtype=np.uint8).copy()
        self._idx: npt.NDArray[np.intp] = (np.asarray(offsets)[:, None] + np.arange(_DIGITS)).ravel()
        self._base = (self._buf[self._idx].reshape(-1, _DIGITS).astype(np.int64) - 48) @ _POW10
        # chunk boundaries on frame boundaries: (start byte, end byte, frames)
        ends = np.cumsum([len(f) for f in frames])
        self.chunks: list[tuple[int, int, int]] = []
        start = 0
        for k in range(0, len(frames), chunk):
            end = int(ends[min(k + chunk, len(frames)) - 1])
            self.chunks.append((start, end, min(chunk, len(frames) - k)))
            start = end

    def bar(self, n: int) -> bytes:
        """All frames of bar ``n`` (times shifted by ``n`` minutes from bar 0), as one buffer."""
        values = self._base + n * MINUTE_MS
        digits = (values[:, None] // _POW10) % 10 + 48
        self._buf[self._idx] = digits.astype(np.uint8).ravel()
        return self._buf.tobytes()
