"""Hand events to registered consumers without ever blocking the read loop on a slow one.

Each consumer has its own bounded queue drained by its own asyncio task, and a delivery policy fixed by
what the event is (the caller cannot get it wrong):

- latest-value kinds (tickers, mini tickers, book tops, depth, mark prices, forming klines) COALESCE per
  key: a slow consumer gets the newest value, the older ones are dropped and counted as ``coalesced``;
- closed klines and user data are NEVER dropped: ``await publish(event)`` waits for queue space
  (backpressure), while :meth:`Dispatcher.publish_nowait` refuses them with :class:`ReliableEventError`;
  :meth:`Dispatcher.offer_reliable` hands one over only if every consumer has room, else to none (the feed's
  router queues it then, behind anything it already queued);
- trades, errors and status changes are bounded FIFOs: when full the oldest is dropped and counted.

A closed kline supersedes the pending forming kline of the same symbol and interval, so a consumer always
sees ``open(t)... closed(t), open(t+1)`` in that order. A callback that raises is counted, logged and
reported on the ERROR channel; it never stops its consumer. Sync and async callables are both accepted.
The queue and task of one consumer live in ``consumer.py``; this module routes items to them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable, Mapping
from typing import Any

from cryptoscan.feed.consumer import (
    Callback,
    Channel,
    Consumer,
    ConsumerStats,
    DispatcherClosed,
    FeedError,
    Item,
    ReliableEventError,
    channel_of,
    coalesce_key,
    is_reliable,
)

__all__ = [
    "DEFAULT_CAPACITY",
    "Callback",
    "Channel",
    "Consumer",
    "ConsumerStats",
    "Dispatcher",
    "DispatcherClosed",
    "FeedError",
    "Item",
    "ReliableEventError",
    "channel_of",
    "coalesce_key",
    "is_reliable",
]

DEFAULT_CAPACITY = 1024


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

    def publish_keyed_many(self, channel: Channel, items: Mapping[Any, Item]) -> None:
        """``publish_keyed`` for many (key, item) pairs of one channel: one call per consumer."""
        targets = self._consumers[channel]
        if not targets or self._stopped or not items:
            return
        self.published += len(items)
        for consumer in targets:
            consumer.offer_many(items)

    def offer_reliable(self, item: Item) -> bool:
        """Hand a never-drop item to its consumers now if every one has room; else hand it to none and
        return False (the caller queues it for ``await publish``). The caller keeps the order: nothing of
        the same stream may be waiting in its own queue."""
        if self._stopped:
            return False
        targets = self._consumers[channel_of(item)]
        for consumer in targets:
            if not consumer.has_room:
                return False
        self.published += 1
        if not targets:
            self.unrouted += 1
        for consumer in targets:
            consumer.put_reliable_nowait(item)
        return True

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
