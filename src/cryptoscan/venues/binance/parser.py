"""Binance WebSocket frames (bytes) -> typed, frozen events: the aggregator's hot path.

One ``FrameParser`` per venue, built once (its decoders with it). Each frame is decoded once, by msgspec
in lax mode, straight into a float-typed wire Struct picked by the stream name (see ``parser_routes``),
then turned into one ``events.py`` Struct. Sans-I/O: bytes and ``ts_recv`` in, events out.

Frame shapes handled:

* combined ``/stream`` (spot) and ``/public|/market/stream`` (futures)::

    {"stream":"btcusdt@kline_1m","data":{"e":"kline","E":1653818762502,"s":"BTCUSDT","k":{...}}}

  fast path: the frame's first bytes (``{"stream":"<name>"``, Binance always sends that key first) are
  the key into a cache of routes; anything else goes through a slower probe that accepts any key order
  and whitespace;
* raw ``/ws/<stream>`` payloads: pass the subscribed ``stream`` (needed for spot ``depth20``, which
  carries no symbol, and to tell a futures partial book from a diff), or None to route by ``e``, e.g.
  ``{"e":"aggTrade","E":1616176861895,"s":"BTCUSDT","a":640283266,"p":"58942.01000000",...}``;
  ``{"u":19575390521,"s":"BTCUSDT","b":"29010.90000000","B":"13.94302000","a":..,"A":..}`` (spot book
  ticker: no ``e``, no event time, so ``ts_event = ts_recv``);
* arrays (``!miniTicker@arr``, ``!ticker_<w>@arr``, ``!markPrice@arr``): one event per element;
* control replies ``{"result":null,"id":1}``, ``{"error":{"code":2,"msg":".."},"id":1}``,
  ``{"code":1,"msg":"..","id":1}`` -> ``ControlReply``.

Bad input never raises: each bad frame is counted by kind in ``parser.errors`` and yields nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec

from cryptoscan.venues.binance import parser_wire as w
from cryptoscan.venues.binance.parser_routes import Route, RouteBook
from cryptoscan.venues.binance.parser_types import ControlReply, DepthDiff, Parsed, ParseErrors, Unsupported
from cryptoscan.venues.binance.spec import Venue

__all__ = ["ControlReply", "DepthDiff", "FrameParser", "ParseErrors", "Parsed"]

_COMBINED = b'{"stream":"'
_PREFIX = len(_COMBINED) + 32
"""Hot-path cache key: the frame's first bytes. They hold ``{"stream":"<name>"`` whole for every name up
to 31 characters (checked before a prefix is cached), so the key alone proves the frame's shape and
stream: no ``startswith``, no ``find``. For short names the key also holds the payload's first, constant
bytes (``{"e":"kline``), which changes nothing."""
_EVENT = b'{"e":"'
_SHUTDOWN = "serverShutdown"
_MAX_NAME = 200  # longer stream names or ``e`` values are garbage: not looked up, not cached
_DecodeError = (msgspec.DecodeError, UnicodeDecodeError)  # msgspec raises the latter for bad UTF-8 in strings
_ValidationError = msgspec.ValidationError


class FrameParser:
    """Parses every Binance market and futures user-data frame of one venue.

    ``parse(frame, ts_recv, stream=None)`` returns a new list; ``parse_into`` appends to the caller's
    list, ``parse_many`` does so for every frame of one socket read (the read loop reuses one list).
    ``cold`` counts frames off the hot path: a reader compares it around a call to know whether control
    replies or shutdown notices can be among the events. Items are ``events.py`` events, ``DepthDiff`` or
    ``ControlReply``. ``frame`` is ``bytes`` (websockets: ``recv(decode=False)``).
    """

    DEFAULT_MAX_FRAME_BYTES = 4 << 20

    def __init__(
        self,
        venue: Venue,
        *,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
        max_cached_streams: int = 65_536,
    ) -> None:
        self.venue = venue
        self.max_frame_bytes = max_frame_bytes
        self.max_cached_streams = max_cached_streams
        self.errors = ParseErrors()
        self._book = RouteBook(str(venue.value), spot=venue is Venue.SPOT)
        self._by_e: dict[bytes, Route[Any]] = {e.encode(): r for e, r in self._book.by_event.items()}
        self._streams: dict[bytes | str, Route[Any]] = {}  # by stream name (bytes from frames, str from callers)
        self._by_prefix: dict[bytes, Route[Any]] = {}  # by the first _PREFIX bytes of a combined frame
        self._probe = msgspec.json.Decoder(w.ProbeW | list[w.ElemProbeW])
        self.cold = 0  # frames that missed the hot path; only these can yield ControlReply or ServerShutdown

    def parse(self, frame: bytes, ts_recv: int, stream: str | None = None) -> list[Parsed]:
        out: list[Parsed] = []
        self.parse_into(frame, ts_recv, out, stream)
        return out

    def parse_into(self, frame: bytes, ts_recv: int, out: list[Parsed], stream: str | None = None) -> None:
        """Append the frame's events to ``out`` (nothing for a bad frame, which is counted instead).

        The hot path (a combined frame of a stream already seen) is one dict lookup on the frame's first
        ``_PREFIX`` bytes, one decode and one ``emit``; every other case, and any failure, goes to
        ``_parse_other``.
        """
        route = self._by_prefix.get(frame[:_PREFIX])
        if route is not None and len(frame) <= self.max_frame_bytes:
            try:
                route.emit(route.env(frame).data, ts_recv, out)
                return
            except Exception:
                pass  # classified (and counted) by the slow path below
        self._parse_other(frame, ts_recv, out, stream)

    def parse_many(self, frames: Iterable[bytes], ts_recv: int, out: list[Parsed]) -> None:
        """``parse_into`` for every frame of one socket read, in one call (``ts_recv`` shared)."""
        by_prefix = self._by_prefix
        max_bytes = self.max_frame_bytes
        for frame in frames:
            route = by_prefix.get(frame[:_PREFIX])
            if route is not None and len(frame) <= max_bytes:
                try:
                    route.emit(route.env(frame).data, ts_recv, out)
                    continue
                except Exception:
                    pass  # classified (and counted) by the slow path below
            self._parse_other(frame, ts_recv, out, None)

    def _parse_other(self, frame: bytes, ts_recv: int, out: list[Parsed], stream: str | None) -> None:
        self.cold += 1
        if len(frame) > self.max_frame_bytes:
            self.errors.record("too_large", frame, f"over {self.max_frame_bytes} bytes")
            return
        before = len(out)
        try:
            if frame.startswith(_COMBINED):
                end = frame.find(b'"', 11, 11 + _MAX_NAME)
                name = frame[11:end]
                route = None if end < 0 else self._streams.get(name) or self._learn(name)
                if route is not None:
                    route.emit(route.env(frame).data, ts_recv, out)
                    if 0 < end < _PREFIX and route.event != _SHUTDOWN:  # the prefix holds the whole name: cache it
                        # for the hot path (shutdown notices stay cold: readers look for them only there)
                        self._remember(self._by_prefix, frame[:_PREFIX], route)
                    return
            elif stream is not None:
                route = self._streams.get(stream) or self._learn(stream)
                if route is not None:
                    route.emit(route.raw(frame), ts_recv, out)
                    return
            elif frame.startswith(_EVENT):
                end = frame.find(b'"', 6, 6 + _MAX_NAME)
                route = None if end < 0 else self._by_e.get(frame[6:end])
                if route is not None:
                    route.emit(route.raw(frame), ts_recv, out)
                    return
        except _DecodeError:
            pass  # not the shape the fast path expected: the slow path below finds out what it is
        except Unsupported as exc:
            self.errors.record("unsupported", frame, str(exc))
            return
        except Exception as exc:  # a parser bug must not kill the read loop
            self.errors.record("internal", frame, repr(exc))
            return
        del out[before:]
        try:
            self._slow(frame, ts_recv, out, stream, nested=False)
        except Exception as exc:
            del out[before:]
            self.errors.record("internal", frame, repr(exc))

    # --- routing ------------------------------------------------------------------------------------------

    def _learn(self, key: bytes | str) -> Route[Any] | None:
        """Route a stream name seen for the first time, and cache it."""
        name = key if isinstance(key, str) else key.decode("utf-8", "replace")
        route = self._book.for_stream(name)
        if route is not None:
            self._remember(self._streams, key, route)
        return route

    def _remember(self, cache: dict[Any, Route[Any]], key: bytes | str, route: Route[Any]) -> None:
        if len(cache) >= self.max_cached_streams:
            cache.clear()  # keys come from our own subscriptions: this many means garbage; start over
        cache[key] = route

    # --- the slow path: anything the fast path did not recognise ----------------------------------------------

    def _slow(
        self, buf: bytes | msgspec.Raw, ts_recv: int, out: list[Parsed], stream: str | None, nested: bool
    ) -> None:
        try:
            probe = self._probe.decode(buf)
        except _ValidationError as exc:
            self.errors.record("schema", _bytes(buf), str(exc))
            return
        except _DecodeError as exc:
            self.errors.record("json", _bytes(buf), str(exc))
            return
        if isinstance(probe, list):
            self._array(buf, probe, ts_recv, out)
            return
        if probe.stream is not None and len(probe.data) and not nested:
            self._slow(probe.data, ts_recv, out, probe.stream, nested=True)
            return
        if probe.result is not msgspec.UNSET or probe.error is not None or probe.code is not None:
            self._control(probe, ts_recv, out)
            return
        route = self._pick(buf, probe, stream)
        if route is not None:
            self._run(route, buf, ts_recv, out)

    def _pick(self, buf: bytes | msgspec.Raw, probe: w.ProbeW, stream: str | None) -> Route[Any] | None:
        """The stream's route if the payload agrees with it, else the route its ``e`` names."""
        e = probe.e
        if stream is not None:
            route = self._streams.get(stream) or self._learn(stream)
            if route is not None and (e is None or e == route.event):
                return route
            if route is None and e is None:
                self.errors.record("unknown_stream", _bytes(buf), stream)
                return None
        if e is not None:
            route = self._book.by_event.get(e)
            if route is None:
                self.errors.record("unknown_event", _bytes(buf), e)
            return route
        if probe.u is not None:  # spot bookTicker: the only stream payload with neither ``e`` nor a list
            return self._book.by_event["bookTicker"]
        if probe.last_update_id is not None:
            self.errors.record("unknown_stream", _bytes(buf), "partial book without a stream name")
        else:
            self.errors.record("unknown_event", _bytes(buf), "no 'e' field")
        return None

    def _array(self, buf: bytes | msgspec.Raw, probe: list[w.ElemProbeW], ts_recv: int, out: list[Parsed]) -> None:
        if not probe:
            return  # an empty array: nothing happened
        e = probe[0].e
        route = None if e is None else self._book.by_array_event.get(e)
        if route is None:
            self.errors.record("unknown_event", _bytes(buf), f"array of {e!r}")
            return
        self._run(route, buf, ts_recv, out)

    def _run(self, route: Route[Any], buf: bytes | msgspec.Raw, ts_recv: int, out: list[Parsed]) -> None:
        try:
            route.emit(route.raw(buf), ts_recv, out)
        except _ValidationError as exc:
            self.errors.record("schema", _bytes(buf), str(exc))
        except _DecodeError as exc:
            self.errors.record("json", _bytes(buf), str(exc))
        except Unsupported as exc:
            self.errors.record("unsupported", _bytes(buf), str(exc))

    def _control(self, probe: w.ProbeW, ts_recv: int, out: list[Parsed]) -> None:
        result = None if probe.result is msgspec.UNSET else probe.result
        code: int | None
        msg: str | None
        if probe.error is not None:
            code, msg = probe.error.code, probe.error.msg
        else:
            code, msg = probe.code, probe.msg
        out.append(ControlReply(probe.id, result, code, msg, ts_recv))


def _bytes(buf: bytes | msgspec.Raw) -> bytes:
    return buf if isinstance(buf, bytes) else bytes(buf)
