"""What the store still has to write, sans-I/O: one bounded FIFO of rows per table, with rows in flight.

Each table has its own bound (closed klines get a large one: they are the record; sampled tickers and scan rows
are cheaper to lose). A full table drops its oldest row and counts it. :meth:`RowBuffer.take` hands a batch to
the writer, and its rows still count as pending until :meth:`done` (committed) or :meth:`restore` (the write
failed: the rows go back in front, in order, and the bounds apply again). So a row leaves only once committed.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping

from cryptoscan.sinks.store.rows import Row

Batch = dict[str, list[Row]]


def batch_size(batch: Batch) -> int:
    return sum(len(rows) for rows in batch.values())


def split(batch: Batch) -> tuple[Batch, Batch]:
    """Two halves of a batch (rows in order, tables in order)."""
    flat = [(table, row) for table, rows in batch.items() for row in rows]
    halves: tuple[Batch, Batch] = ({}, {})
    for i, (table, row) in enumerate(flat):
        halves[i >= len(flat) // 2].setdefault(table, []).append(row)
    return halves


class RowBuffer:
    def __init__(self, bounds: Mapping[str, int]) -> None:
        if any(n <= 0 for n in bounds.values()):
            raise ValueError("every table bound must be positive")
        self.bounds = dict(bounds)
        self.fifos: dict[str, deque[Row]] = {t: deque() for t in bounds}
        self.dropped: dict[str, int] = dict.fromkeys(bounds, 0)
        self.waiting = 0  # rows not taken yet
        self.in_flight = 0  # rows taken, not yet committed

    @property
    def pending(self) -> int:
        """Rows not yet committed (waiting, or in a write now)."""
        return self.waiting + self.in_flight

    @property
    def has_work(self) -> bool:
        return self.waiting > 0

    def add(self, table: str, row: Row) -> None:
        fifo = self.fifos[table]
        if len(fifo) >= self.bounds[table]:
            fifo.popleft()
            self.dropped[table] += 1
        else:
            self.waiting += 1
        fifo.append(row)

    def extend(self, table: str, rows: list[Row]) -> None:
        for row in rows:
            self.add(table, row)

    def take(self, limit: int) -> Batch:
        """Up to ``limit`` rows, oldest first, tables in their order; they are in flight until done/restore."""
        batch: Batch = {}
        room = limit
        for table, fifo in self.fifos.items():
            if room <= 0:
                break
            n = min(room, len(fifo))
            if n:
                batch[table] = [fifo.popleft() for _ in range(n)]
                room -= n
        taken = limit - room
        self.waiting -= taken
        self.in_flight += taken
        return batch

    def done(self, batch: Batch) -> None:
        self.in_flight -= batch_size(batch)

    def restore(self, batch: Batch) -> None:
        """A failed batch back in front of its tables; a table over its bound drops its oldest rows."""
        self.in_flight -= batch_size(batch)
        for table, rows in batch.items():
            fifo = self.fifos[table]
            fifo.extendleft(reversed(rows))
            self.waiting += len(rows)
            over = len(fifo) - self.bounds[table]
            for _ in range(max(0, over)):
                fifo.popleft()
            if over > 0:
                self.dropped[table] += over
                self.waiting -= over
