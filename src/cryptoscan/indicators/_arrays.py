"""Array types and the per-row ring shared by every indicator.

Every indicator keeps one entry per row (a row = one symbol's series on one interval). Methods take ``rows``
either as an int index array (unique rows) or, on the bank's fast path, a ``slice`` over a contiguous run of
rows, so the common "every row" case touches whole arrays instead of fancy-indexing them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
Bools = NDArray[np.bool_]
AnyArray = NDArray[Any]  # a state array of any dtype (arrays() listings)
Ids = NDArray[np.intp]
Rows = Ids | slice
"""Row selector: unique int indices, or a slice (the fast path)."""


def least(n: I64) -> int:
    """The smallest bar count among the selected rows (a huge number when none: every warm-up is over)."""
    return int(n.min()) if n.size else 1 << 62


def all_at_least(n: I64, at: int) -> bool:
    """True when every selected row has committed at least ``at`` bars (the warm-up branch can be skipped)."""
    return least(n) >= at


class Ring:
    """A fixed ring of ``size`` slots per row, laid out ``(size, capacity)`` so a reduction over the slots of
    every row is a few whole-array passes. Each row's head is kept as its flat position in ``data`` (slot x
    capacity + row), so reading or writing the head of many rows is one ``take`` or one store, with no
    index arithmetic. ``put`` writes the head and advances it; ``get`` reads it (the oldest value once full)."""

    def __init__(self, capacity: int, size: int, fill: float) -> None:
        self.capacity = capacity
        self.size = size
        self.fill = fill
        self.data: F64 = np.full((size, capacity), fill)
        self._flat: F64 = self.data.reshape(-1)
        self._limit = size * capacity
        self._start: Ids = np.arange(capacity, dtype=np.intp)  # slot 0
        self.pos: Ids = self._start.copy()  # flat index of each row's head

    def get(self, rows: Rows) -> F64:
        """The value at the head of each row (the slot ``put`` writes next)."""
        return self._flat.take(self.pos[rows])

    def put(self, rows: Rows, value: F64) -> None:
        """Write each row's head and advance it."""
        pos = self.pos[rows]  # a view for a slice (advanced in place), else a copy (stored back)
        self._flat[pos] = value
        pos += self.capacity
        np.subtract(pos, self._limit, out=pos, where=pos >= self._limit)
        if not isinstance(rows, slice):
            self.pos[rows] = pos

    def reduce(self, op: Callable[..., F64], rows: Rows, out: F64) -> F64:
        """``op`` (``np.max``, ``np.sum``) over each row's slots into ``out`` (one entry per row), for the rows
        that just changed when they are a run, else for every row (untouched rows get the same value again:
        cheaper than gathering scattered columns). A single column is done with every row too: numpy sums
        one column pairwise, which would round differently from the slot-by-slot sum of a wider run. Returns
        the part of ``out`` written."""
        if isinstance(rows, slice) and rows.stop - rows.start >= 2:
            part = out[rows]
            op(self.data[:, rows], axis=0, out=part)
            return part
        op(self.data, axis=0, out=out)
        return out

    def reset(self, rows: Rows) -> None:
        self.data[:, rows] = self.fill
        self.pos[rows] = self._start[rows]
