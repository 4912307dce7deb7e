"""Hand events to registered consumers without ever blocking the read loop on a slow one.

Each consumer has its own bounded queue drained by its own asyncio task, and a delivery policy fixed by
what the event is (the caller cannot get it wrong):

- latest-value kinds (tickers, mini tickers, book tops, depth, mark prices, forming klines) COALESCE per
  key: a slow consumer gets the newest value, the older ones are dropped and counted as ``coalesced``;
- closed klines and user data are NEVER dropped: ``await publish(event)`` waits for queue space
  (backpressure), while :meth:`Dispatcher.publish_nowait` refuses them with :class:`ReliableEventError`;
- trades, errors and status changes are bounded FIFOs: when full the oldest is dropped and counted.

A closed kline supersedes the pending forming kline of the same symbol and interval, so a consumer always
sees ``open(t)... closed(t), open(t+1)`` in that order. A callback that raises is counted, logged and
reported on the ERROR channel; it never stops its consumer. Sync and async callables are both accepted.
"""

from __future__ import annotations

import asyncio
import enum
import inspect
import itertools
import logging
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from cryptoscan.events import (
    USER_EVENTS,
    BookTop,
    ConnectionStatus,
    Depth,
    Event,
    Kline,
    MarkPrice,
    MiniTicker,
    ServerShutdown,
    Ticker,
    Trade,
)

log = logging.getLogger(__name__)

DEFAULT_CAPACITY = 1024


class Channel(enum.StrEnum):
    """What a consumer registers for."""

    TICKER = "ticker"
    MINI_TICKER = "mini_ticker"
    BOOK_TOP = "book_top"
    DEPTH = "depth"
    KLINE = "kline"
    TRADE = "trade"
    MARK_PRICE = "mark_price"
    USER = "user"
    ERROR = "error"
    STATUS = "status"


@dataclass(frozen=True, slots=True)
class FeedError:
    """An error worth telling consumers about (a parse failure, a callback that raised, ...)."""

    source: str
    detail: str
    error: BaseException | None = None
    ts_recv: int = 0


Item = Event | FeedError
Callback = Callable[[Any], object]  # sync, or returning an awaitable

_CHANNEL: dict[type, Channel] = {
    Ticker: Channel.TICKER,
    MiniTicker: Channel.MINI_TICKER,
    BookTop: Channel.BOOK_TOP,
    Depth: Channel.DEPTH,
    Kline: Channel.KLINE,
    Trade: Channel.TRADE,
    MarkPrice: Channel.MARK_PRICE,
    FeedError: Channel.ERROR,
    ConnectionStatus: Channel.STATUS,
    ServerShutdown: Channel.STATUS,
    **dict.fromkeys(USER_EVENTS, Channel.USER),
}


class ReliableEventError(TypeError):
    """A never-drop event was handed to ``publish_nowait``: use ``await publish(event)``."""


class DispatcherClosed(RuntimeError):
    """Published after ``stop()``."""


def channel_of(item: Item) -> Channel:
    return _CHANNEL[type(item)]


def is_reliable(item: Item) -> bool:
    """Closed klines and user data are never dropped."""
    return isinstance(item, USER_EVENTS) or (isinstance(item, Kline) and item.closed)


def coalesce_key(item: Item) -> Hashable | None:
    """The key under which only the newest value matters; None for queued kinds."""
    if isinstance(item, Ticker):
        return (item.venue, item.symbol, item.window)
    if isinstance(item, MiniTicker | BookTop | Depth):
        return (item.venue, item.symbol)
    if isinstance(item, MarkPrice):
        return item.symbol
    if isinstance(item, Kline) and not item.closed:
        return (item.venue, item.symbol, item.interval)
    return None


@dataclass(frozen=True, slots=True)
class ConsumerStats:
    name: str
    channel: Channel
    delivered: int
    coalesced: int  # older values replaced by newer ones before delivery
    dropped: int  # bounded FIFO overflow (trades, errors, status)
    errors: int  # callback raised
    queue_depth: int
    max_depth: int
    producer_waits: int  # times a reliable publish had to wait for space


_RELIABLE, _DROPPABLE, _COALESCED = 0, 1, 2
TURN_BUDGET_S = 0.002  # how long one consumer may deliver before it yields to the loop
_EMPTY = object()


