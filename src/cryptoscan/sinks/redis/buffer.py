"""What the Redis sink still has to write, sans-I/O: coalesced latest values plus a bounded FIFO of entries.

- :class:`~cryptoscan.sinks.redis.keys.Put` commands coalesce per key (the newest value wins); at most
  ``max_keys`` distinct keys wait, beyond that the oldest key is dropped and counted.
- :class:`~cryptoscan.sinks.redis.keys.Append` commands queue in order; at most ``max_pending`` wait, beyond
  that the oldest is dropped and counted.

:meth:`PendingBuffer.take` hands a batch to the writer; the batch still counts as pending until the writer
reports :meth:`done` (the pipeline succeeded) or :meth:`restore` (it failed: the batch goes back in front,
newer values of the same keys win, and the bounds apply again). So an entry leaves only once acknowledged.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from itertools import islice

from cryptoscan.sinks.redis.keys import Append, Command, Put


@dataclass(slots=True)
class Batch:
    puts: list[Put] = field(default_factory=list)
    appends: list[Append] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.puts) + len(self.appends)


class PendingBuffer:
    def __init__(self, max_pending: int = 100_000, max_keys: int = 100_000) -> None:
        if max_pending <= 0 or max_keys <= 0:
            raise ValueError("max_pending and max_keys must be positive")
        self.max_pending = max_pending
        self.max_keys = max_keys
        self.latest: dict[str, Put] = {}
        self.fifo: deque[Append] = deque()
        self.in_flight = 0
        self.dropped = 0

    @property
    def pending(self) -> int:
        """Commands not yet acknowledged by Redis (waiting, or in a pipeline now)."""
        return len(self.latest) + len(self.fifo) + self.in_flight

    @property
    def has_work(self) -> bool:
        return bool(self.latest) or bool(self.fifo)

    def add(self, cmd: Command) -> None:
        if isinstance(cmd, Put):
            self.put(cmd)
        else:
            self.append(cmd)

    def put(self, cmd: Put) -> None:
        latest = self.latest
        if cmd.key not in latest and len(latest) >= self.max_keys:
            del latest[next(iter(latest))]
            self.dropped += 1
        latest[cmd.key] = cmd

    def append(self, cmd: Append) -> None:
        fifo = self.fifo
        if len(fifo) >= self.max_pending:
            fifo.popleft()
            self.dropped += 1
        fifo.append(cmd)

    def take(self, limit: int) -> Batch:
        """Up to ``limit`` commands, entries first (oldest first), then latest values; now in flight."""
        fifo = self.fifo
        n = min(len(fifo), limit)
        appends = [fifo.popleft() for _ in range(n)]
        room = limit - n
        latest = self.latest
        if room >= len(latest):
            puts = list(latest.values())
            latest.clear()
        else:
            puts = [latest.pop(k) for k in list(islice(latest, room))]
        batch = Batch(puts, appends)
        self.in_flight += len(batch)
        return batch

    def done(self, batch: Batch) -> None:
        self.in_flight -= len(batch)

    def restore(self, batch: Batch) -> None:
        """A failed batch back in front; a key written again meanwhile keeps its newer value."""
        self.in_flight -= len(batch)
        fifo = self.fifo
        fifo.extendleft(reversed(batch.appends))
        while len(fifo) > self.max_pending:
            fifo.popleft()
            self.dropped += 1
        latest = self.latest
        for p in batch.puts:
            if p.key not in latest:
                self.put(p)
