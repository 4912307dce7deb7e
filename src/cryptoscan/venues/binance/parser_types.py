"""What the Binance frame parser returns besides ``events.py`` events, and how it counts bad input.

``DepthDiff`` is a market event that belongs in ``events.py`` (next to ``Depth``); it lives here until the
lead moves it, because a diff must never be mistaken for a partial book: applying a top-20 snapshot as a
diff leaves stale levels, and applying a diff as a snapshot drops the book.
"""

from __future__ import annotations

from collections import Counter

from msgspec import Struct

from cryptoscan.events import Event


class DepthDiff(Struct, frozen=True, gc=False):
    """A diff-depth update (``<s>@depth[@100ms]``): quantities replace levels, 0 removes one.

    Sync rules: spot, ``first_update_id`` is the previous ``last_update_id`` + 1; futures,
    ``prev_update_id`` (``pu``) equals the previous ``last_update_id``.
    """

    venue: str
    symbol: str
    bids: tuple[tuple[float, float], ...]
    asks: tuple[tuple[float, float], ...]
    first_update_id: int
    last_update_id: int
    prev_update_id: int | None  # futures ``pu``; None on spot
    ts_event: int
    ts_recv: int


class ControlReply(Struct, frozen=True, gc=False):
    """The answer to a SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS / SET_PROPERTY request.

    ``result`` is what Binance sent (None for a plain acknowledgement, the stream list for
    LIST_SUBSCRIPTIONS); ``error_code`` is set when the request failed. ``id`` is None on the few
    errors Binance sends without one (e.g. a frame it could not parse).
    """

    id: int | str | None
    result: object
    error_code: int | None
    error_msg: str | None
    ts_recv: int

    @property
    def ok(self) -> bool:
        return self.error_code is None


Parsed = Event | DepthDiff | ControlReply
"""Everything ``FrameParser.parse`` can return."""
Out = list[Parsed]


class Unsupported(Exception):
    """A well-formed payload that maps to no event (counted as ``unsupported``)."""


class ParseErrors:
    """Bad frames counted by kind, with the last sample of each kind for a rate-limited log line.

    Kinds: ``too_large`` (rejected before decoding), ``json`` (not JSON), ``schema`` (missing field or
    wrong type), ``unknown_event`` (an ``e`` we do not map), ``unknown_stream`` (a stream name we cannot
    route, or a payload that needs one), ``unsupported`` (a known payload with no event, e.g.
    ``ACCOUNT_CONFIG_UPDATE`` carrying only ``ai``), ``internal`` (a parser bug: never expected).
    """

    SAMPLE_BYTES = 160

    __slots__ = ("counts", "samples", "total")

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.samples: dict[str, str] = {}
        self.total = 0  # every bad frame; a plain int, because the read loop compares it on every frame

    def record(self, kind: str, frame: bytes | bytearray | memoryview, detail: str = "") -> None:
        self.counts[kind] += 1
        self.total += 1
        head = bytes(frame[: self.SAMPLE_BYTES])
        sample = head.decode("utf-8", "replace")
        if len(frame) > self.SAMPLE_BYTES:
            sample += f"... ({len(frame)} bytes)"
        self.samples[kind] = f"{detail}: {sample}" if detail else sample

    def __repr__(self) -> str:
        return f"ParseErrors({dict(self.counts)})"
