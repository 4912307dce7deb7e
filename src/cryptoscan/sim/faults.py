"""Fault injection: the failures a real exchange produces, on a seeded schedule or on demand.

Schedule flags come from ``SimOptions.faults`` as ``kind:every_s[:duration_ms]`` ("drop:30" drops a
random connection every 30 market seconds); the control API (``POST /sim/faults``) queues one-off
orders at run time. Connection faults are carried out by the hub; each connection owns a
:class:`LinkFaults` that shapes its outgoing frames (stall, delay, duplicate, reorder, malformed).
REST faults are answered through :meth:`FaultInjector.rest_fault`. Every injected fault is counted
in ``SimStats`` as ``fault.<kind>``.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptoscan.sim.stats import SimStats
from cryptoscan.venues.binance.spec import Venue

CONN_KINDS = ("drop", "stall", "malformed", "duplicate", "reorder", "delay", "shutdown")
REST_KINDS = ("rest_429", "rest_418", "rest_5xx")
KINDS = CONN_KINDS + REST_KINDS
DEFAULT_DURATION_MS = {"stall": 30_000, "delay": 2_000}
REST_STATUS = {"rest_429": 429, "rest_418": 418, "rest_5xx": 503}
MAX_HELD_FRAMES = 200_000  # a delayed connection's held frames; beyond this the oldest are dropped
GARBLED = b'{"e":"aggTrade","E":1,"s":"BTC\xc2\xa4#~ not json'  # valid UTF-8, broken JSON


def text_frame(payload: bytes) -> bytes:
    """A server-to-client WebSocket text frame: FIN + opcode 1, unmasked, then the payload."""
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65_536:
        return bytes((0x81, 126)) + n.to_bytes(2, "big") + payload
    return bytes((0x81, 127)) + n.to_bytes(8, "big") + payload


# Valid UTF-8 so the WebSocket layer passes it on: the client's parser must reject it, not crash.
MALFORMED_FRAME = text_frame(GARBLED)


@dataclass(frozen=True, slots=True)
class FaultOrder:
    kind: str
    target: str = "random"  # "all", "random" or a connection id
    count: int = 1
    duration_ms: int = 0


@dataclass(slots=True)
class LinkFaults:
    """Per-connection fault state; shapes the frames of one publisher tick."""

    stall_until: int = 0
    delay_until: int = 0
    duplicate: int = 0
    reorder: int = 0
    malformed: int = 0
    dropped: int = 0  # frames lost to a stall or to the held-frames bound
    held: deque[bytes] = field(default_factory=deque)

    def stalled(self, now_ms: int) -> bool:
        return now_ms < self.stall_until

    def arm(self, order: FaultOrder, now_ms: int) -> None:
        kind, n = order.kind, max(1, order.count)
        duration = order.duration_ms or DEFAULT_DURATION_MS.get(kind, 0)
        if kind == "stall":
            self.stall_until = max(self.stall_until, now_ms + duration)
        elif kind == "delay":
            self.delay_until = max(self.delay_until, now_ms + duration)
        elif kind == "duplicate":
            self.duplicate += n
        elif kind == "reorder":
            self.reorder += n
        elif kind == "malformed":
            self.malformed += n
        else:
            raise ValueError(f"{kind} is not a shaping fault")

    def busy(self) -> bool:
        return bool(self.held or self.malformed)

    def shape(self, frames: list[bytes], now_ms: int) -> list[bytes]:
        """The frames to write now, in order, after the armed faults are applied."""
        if self.stalled(now_ms):
            self.dropped += len(frames)
            return []
        out = frames
        if self.duplicate and out:
            k = min(self.duplicate, len(out))
            self.duplicate -= k
            out = [f for frame in out[:k] for f in (frame, frame)] + out[k:]
        if self.reorder and len(out) >= 2:
            out = list(out)
            i = 0
            while self.reorder and i + 1 < len(out):
                out[i], out[i + 1] = out[i + 1], out[i]
                self.reorder -= 1
                i += 2
        if self.malformed:
            out = [MALFORMED_FRAME] * self.malformed + out
            self.malformed = 0
        if now_ms < self.delay_until:
            self.held.extend(out)
            while len(self.held) > MAX_HELD_FRAMES:
                self.held.popleft()
                self.dropped += 1
            return []
        if self.held:
            self.held.extend(out)
            out = list(self.held)
            self.held.clear()
        return out


@dataclass(slots=True)
class _Scheduled:
    kind: str
    every_ms: int
    duration_ms: int
    next_ms: int


def parse_flag(flag: str) -> tuple[str, int, int]:
    """``kind:every_s[:duration_ms]`` -> (kind, every_ms, duration_ms)."""
    parts = flag.split(":")
    if len(parts) not in (2, 3) or parts[0] not in KINDS:
        raise ValueError(f"bad fault flag {flag!r}: expected kind:every_s[:duration_ms], kind in {KINDS}")
    try:
        every_ms = round(float(parts[1]) * 1000)
        duration = int(parts[2]) if len(parts) == 3 else 0
    except ValueError:
        raise ValueError(f"bad fault flag {flag!r}: every_s and duration_ms must be numbers") from None
    if every_ms <= 0 or duration < 0:
        raise ValueError(f"bad fault flag {flag!r}: every_s must be positive")
    return parts[0], every_ms, duration


class FaultInjector:
    """Decides which faults happen when; the hub and the REST routes carry them out."""

    def __init__(self, flags: Sequence[str], seed: int, stats: SimStats, start_ms: int) -> None:
        self.stats = stats
        self.rng = random.Random(seed)
        self._schedule: list[_Scheduled] = []
        for flag in flags:
            kind, every_ms, duration = parse_flag(flag)
            self._schedule.append(_Scheduled(kind, every_ms, duration, start_ms + every_ms))
        self._queued: list[FaultOrder] = []
        self._rest_armed: dict[str, int] = dict.fromkeys(REST_KINDS, 0)

    @staticmethod
    def make_order(kind: str, target: str = "random", count: int = 1, duration_ms: int = 0) -> FaultOrder:
        """Validate an order; ValueError with a readable message when it makes no sense."""
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {', '.join(KINDS)}")
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise ValueError("count must be a positive integer")
        if not isinstance(duration_ms, int) or isinstance(duration_ms, bool) or duration_ms < 0:
            raise ValueError("duration_ms must be a non-negative integer")
        if not isinstance(target, str) or not target:
            raise ValueError('target must be "all", "random" or a connection id')
        return FaultOrder(kind, target, count, duration_ms)

    def request(self, order: FaultOrder) -> None:
        """Queue an order from the control API; REST faults arm at once."""
        if order.kind in REST_KINDS:
            self._rest_armed[order.kind] += order.count
        else:
            self._queued.append(order)

    def due(self, now_ms: int) -> list[FaultOrder]:
        """Connection fault orders to carry out now (scheduled and requested)."""
        for s in self._schedule:
            while now_ms >= s.next_ms:
                s.next_ms += s.every_ms
                self.request(FaultOrder(s.kind, "random", 1, s.duration_ms))
        out, self._queued = self._queued, []
        return out

    def pick(self, order: FaultOrder, conn_ids: Sequence[str]) -> list[str]:
        """Resolve an order's target to connection ids (seeded choice for "random")."""
        if order.target == "all":
            return list(conn_ids)
        if order.target == "random":
            return [self.rng.choice(conn_ids)] if conn_ids else []
        return [order.target] if order.target in conn_ids else []

    def injected(self, kind: str, n: int = 1) -> None:
        self.stats.count(f"fault.{kind}", n)

    def rest_fault(self, venue: Venue, path: str, now_ms: int) -> int | None:
        """An HTTP status to answer instead of the normal response, or None."""
        for kind in REST_KINDS:
            if self._rest_armed[kind] > 0:
                self._rest_armed[kind] -= 1
                self.injected(kind)
                return REST_STATUS[kind]
        return None

    def rest_pending(self) -> dict[str, int]:
        return {k: v for k, v in self._rest_armed.items() if v}