class Consumer:
    """One registered callback, its queue and its task. Obtained from :meth:`Dispatcher.register`."""

    def __init__(self, name: str, channel: Channel, callback: Callback, capacity: int, on_error: Callback) -> None:
        if capacity <= 0:
            raise ValueError("capacity must be positive")
        self.name = name
        self.channel = channel
        self.callback = callback
        self.capacity = capacity
        self._on_error = on_error
        self._slots: deque[tuple[int, int, Any]] = deque()  # (policy, slot id, item or coalesce key)
        self._pending: dict[Hashable, tuple[int, Item]] = {}  # coalesce key -> (slot id, newest value)
        self._ids = itertools.count()
        self._live = 0
        self._reliable = 0
        self._droppable = 0
        self._wake = asyncio.Event()
        self._space = asyncio.Event()
        self._space.set()
        self._closing = False
        self._closed = False
        self.task: asyncio.Task[None] | None = None
        self.delivered = self.coalesced = self.dropped = self.errors = 0
        self.max_depth = self.producer_waits = 0

    @property
    def depth(self) -> int:
        return self._live

    def stats(self) -> ConsumerStats:
        return ConsumerStats(
            self.name,
            self.channel,
            self.delivered,
            self.coalesced,
            self.dropped,
            self.errors,
            self._live,
            self.max_depth,
            self.producer_waits,
        )

    # --- producer side (never blocks, except put_reliable by design) --------------------------------------
    def _added(self) -> None:
        self._live += 1
        self.max_depth = max(self.max_depth, self._live)
        self._wake.set()

    def offer(self, item: Item) -> None:
        """Queue a lossy item: coalesce it, or append it to the bounded FIFO dropping the oldest."""
        key = coalesce_key(item)
        if key is not None:
            self.offer_keyed(key, item)
            return
        if self._droppable >= self.capacity:
            self._drop_oldest()
        self._slots.append((_DROPPABLE, 0, item))
        self._droppable += 1
        self._added()

    def offer_keyed(self, key: Hashable, item: Item) -> None:
        """Coalesce ``item`` under ``key`` (the caller computed it): only the newest per key is delivered."""
        held = self._pending.get(key)
        if held is not None:
            self._pending[key] = (held[0], item)
            self.coalesced += 1
            return
        slot = next(self._ids)
        self._pending[key] = (slot, item)
        self._slots.append((_COALESCED, slot, key))
        self._added()

    def _drop_oldest(self) -> None:
        for i, (policy, _, _) in enumerate(self._slots):
            if policy == _DROPPABLE:
                del self._slots[i]
                self._droppable -= 1
                self._live -= 1
                self.dropped += 1
                return

    async def put_reliable(self, item: Item) -> None:
        """Queue a never-drop item, waiting while this consumer's queue is full."""
        while self._reliable >= self.capacity:
            if self._closed:
                raise DispatcherClosed(f"consumer {self.name} stopped")
            self.producer_waits += 1
            self._space.clear()
            await self._space.wait()
        if self._closed:
            raise DispatcherClosed(f"consumer {self.name} stopped")
        if isinstance(item, Kline):  # the closed kline supersedes its pending forming kline
            key = (item.venue, item.symbol, item.interval)  # coalesce_key of its forming kline
            held = self._pending.get(key)
            if held is not None and isinstance(held[1], Kline) and held[1].open_time <= item.open_time:
                del self._pending[key]
                self._live -= 1
                self.coalesced += 1
        self._slots.append((_RELIABLE, 0, item))
        self._reliable += 1
        self._added()

    # --- consumer side ------------------------------------------------------------------------------------
    def _pop(self) -> Any:
        while self._slots:
            policy, slot, payload = self._slots.popleft()
            if policy == _COALESCED:
                held = self._pending.get(payload)
                if held is None or held[0] != slot:
                    continue  # superseded by a closed kline
                del self._pending[payload]
                payload = held[1]
            elif policy == _RELIABLE:
                self._reliable -= 1
                self._space.set()
            else:
                self._droppable -= 1
            self._live -= 1
            return payload
        return _EMPTY

    async def run(self) -> None:
        """Drain the queue until stopped; yield to the loop after ``TURN_BUDGET_S`` of deliveries, so producers
        keep running, yet a consumer that gets one turn per big socket read still catches up in it."""
        loop = asyncio.get_running_loop()
        burst = 0
        deadline = loop.time() + TURN_BUDGET_S
        while True:
            item = self._pop()
            if item is _EMPTY:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                deadline = loop.time() + TURN_BUDGET_S
                continue
            await self._deliver(item)
            burst += 1
            if burst >= 64:
                burst = 0
                if loop.time() >= deadline:
                    await asyncio.sleep(0)
                    deadline = loop.time() + TURN_BUDGET_S

    async def _deliver(self, item: Item) -> None:
        try:
            result = self.callback(item)
            if inspect.isawaitable(result):
                await result
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.errors += 1
            log.exception("consumer %s raised on %s", self.name, type(item).__name__)
            if self.channel is not Channel.ERROR:
                self._on_error(FeedError(f"consumer:{self.name}", repr(exc), exc))
        else:
            self.delivered += 1

    def close(self, drain: bool) -> None:
        self._closing = True
        if not drain:
            self._closed = True
            self._space.set()  # release waiting producers: they raise DispatcherClosed
        self._wake.set()


