"""Control-frame pacing for one connection: SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS under Binance's
per-connection incoming-message limit, with headroom left for pongs.

Driven by: :meth:`Pacer.subscribe` / :meth:`Pacer.unsubscribe` (the shard diff), :meth:`Pacer.poll` on a
timer (``now`` in ms), :meth:`Pacer.on_text` with every text frame that may be a control reply, and
:meth:`Pacer.note_sent` for any other frame the I/O layer sends (so it counts in the same window).
Returns: :meth:`poll` gives the :class:`Request` frames (JSON bytes ready to send) allowed at ``now``;
:meth:`next_at` says when to poll again; :meth:`on_text` gives a :class:`Reply` for control replies (None for
data), carrying errors and, for LIST_SUBSCRIPTIONS, the ``lost`` streams it has already queued again.

Rate: a sliding log of send times; a frame is sent only if fewer than ``rate`` frames went out in the last
1000 ms, so no 1-second window ever holds more than ``rate`` (default 3/s spot, 7/s futures, below 5 and 10).
Many stream names share one frame, up to ``max_frame_bytes``. Ids increase from 1.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

import msgspec

from cryptoscan.venues.binance.schemas import ControlRequest, encode
from cryptoscan.venues.binance.spec import Venue

SUBSCRIBE = "SUBSCRIBE"
UNSUBSCRIBE = "UNSUBSCRIBE"
LIST_SUBSCRIPTIONS = "LIST_SUBSCRIPTIONS"
DEFAULT_RATE: dict[Venue, int] = {Venue.SPOT: 3, Venue.FUTURES: 7}
WINDOW_MS = 1_000


@dataclass(frozen=True, slots=True)
class Request:
    id: int
    method: str
    params: tuple[str, ...]
    payload: bytes
    sent_at: int


@dataclass(frozen=True, slots=True)
class Reply:
    request: Request
    ok: bool
    code: int | None = None
    msg: str = ""
    lost: tuple[str, ...] = ()  # LIST_SUBSCRIPTIONS: expected but missing on the server (queued again)
    extra: tuple[str, ...] = ()  # LIST_SUBSCRIPTIONS: on the server but not wanted (queued for UNSUBSCRIBE)


class _Error(msgspec.Struct):
    code: int = 0
    msg: str = ""


class _Reply(msgspec.Struct):
    id: int | str | None = None
    result: object = None
    error: _Error | None = None
    code: int | None = None  # older flat error shape: {"code":..,"msg":..,"id":..}
    msg: str | None = None
    stream: str | None = None  # present on combined data frames: not a reply


_DECODER = msgspec.json.Decoder(_Reply)


class Pacer:
    def __init__(
        self,
        venue: Venue,
        *,
        rate: int | None = None,
        max_frame_bytes: int = 4096,
        reply_timeout_ms: int = 10_000,
        check_every_ms: int = 300_000,
    ) -> None:
        self.rate = rate if rate is not None else DEFAULT_RATE[venue]
        if self.rate <= 0:
            raise ValueError("rate must be positive")
        self.max_frame_bytes = max_frame_bytes
        self.reply_timeout_ms = reply_timeout_ms
        self.check_every_ms = check_every_ms
        self.expected: set[str] = set()  # what the server should carry once every queued op is done
        self.confirmed: set[str] = set()  # acknowledged by the server
        self._queued: dict[str, str] = {}  # stream -> SUBSCRIBE / UNSUBSCRIBE, in arrival order
        self._list_due = False
        self._next_check: int | None = None
        self._pending: dict[int, Request] = {}
        self._snapshots: dict[int, frozenset[str]] = {}
        self._sent: deque[int] = deque()
        self._next_id = 1
        self.timeouts = 0
        self.resubscribed = 0

    # --- inputs -----------------------------------------------------------------------------------------

    def subscribe(self, streams: Iterable[str]) -> None:
        for s in streams:
            self.expected.add(s)
            self._queue(s, SUBSCRIBE)

    def unsubscribe(self, streams: Iterable[str]) -> None:
        for s in streams:
            self.expected.discard(s)
            self._queue(s, UNSUBSCRIBE)

    def request_list(self) -> None:
        """Ask for a LIST_SUBSCRIPTIONS check at the next poll (it is also scheduled every check_every_ms)."""
        self._list_due = True

    def note_sent(self, now: int) -> None:
        """Count a frame the I/O layer sent itself (a pong, a SET_PROPERTY) in the rate window."""
        self._sent.append(now)

    def _queue(self, stream: str, method: str) -> None:
        self._queued.pop(stream, None)
        in_flight = any(stream in r.params for r in self._pending.values() if r.method != LIST_SUBSCRIPTIONS)
        already = (stream in self.confirmed) == (method == SUBSCRIBE)
        if already and not in_flight:
            return
        self._queued[stream] = method

    # --- outputs ----------------------------------------------------------------------------------------

    @property
    def pending(self) -> dict[int, Request]:
        return dict(self._pending)

    @property
    def idle(self) -> bool:
        """Nothing queued and nothing awaiting a reply: the connection's subscriptions are settled."""
        return not self._queued and not any(r.method != LIST_SUBSCRIPTIONS for r in self._pending.values())

    def _trim(self, now: int) -> None:
        while self._sent and self._sent[0] <= now - WINDOW_MS:
            self._sent.popleft()

    def _has_work(self, now: int) -> bool:
        return bool(self._queued) or self._list_due or (self._next_check is not None and now >= self._next_check)

    def next_at(self, now: int) -> int | None:
        """When :meth:`poll` may next return frames or expire a reply; None if nothing is scheduled."""
        times: list[int] = [r.sent_at + self.reply_timeout_ms for r in self._pending.values()]
        if self._queued or self._list_due:
            self._trim(now)
            times.append(now if len(self._sent) < self.rate else self._sent[len(self._sent) - self.rate] + WINDOW_MS)
        elif self._next_check is not None:
            times.append(self._next_check)
        return min(times) if times else None

    def start(self, now: int) -> None:
        """The socket is open: schedule periodic LIST_SUBSCRIPTIONS checks from ``now``."""
        self._next_check = now + self.check_every_ms

    def poll(self, now: int) -> list[Request]:
        """Frames to send now (possibly none); also re-queues the streams of requests that never got a reply."""
        for rid, req in list(self._pending.items()):
            if now - req.sent_at >= self.reply_timeout_ms:
                del self._pending[rid]
                self._snapshots.pop(rid, None)
                self.timeouts += 1
                for s in req.params:
                    if s not in self._queued:
                        self._queued[s] = SUBSCRIBE if s in self.expected else UNSUBSCRIBE
        if self._next_check is not None and now >= self._next_check:
            self._list_due = True
            self._next_check = now + self.check_every_ms
        out: list[Request] = []
        self._trim(now)
        while len(self._sent) < self.rate and (self._queued or self._list_due):
            req = self._next_request(now)
            self._sent.append(now)
            self._pending[req.id] = req
            out.append(req)
        return out

    def _next_request(self, now: int) -> Request:
        rid = self._next_id
        self._next_id += 1
        unsubs = [s for s, m in self._queued.items() if m == UNSUBSCRIBE]
        method = UNSUBSCRIBE if unsubs else SUBSCRIBE  # free room before adding
        if not self._queued:  # a due check goes out once the queue is drained
            self._list_due = False
            # the server handles frames in order: everything sent before this one is reflected in its answer
            self._snapshots[rid] = frozenset(self.expected)
            # exactly as Binance documents it: no ``params`` key (ControlRequest would send ``null``)
            payload = msgspec.json.encode({"method": LIST_SUBSCRIPTIONS, "id": rid})
            return Request(rid, LIST_SUBSCRIPTIONS, (), payload, now)
        candidates = unsubs if unsubs else list(self._queued)
        base = len(encode(ControlRequest(method=method, id=rid, params=[])))
        size = base
        params: list[str] = []
        for s in candidates:
            extra = len(msgspec.json.encode(s)) + (1 if params else 0)
            if params and size + extra > self.max_frame_bytes:
                break
            params.append(s)
            size += extra
        for s in params:
            del self._queued[s]
        payload = encode(ControlRequest(method=method, id=rid, params=params))
        return Request(rid, method, tuple(params), payload, now)

    # --- replies ----------------------------------------------------------------------------------------

    def on_text(self, data: bytes | str) -> Reply | None:
        """Feed a text frame; a Reply if it answers one of our requests, None otherwise (data, unknown id).

        A rejected SUBSCRIBE drops its streams from ``expected`` (no endless resubscribe of a bad name);
        the caller decides whether to try them again.
        """
        if isinstance(data, str):
            data = data.encode()
        if b'"id"' not in data:
            return None
        try:
            msg = _DECODER.decode(data)
        except msgspec.DecodeError:
            return None
        if msg.stream is not None or not isinstance(msg.id, int):
            return None
        if msg.error is not None:
            return self.on_reply(msg.id, None, msg.error.code, msg.error.msg)
        if msg.code is not None:
            return self.on_reply(msg.id, None, msg.code, msg.msg or "")
        return self.on_reply(msg.id, msg.result)

    def on_reply(self, rid: int, result: object, code: int | None = None, msg: str = "") -> Reply | None:
        req = self._pending.pop(rid, None)
        if req is None:
            return None
        snapshot = self._snapshots.pop(rid, None)
        if code is not None:
            if req.method == SUBSCRIBE:  # Binance rejects the whole frame: these are not wanted any more
                self.expected.difference_update(req.params)
            return Reply(req, ok=False, code=code, msg=msg)
        if req.method == SUBSCRIBE:
            self.confirmed.update(req.params)
        elif req.method == UNSUBSCRIBE:
            self.confirmed.difference_update(req.params)
        elif snapshot is not None and isinstance(result, list):
            return self._compare(req, snapshot, {s for s in result if isinstance(s, str)})
        return Reply(req, ok=True)

    def _compare(self, req: Request, should_have: frozenset[str], server: set[str]) -> Reply:
        lost = sorted((should_have - server) & self.expected)
        extra = sorted(server - should_have - self.expected)
        self.confirmed = set(server)
        for s in lost:
            if s not in self._queued:
                self._queued[s] = SUBSCRIBE
        for s in extra:
            if s not in self._queued:
                self._queued[s] = UNSUBSCRIBE
        self.resubscribed += len(lost)
        return Reply(req, ok=True, lost=tuple(lost), extra=tuple(extra))
