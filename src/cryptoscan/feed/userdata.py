"""USD-M futures user-data stream: listenKey lifecycle, the ``/private`` socket, typed account events.

Binance's rules (``shared/BINANCE.md``): ``POST /fapi/v1/listenKey`` creates a key (or returns and extends the
active one), ``PUT`` extends it by 60 minutes and must come at least every 60 minutes (we send it every 30
minutes of clock time), and ``-1125`` or a ``listenKeyExpired`` event means: create a key and reconnect.
The socket is ``<ws_base>/private/ws?listenKey=<key>&events=ORDER_TRADE_UPDATE/ACCOUNT_UPDATE/...``.

Frames are parsed by ``FrameParser(Venue.FUTURES)`` into OrderUpdate / AccountUpdate / MarginCall /
AccountConfig / ListenKeyExpired and handed to ``on_event``; link changes (the feed's
:class:`~cryptoscan.feed.lifecycle.Lifecycle`) reach ``on_status`` as ConnectionStatus. Drops reconnect after
the feed's jittered backoff; a 429/418 waits out Retry-After; a refused API key is fatal (DISCONNECTED, stop).
Neither the API key nor the listenKey (a bearer credential) is ever logged.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pydantic import SecretStr
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from cryptoscan.aio import wait_event
from cryptoscan.clock import Clock
from cryptoscan.events import (
    AccountConfig,
    AccountUpdate,
    ConnectionStatus,
    ListenKeyExpired,
    MarginCall,
    OrderUpdate,
    UserEvent,
)
from cryptoscan.feed.backoff import Backoff, Failure, Verdict, classify_close, classify_exception, classify_handshake
from cryptoscan.feed.lifecycle import Lifecycle, Trigger
from cryptoscan.feed.rest import ApiError, BinanceRest, RateLimited, RestError
from cryptoscan.log import get_logger
from cryptoscan.venues.binance.parser import FrameParser, Parsed
from cryptoscan.venues.binance.spec import Venue

log = get_logger(__name__)

DEFAULT_EVENTS = ("ORDER_TRADE_UPDATE", "ACCOUNT_UPDATE", "MARGIN_CALL", "ACCOUNT_CONFIG_UPDATE")
KEEPALIVE_MS = 30 * 60_000
MAX_FRAME_BYTES = 1 << 20
_USER_TYPES = (OrderUpdate, AccountUpdate, MarginCall, AccountConfig, ListenKeyExpired)
BAD_KEY = -1125


class _Renew(Exception):
    """The listenKey is gone: make a new one and reconnect at once."""


@dataclass(slots=True)
class UserDataCounters:
    keys_created: int = 0
    keepalives: int = 0
    connects: int = 0
    renewals: int = 0  # -1125 or listenKeyExpired
    events: int = 0
    failures: int = 0


class UserDataStream:
    """One futures account's user-data stream; ``await run()`` until ``close()``."""

    def __init__(
        self,
        rest: BinanceRest,
        ws_base: str,
        on_event: Callable[[UserEvent], None],
        *,
        api_key: SecretStr | None = None,
        on_status: Callable[[ConnectionStatus], None] | None = None,
        clock: Clock | None = None,
        events: Sequence[str] = DEFAULT_EVENTS,
        keepalive_ms: int = KEEPALIVE_MS,
        backoff: Backoff | None = None,
        time_scale: float | None = None,
        connection_id: str = "futures-user",
        open_timeout_s: float = 10.0,
        max_wait_s: float = 1.0,
    ) -> None:
        self.rest = rest
        self.ws_base = ws_base.rstrip("/").replace("http://", "ws://", 1).replace("https://", "wss://", 1)
        self.on_event = on_event
        self.on_status = on_status
        self.clock: Clock = clock or rest.clock
        self.time_scale = float(time_scale if time_scale is not None else getattr(self.clock, "speed", 1.0))
        self.events = tuple(events)
        self.keepalive_ms = keepalive_ms
        self.backoff = backoff or Backoff()
        self.connection_id = connection_id
        self.open_timeout_s = open_timeout_s
        self.max_wait_s = max_wait_s
        self.counters = UserDataCounters()
        self.parser = FrameParser(Venue.FUTURES, max_frame_bytes=MAX_FRAME_BYTES)
        self.lifecycle = Lifecycle(self.clock.now_ms())
        self._api_key = api_key
        self._key: str | None = None
        self._closing = asyncio.Event()
        self._ws: ClientConnection | None = None

    @property
    def has_key(self) -> bool:
        return self._key is not None

    def _url(self, key: str) -> str:
        return f"{self.ws_base}/private/ws?listenKey={key}&events={'/'.join(self.events)}"

    # --- the loop -------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Connect, stream, renew and reconnect until close() (or a fatal error)."""
        try:
            while not self._closing.is_set():
                failure = await self._session()
                if self._closing.is_set():
                    break
                now = self.clock.now_ms()
                self.counters.failures += 1
                self._fire(Trigger.FAILED, now, failure.reason, throttled=failure.verdict is Verdict.THROTTLED)
                if failure.verdict is Verdict.FATAL:
                    log.error("user data stream stopped", reason=failure.reason)
                    self._fire(Trigger.CLOSE, now, failure.reason)
                    return
                delay = 0 if failure.reason == "listenKey renewal" else self.backoff.next_delay(now, failure)
                await self._sleep_until(now + delay)
                if self._closing.is_set():
                    break
                self._fire(Trigger.RETRY, self.clock.now_ms(), "retrying")
        finally:
            if self.lifecycle.can(Trigger.CLOSE):
                self._fire(Trigger.CLOSE, self.clock.now_ms(), "closed")

    async def _session(self) -> Failure:
        """One attempt: (re)use or create the key, connect, read and keep alive; returns why it ended."""
        try:
            # POST every time: Binance returns the active key extended, or a new one after expiry
            key = await self.rest.listen_key_create(self._api_key)
            if key != self._key:
                self.counters.keys_created += 1
            self._key = key
            async with connect(
                self._url(self._key), open_timeout=self.open_timeout_s, max_size=MAX_FRAME_BYTES, compression=None
            ) as ws:
                self._ws = ws
                self.counters.connects += 1
                now = self.clock.now_ms()
                self._fire(Trigger.OPENED, now, "open")
                self._fire(Trigger.SUBSCRIBED, now, "live")
                self.backoff.on_live(now)
                reader = asyncio.ensure_future(self._read(ws))
                keeper = asyncio.ensure_future(self._keepalive())
                closing = asyncio.ensure_future(self._closing.wait())
                try:
                    done, _ = await asyncio.wait({reader, keeper, closing}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for t in (reader, keeper, closing):
                        t.cancel()
                    await asyncio.gather(reader, keeper, closing, return_exceptions=True)
                if closing in done:
                    return Failure(Verdict.RETRY, "closing")
                for t in (reader, keeper):
                    if t in done and t.exception() is not None:
                        raise t.exception()  # type: ignore[misc]
                return Failure(Verdict.RETRY, "stream ended")
        except _Renew:
            return self._renew()
        except ApiError as exc:
            if exc.code == BAD_KEY:
                return self._renew()
            return Failure(Verdict.FATAL, f"listenKey refused: {exc.code} {exc.msg}")
        except RateLimited as exc:
            reason = f"HTTP {exc.status}"
            return Failure(Verdict.THROTTLED, reason, round(exc.retry_after_s * 1000 * self.time_scale))
        except RestError as exc:
            return Failure(Verdict.RETRY, f"REST {exc.status or 'transport'} error")
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status == 400 and b"-1125" in (exc.response.body or b""):
                return self._renew()
            return classify_handshake(status, dict(exc.response.headers.raw_items()))
        except ConnectionClosed as exc:
            rcvd = exc.rcvd
            return classify_close(rcvd.code if rcvd is not None else None, rcvd.reason if rcvd is not None else "")
        except InvalidHandshake as exc:
            return Failure(Verdict.RETRY, f"handshake failed: {type(exc).__name__}")
        except (OSError, TimeoutError, EOFError) as exc:
            return classify_exception(exc)
        finally:
            self._ws = None

    def _renew(self) -> Failure:
        self._key = None
        self.counters.renewals += 1
        return Failure(Verdict.RETRY, "listenKey renewal")

    async def _read(self, ws: ClientConnection) -> None:
        out: list[Parsed] = []
        while True:
            frame = await ws.recv(decode=False)
            ts_recv = self.clock.now_ms()
            out.clear()
            self.parser.parse_into(frame, ts_recv, out)
            renew = False
            for item in out:
                if isinstance(item, _USER_TYPES):
                    self.counters.events += 1
                    renew = renew or isinstance(item, ListenKeyExpired)
                    try:
                        self.on_event(item)
                    except Exception:  # a consumer bug must not kill the stream
                        log.exception("user data consumer failed", kind=type(item).__name__)
            if renew:
                raise _Renew

    async def _keepalive(self) -> None:
        """PUT every ``keepalive_ms`` of clock time; -1125 means the key is gone."""
        while True:
            await self._sleep_until(self.clock.now_ms() + self.keepalive_ms)
            try:
                await self.rest.listen_key_keepalive(self._key, self._api_key)
                self.counters.keepalives += 1
            except ApiError as exc:
                if exc.code == BAD_KEY:
                    raise _Renew from None
                raise
            except RestError:
                log.warning("listenKey keepalive failed; retrying at the next period")

    async def _sleep_until(self, due_ms: int) -> None:
        """Sleep until clock time ``due_ms`` (re-reading the clock at least every ``max_wait_s``) or close()."""
        while not self._closing.is_set():
            left = due_ms - self.clock.now_ms()
            if left <= 0:
                return
            real = min(self.max_wait_s, left / 1000 / self.time_scale)
            await wait_event(self._closing, real)

    def _fire(self, trigger: Trigger, now: int, detail: str, *, throttled: bool = False) -> None:
        if not self.lifecycle.can(trigger):
            return
        t = self.lifecycle.fire(trigger, now, throttled=throttled)
        if t.link_changed and self.on_status is not None:
            status = ConnectionStatus(self.connection_id, Venue.FUTURES.value, t.link_after.value, detail, now, now)
            self.on_status(status)

    async def close(self, *, delete_key: bool = False) -> None:
        """Stop ``run()``; optionally DELETE the listenKey (best effort)."""
        self._closing.set()
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()
        if delete_key and self._key is not None:
            with contextlib.suppress(ApiError, RestError, RateLimited):
                await self.rest.listen_key_close(self._key, self._api_key)
            self._key = None


__all__ = ["DEFAULT_EVENTS", "UserDataCounters", "UserDataStream"]
