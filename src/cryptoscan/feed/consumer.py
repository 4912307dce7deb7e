"""One consumer of the :class:`~cryptoscan.feed.dispatch.Dispatcher`: its queue, its policy per item, its task.

Also the vocabulary both share: the channels a consumer registers for, which items are never dropped and the
key under which only the newest value of a latest-value kind matters. The policies themselves are described
in ``dispatch.py``; this module is how one consumer carries them out without blocking the producer.
"""

from __future__ import annotations

import asyncio
import enum
import inspect
import logging
from collections import deque
from collections.abc import Callable, Hashable, Mapping
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


_RELIABLE, _DROPPABLE = 0, 1
TURN_BUDGET_S = 0.002  # how long one consumer may deliver before it yields to the loop
_EMPTY = object()
_DEAD = object()  # the value of a coalesced slot whose forming kline was superseded by its closed kline


class Consumer:
    """One registered callback, its queue and its task. Obtained from :meth:`Dispatcher.register`.

    The queue is one deque of slots in arrival order: a never-drop or bounded item is a ``(policy, item)``
    tuple; a coalesced key is a ``[key, newest value]`` cell, also held in ``_pending`` by key, so a newer
    value for a waiting key is one dict lookup and one store, with nothing allocated.
    """

    def __init__(self, name: str, channel: Channel, callback: Callback, capacity: int, on_error: Callback) -> None:
        if capacity <= 0:
            raise ValueError("capacity must be positive")
        self.name = name
        self.channel = channel
        self.callback = callback
        self.capacity = capacity
        self._on_error = on_error
        self._slots: deque[Any] = deque()  # (policy, item) tuples and [key, value] cells
        self._pending: dict[Hashable, list[Any]] = {}  # coalesce key -> its cell in _slots
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

    @property
    def has_room(self) -> bool:
        """A never-drop item would be taken without waiting."""
        return self._reliable < self.capacity and not self._closed

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
    def _added(self, n: int = 1) -> None:
        self._live += n
        if self._live > self.max_depth:
            self.max_depth = self._live
        self._wake.set()

    def offer(self, item: Item) -> None:
        """Queue a lossy item: coalesce it, or append it to the bounded FIFO dropping the oldest."""
        key = coalesce_key(item)
        if key is not None:
            self.offer_keyed(key, item)
            return
        if self._droppable >= self.capacity:
            self._drop_oldest()
        self._slots.append((_DROPPABLE, item))
        self._droppable += 1
        self._added()

    def offer_keyed(self, key: Hashable, item: Item) -> None:
        """Coalesce ``item`` under ``key`` (the caller computed it): only the newest per key is delivered."""
        cell = self._pending.get(key)
        if cell is not None:
            cell[1] = item
            self.coalesced += 1
            return
        cell = self._pending[key] = [key, item]
        self._slots.append(cell)
        self._added()

    def offer_many(self, items: Mapping[Any, Item]) -> None:
        """``offer_keyed`` for each (key, item), waking the consumer once."""
        pending = self._pending
        append = self._slots.append
        added = 0
        for key, item in items.items():
            cell = pending.get(key)
            if cell is None:
                cell = pending[key] = [key, item]
                append(cell)
                added += 1
            else:
                cell[1] = item
        self.coalesced += len(items) - added
        if added:
            self._added(added)

    def _drop_oldest(self) -> None:
        for i, slot in enumerate(self._slots):
            if type(slot) is tuple and slot[0] == _DROPPABLE:
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
        self.put_reliable_nowait(item)

    def put_reliable_nowait(self, item: Item) -> None:
        """Queue a never-drop item now; only when :attr:`has_room` (the dispatcher checks)."""
        if isinstance(item, Kline):  # the closed kline supersedes its pending forming kline
            key = (item.venue, item.symbol, item.interval)  # coalesce_key of its forming kline
            cell = self._pending.get(key)
            if cell is not None and isinstance(cell[1], Kline) and cell[1].open_time <= item.open_time:
                del self._pending[key]
                cell[1] = _DEAD
                self._live -= 1
                self.coalesced += 1
        self._slots.append((_RELIABLE, item))
        self._reliable += 1
        self._added()

    # --- consumer side ------------------------------------------------------------------------------------
    def _pop(self) -> Any:
        slots = self._slots
        while slots:
            slot = slots.popleft()
            if type(slot) is list:
                item = slot[1]
                if item is _DEAD:
                    continue  # superseded by a closed kline
                del self._pending[slot[0]]
            else:
                policy, item = slot
                if policy == _RELIABLE:
                    self._reliable -= 1
                    self._space.set()
                else:
                    self._droppable -= 1
            self._live -= 1
            return item
        return _EMPTY

    async def run(self) -> None:
        """Drain the queue until stopped; yield to the loop after ``TURN_BUDGET_S`` of deliveries, so producers
        keep running, yet a consumer that gets one turn per big socket read still catches up in it."""
        loop = asyncio.get_running_loop()
        callback = self.callback
        pop = self._pop
        burst = 0
        deadline = loop.time() + TURN_BUDGET_S
        while True:
            item = pop()
            if item is _EMPTY:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                deadline = loop.time() + TURN_BUDGET_S
                continue
            try:  # inline rather than a coroutine per item: a sync callback costs one call
                result = callback(item)
                if result is not None and inspect.isawaitable(result):
                    await result
            except Exception as exc:
                self._failed(item, exc)
            else:
                self.delivered += 1
            burst += 1
            if burst >= 64:
                burst = 0
                if loop.time() >= deadline:
                    await asyncio.sleep(0)
                    deadline = loop.time() + TURN_BUDGET_S

    def _failed(self, item: Item, exc: Exception) -> None:
        self.errors += 1
        log.error("consumer %s raised on %s", self.name, type(item).__name__, exc_info=exc)
        if self.channel is not Channel.ERROR:
            self._on_error(FeedError(f"consumer:{self.name}", repr(exc), exc))

    def close(self, drain: bool) -> None:
        self._closing = True
        if not drain:
            self._closed = True
            self._space.set()  # release waiting producers: they raise DispatcherClosed
        self._wake.set()
