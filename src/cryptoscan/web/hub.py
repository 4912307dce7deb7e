"""Dashboard clients: one bounded queue each, so a slow or vanished browser tab never slows the scanner.

Why drop rather than wait: :meth:`Hub.publish` runs inside the scanner's listener, on the scanner's loop. It
only ``put_nowait``s one already-encoded frame per client (the frame is encoded once for all of them). A
client whose queue is full has fallen ``queue_size`` frames behind: waiting for it would stall every pass,
and skipping frames would leave its table wrong, since frames are diffs. So it is dropped and counted; its
page reconnects and starts again from a fresh snapshot.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptoscan.log import get_logger

log = get_logger(__name__)


@dataclass(eq=False)
class Client:
    """One connected page on one topic: the frames waiting for it, and whether it was dropped."""

    id: int
    topic: str
    queue: asyncio.Queue[bytes]
    dropped: asyncio.Event = field(default_factory=asyncio.Event)
    sent: int = 0
    sent_bytes: int = 0


@dataclass
class HubStats:
    connected: int = 0  # ever
    dropped: int = 0  # slow clients dropped (their queue was full)
    published: int = 0  # frames offered to clients
    published_bytes: int = 0


class Hub:
    """Topics (``table``, ``pair:spot:BTCUSDT``) -> clients, each with a bounded frame queue."""

    def __init__(self, queue_size: int = 64) -> None:
        if queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        self.queue_size = queue_size
        self.stats = HubStats()
        self._topics: dict[str, set[Client]] = {}
        self._ids = itertools.count(1)
        self.on_empty: Callable[[str], None] | None = None  # a topic lost its last client

    def join(self, topic: str, first: bytes | None = None) -> Client:
        """A new client on ``topic``; ``first`` (its snapshot) is queued before anything published after."""
        client = Client(next(self._ids), topic, asyncio.Queue(self.queue_size))
        if first is not None:
            client.queue.put_nowait(first)
        self._topics.setdefault(topic, set()).add(client)
        self.stats.connected += 1
        return client

    def leave(self, client: Client) -> None:
        clients = self._topics.get(client.topic)
        if clients is None or client not in clients:
            return
        clients.discard(client)
        if not clients:
            del self._topics[client.topic]
            if self.on_empty is not None:
                self.on_empty(client.topic)

    def drop(self, client: Client) -> None:
        """Stop serving ``client`` (its sender sees ``dropped`` and closes the socket) and count it."""
        if client.dropped.is_set():
            return
        client.dropped.set()
        self.stats.dropped += 1
        self.leave(client)
        log.warning("dashboard client dropped: too slow", client=client.id, topic=client.topic,
                    queued=client.queue.qsize())  # fmt: skip

    def publish(self, topic: str, frame: bytes) -> int:
        """Offer ``frame`` to every client of ``topic`` without waiting; returns how many took it."""
        clients = self._topics.get(topic)
        if not clients:
            return 0
        took = 0
        for client in list(clients):
            try:
                client.queue.put_nowait(frame)
                took += 1
            except asyncio.QueueFull:
                self.drop(client)
        self.stats.published += took
        self.stats.published_bytes += took * len(frame)
        return took

    def has(self, topic: str) -> bool:
        return bool(self._topics.get(topic))

    def topics(self, prefix: str = "") -> list[str]:
        return [t for t in self._topics if t.startswith(prefix)]

    def clients(self, topic: str) -> list[Client]:
        return sorted(self._topics.get(topic, ()), key=lambda c: c.id)

    def count(self, topic: str | None = None) -> int:
        if topic is not None:
            return len(self._topics.get(topic, ()))
        return sum(len(c) for c in self._topics.values())