class Dispatcher:
    """Routes events to consumers by channel. Create it, register, ``start()`` in the loop, ``await stop()``."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self._consumers: dict[Channel, list[Consumer]] = {c: [] for c in Channel}
        self._running = False
        self._stopped = False
        self.published = 0
        self.unrouted = 0

    def register(
        self, kind: Channel | str, callback: Callback, *, name: str | None = None, capacity: int | None = None
    ) -> Consumer:
        """Add a consumer for one channel (``"ticker"``, ``"kline"``, ...); sync or async callback."""
        channel = Channel(kind)
        label = name or getattr(callback, "__qualname__", None) or repr(callback)
        consumer = Consumer(label, channel, callback, capacity or self.capacity, self._report_error)
        self._consumers[channel].append(consumer)
        if self._running:
            consumer.task = asyncio.get_running_loop().create_task(consumer.run(), name=f"consumer:{label}")
        return consumer

    async def unregister(self, consumer: Consumer) -> None:
        """Remove a consumer now; what it had queued is discarded."""
        self._consumers[consumer.channel].remove(consumer)
        consumer.close(drain=False)
        if consumer.task is not None:
            consumer.task.cancel()
            await asyncio.gather(consumer.task, return_exceptions=True)

    def start(self) -> None:
        """Start every consumer's task (call inside the running loop)."""
        if self._stopped:
            raise DispatcherClosed("dispatcher stopped")
        loop = asyncio.get_running_loop()
        self._running = True
        for consumer in self.consumers():
            if consumer.task is None:
                consumer.task = loop.create_task(consumer.run(), name=f"consumer:{consumer.name}")

    def consumers(self) -> list[Consumer]:
        return [c for group in self._consumers.values() for c in group]

    def stats(self) -> list[ConsumerStats]:
        return [c.stats() for c in self.consumers()]

    def publish_nowait(self, item: Item) -> int:
        """Hand a lossy item (anything but closed klines and user data) to its consumers; never waits.

        Returns how many consumers it went to.
        """
        if is_reliable(item):
            raise ReliableEventError(f"{type(item).__name__} must not be dropped: use await publish()")
        if self._stopped:
            raise DispatcherClosed("dispatcher stopped")
        targets = self._consumers[channel_of(item)]
        self.published += 1
        if not targets:
            self.unrouted += 1
        for consumer in targets:
            consumer.offer(item)
        return len(targets)

    def targets(self, channel: Channel) -> list[Consumer]:
        """The consumers of a channel (the live list: a hot path checks it before building anything)."""
        return self._consumers[channel]

    def publish_keyed(self, channel: Channel, key: Hashable, item: Item) -> None:
        """Hot path for a producer that already knows an item's channel and coalescing key (the feed's
        router): no type tests, no key building. Only for coalescing kinds."""
        targets = self._consumers[channel]
        if not targets or self._stopped:
            return
        self.published += 1
        for consumer in targets:
            consumer.offer_keyed(key, item)

    async def publish(self, item: Item) -> int:
        """Hand any item to its consumers; for never-drop items, wait until each consumer has room."""
        if not is_reliable(item):
            return self.publish_nowait(item)
        if self._stopped:
            raise DispatcherClosed("dispatcher stopped")
        targets = list(self._consumers[channel_of(item)])
        self.published += 1
        if not targets:
            self.unrouted += 1
        for consumer in targets:
            await consumer.put_reliable(item)
        return len(targets)

    def _report_error(self, error: object) -> None:
        if isinstance(error, FeedError):
            for consumer in self._consumers[Channel.ERROR]:
                consumer.offer(error)

    async def stop(self, drain: bool = True, grace: float | None = None) -> None:
        """Stop accepting events; with ``drain``, deliver what is queued first (``grace``: seconds per phase).

        Error consumers stop last, so failures raised while draining still reach them.
        """
        self._stopped = True
        consumers = self.consumers()
        await _close([c for c in consumers if c.channel is not Channel.ERROR], drain, grace)
        await _close([c for c in consumers if c.channel is Channel.ERROR], drain, grace)
        self._running = False

    async def __aenter__(self) -> Dispatcher:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


async def _close(consumers: list[Consumer], drain: bool, grace: float | None) -> None:
    for consumer in consumers:
        consumer.close(drain)
    tasks = [c.task for c in consumers if c.task is not None]
    pending: set[asyncio.Task[None]] = set(tasks)
    if drain and tasks:
        _, pending = await asyncio.wait(tasks, timeout=grace)
    for task in pending:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for consumer in consumers:
        consumer.close(drain=False)  # producers still waiting for room raise DispatcherClosed
