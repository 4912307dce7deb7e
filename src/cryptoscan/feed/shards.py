"""Shard planner: which stream lives on which connection, and the gate on new connection attempts.

Driven by: :meth:`ShardPlanner.plan` with the whole desired stream set per venue, whenever it changes.
Returns: a :class:`PlanDiff`, one :class:`ShardChange` per connection touched, each with the streams to
SUBSCRIBE and UNSUBSCRIBE and whether the connection must be opened (new) or closed (now empty).

Streams are grouped by :class:`ShardKey` (venue, category): futures ``/public`` and ``/market`` streams never
share a connection (a stream on the wrong routed path is acknowledged and then silently gets nothing); the
futures ``/private`` user-data connection is not planned here. Assignment is sticky: a stream stays on its
connection until it is removed; new streams fill connections already touched by this plan, then the ones with the most
room, then new connections. Each connection carries at most ``min(chunk_size, streams_per_connection)`` streams.

:class:`ConnectGate` spaces connection attempts: at most one per ``interval_ms`` per venue and at most the
venue's ``connection_attempts_per_5m`` in any 5 minutes. Ask :meth:`ConnectGate.ready_at`, then
:meth:`ConnectGate.acquire` when you actually connect.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from cryptoscan.venues.binance.spec import FUTURES_CATEGORY, LIMITS, Category, Venue, VenueLimits, parse_stream


@dataclass(frozen=True, slots=True, order=True)
class ShardKey:
    venue: Venue
    category: Category


def category_of(venue: Venue, stream: str) -> Category:
    """The connection category of a stream name; ValueError for names we do not know."""
    parsed = parse_stream(stream)
    if parsed is None:
        raise ValueError(f"unknown stream {stream!r}")
    return Category.SPOT if venue is Venue.SPOT else FUTURES_CATEGORY[parsed.kind]


@dataclass(slots=True)
class Shard:
    shard_id: str
    key: ShardKey
    streams: set[str] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class ShardChange:
    shard_id: str
    key: ShardKey
    subscribe: tuple[str, ...] = ()
    unsubscribe: tuple[str, ...] = ()
    opened: bool = False  # a new connection: open it, then SUBSCRIBE ``subscribe``
    closed: bool = False  # now empty: close it (no UNSUBSCRIBE needed)


@dataclass(frozen=True, slots=True)
class PlanDiff:
    changes: tuple[ShardChange, ...]

    @property
    def opened(self) -> tuple[str, ...]:
        return tuple(c.shard_id for c in self.changes if c.opened)

    @property
    def closed(self) -> tuple[str, ...]:
        return tuple(c.shard_id for c in self.changes if c.closed)

    def __bool__(self) -> bool:
        return bool(self.changes)


class ShardPlanner:
    """Holds the current assignment; each :meth:`plan` call moves it to a new desired set."""

    def __init__(self, chunk_size: int = 200, limits: Mapping[Venue, VenueLimits] = LIMITS) -> None:
        if chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        self.chunk_size = chunk_size
        self.limits = limits
        self._shards: dict[str, Shard] = {}
        self._where: dict[tuple[Venue, str], str] = {}  # (venue, stream) -> shard id
        self._next = 0

    def capacity(self, venue: Venue) -> int:
        return min(self.chunk_size, self.limits[venue].streams_per_connection)

    @property
    def shards(self) -> Mapping[str, Shard]:
        return self._shards

    def shard_of(self, venue: Venue, stream: str) -> str | None:
        return self._where.get((venue, stream))

    def plan(self, desired: Mapping[Venue, Iterable[str]]) -> PlanDiff:
        """Move to ``desired`` (venues absent from it are left alone; pass an empty set to drop a venue)."""
        subs: dict[str, list[str]] = {}
        unsubs: dict[str, list[str]] = {}
        opened: set[str] = set()
        for venue, streams in desired.items():
            wanted = set(streams)
            by_key: dict[ShardKey, list[str]] = {}
            for stream in sorted(wanted):
                by_key.setdefault(ShardKey(venue, category_of(venue, stream)), []).append(stream)
            # removals first: they free room that additions may reuse
            for (v, stream), sid in list(self._where.items()):
                if v is venue and stream not in wanted:
                    self._shards[sid].streams.discard(stream)
                    del self._where[(v, stream)]
                    unsubs.setdefault(sid, []).append(stream)
            for key, names in sorted(by_key.items()):
                new = [s for s in names if (venue, s) not in self._where]
                self._place(key, new, subs, opened, touched=set(unsubs))
        changes: list[ShardChange] = []
        for sid in sorted(set(subs) | set(unsubs), key=self._order):
            shard = self._shards[sid]
            is_new = sid in opened
            if not shard.streams:
                del self._shards[sid]
                if not is_new:
                    changes.append(ShardChange(sid, shard.key, closed=True))
                continue
            changes.append(
                ShardChange(
                    sid,
                    shard.key,
                    subscribe=tuple(subs.get(sid, ())),
                    unsubscribe=() if is_new else tuple(sorted(unsubs.get(sid, ()))),
                    opened=is_new,
                )
            )
        return PlanDiff(tuple(changes))

    def _order(self, sid: str) -> int:
        return int(sid.rsplit("-", 1)[1])

    def _place(
        self, key: ShardKey, new: list[str], subs: dict[str, list[str]], opened: set[str], touched: set[str]
    ) -> None:
        cap = self.capacity(key.venue)
        # fewest connections touched: first those already getting a frame in this plan, then the roomiest
        existing = sorted(
            (s for s in self._shards.values() if s.key == key and len(s.streams) < cap),
            key=lambda s: (s.shard_id not in touched, len(s.streams), self._order(s.shard_id)),
        )
        pos = 0
        for shard in existing:
            if pos >= len(new):
                break
            take = new[pos : pos + cap - len(shard.streams)]
            pos += len(take)
            self._assign(shard, take, subs)
        while pos < len(new):
            shard = Shard(f"{key.venue.value}-{key.category.value}-{self._next}", key)
            self._next += 1
            self._shards[shard.shard_id] = shard
            opened.add(shard.shard_id)
            take = new[pos : pos + cap]
            pos += len(take)
            self._assign(shard, take, subs)

    def _assign(self, shard: Shard, streams: list[str], subs: dict[str, list[str]]) -> None:
        shard.streams.update(streams)
        for s in streams:
            self._where[(shard.key.venue, s)] = shard.shard_id
        subs.setdefault(shard.shard_id, []).extend(streams)


class ConnectGate:
    """At most one connection attempt per ``interval_ms`` per venue, and the venue's 5-minute attempt cap."""

    WINDOW_MS = 300_000

    def __init__(self, interval_ms: int = 1_000, limits: Mapping[Venue, VenueLimits] = LIMITS) -> None:
        self.interval_ms = interval_ms
        self.limits = limits
        self._attempts: dict[Venue, deque[int]] = {}

    def ready_at(self, venue: Venue, now: int) -> int:
        """The earliest time (>= now) an attempt on ``venue`` is allowed."""
        log = self._attempts.get(venue)
        if not log:
            return now
        while log and log[0] <= now - self.WINDOW_MS:
            log.popleft()
        at = now
        if log:
            at = max(at, log[-1] + self.interval_ms)
            cap = self.limits[venue].connection_attempts_per_5m
            if len(log) >= cap:
                at = max(at, log[len(log) - cap] + self.WINDOW_MS)
        return at

    def acquire(self, venue: Venue, now: int) -> bool:
        """Record an attempt at ``now`` if allowed; False (nothing recorded) if the caller must wait."""
        if self.ready_at(venue, now) > now:
            return False
        self._attempts.setdefault(venue, deque()).append(now)
        return True
