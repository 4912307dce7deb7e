"""``StoreSink``: closed klines, sampled tickers, scan rows and alerts in (sync, never blocking), batches out.

``offer(event)`` turns an event into a row (closed klines only; a 24 h or mini ticker at most once per pair per
``ticker_sample_s`` of exchange time; anything else is counted as ignored) and parks it in a
:class:`.buffer.RowBuffer`. One background task writes what is waiting as one transaction: once
``batch_rows`` rows wait, or ``flush_interval_s`` after the first row arrived, whichever comes first.

A row leaves the buffer only after its transaction committed, so what the store acknowledged survives a crash
or a restart, and what it did not is still in the buffer. On an outage (see each backend's ``transient``) the
batch goes back in front, the connection is dropped, and the writer waits a jittered, capped delay
(``feed/backoff.py``'s policy) before reopening and trying again; offers keep buffering meanwhile (bounded,
oldest dropped and counted) and nothing is raised into the caller. A resend after a lost acknowledgement is
harmless: every table has a primary key and inserts skip rows already there. A batch the store refuses for
good (not an outage: a row breaking a constraint, say) is halved until the refused rows are alone; those are
logged, counted as errors and let go, and the rest is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from cryptoscan.aio import wait_event
from cryptoscan.clock import Clock, LiveClock
from cryptoscan.events import Kline, MiniTicker, Ticker
from cryptoscan.feed.backoff import Backoff, BackoffPolicy
from cryptoscan.market.snapshot import MarketSnapshot
from cryptoscan.scanner.result import ScanSnapshot
from cryptoscan.sinks.store.backend import Backend, open_backend
from cryptoscan.sinks.store.buffer import Batch, RowBuffer, batch_size, split
from cryptoscan.sinks.store.rows import (
    Row,
    TickerSampler,
    alert_row,
    kline_row,
    scan_rows,
    ticker_row,
    window_rows,
)
from cryptoscan.sinks.store.schema import TABLES

log = logging.getLogger(__name__)

DEFAULT_BACKOFF = BackoffPolicy(initial_ms=200, factor=2.0, max_ms=10_000, jitter=0.5, stable_ms=60_000)


@dataclass(frozen=True, slots=True)
class StoreStats:
    written: dict[str, int]  # rows committed that were new, per table
    duplicates: int  # rows committed that the store already held (replays, resends)
    batches: int  # transactions committed
    dropped: int  # rows dropped by a full buffer (never silently), all tables
    failures: int  # failed open or write attempts (each one retried)
    errors: int  # rows the store refused for good, and events that failed to map
    pending: int  # rows not yet committed
    connected: bool
    reconnects: int = 0  # times a commit went through after failures
    sampled_out: int = 0  # tickers skipped by the sampler
    ignored: int = 0  # events the store does not keep (forming klines, trades, ...)
    dropped_by_table: dict[str, int] = field(default_factory=dict)


class _Registrar(Protocol):
    """What :meth:`StoreSink.attach` needs of the aggregator."""

    def register_kline_callback(self, cb: Callable[[Any], None]) -> object: ...
    def register_ticker_callback(self, cb: Callable[[Any], None]) -> object: ...


class StoreSink:
    def __init__(
        self,
        store: Backend | str | Path,
        *,
        clock: Clock | None = None,
        ticker_sample_s: float = 60.0,
        flush_interval_s: float = 0.5,
        batch_rows: int = 5_000,
        max_klines: int = 1_000_000,
        max_rows: int = 100_000,
        backoff: BackoffPolicy | None = None,
        rand: Callable[[], float] = random.random,
        timeout_s: float = 30.0,
    ) -> None:
        self.backend: Backend = store if not isinstance(store, (str, Path)) else open_backend(store)
        self.clock: Clock = clock or LiveClock()
        self.flush_interval_s = flush_interval_s
        self.batch_rows = batch_rows
        self._timeout_s = timeout_s
        self._sampler = TickerSampler(round(ticker_sample_s * 1000))
        self._buf = RowBuffer({t: (max_klines if t == "klines" else max_rows) for t in TABLES})
        self._backoff = Backoff(backoff or DEFAULT_BACKOFF, rand)
        self._wake = asyncio.Event()  # something waits
        self._full = asyncio.Event()  # a whole batch waits (or stop was asked)
        self._idle = asyncio.Event()  # nothing pending
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._down = False  # failing since the last commit
        self._live_marked = False  # the backoff knows the current live period
        self._flushing = 0  # flush() callers waiting: no lingering meanwhile
        self._written = dict.fromkeys(TABLES, 0)
        self._n = dict.fromkeys(
            ("duplicates", "batches", "failures", "errors", "reconnects", "sampled_out", "ignored"), 0)  # fmt: skip

    # --- producer side (sync, never blocks, never raises) ---------------------------------------------------
    def offer(self, event: object) -> None:
        """A closed kline is kept; a ticker is sampled; anything else is counted as ignored."""
        try:
            if isinstance(event, Kline):
                if not event.closed:
                    self._n["ignored"] += 1
                    return
                self._buf.add("klines", kline_row(event))
            elif isinstance(event, (Ticker, MiniTicker)):
                if not self._sampler.take(event):
                    self._n["sampled_out"] += 1
                    return
                self._buf.add("tickers", ticker_row(event))
            else:
                self._n["ignored"] += 1
                return
        except Exception:  # a malformed event must not reach the caller
            self._n["errors"] += 1
            log.exception("store sink: cannot map %s", type(event).__name__)
            return
        self._wrote()

    async def offer_market(self, snapshots: Iterable[MarketSnapshot]) -> int:
        """Every closed kline the market rings hold (the REST history included, which the feed loads into its
        state without publishing it), e.g. once after the aggregator started; returns the rows offered. Yields
        to the loop after each ring (600 pairs x 1000 bars is 600k rows: built in one go, a stall)."""
        n = 0
        for snap in snapshots:
            venue = str(snap.venue)
            for interval, by_symbol in snap.rings.items():
                for symbol, view in by_symbol.items():
                    try:
                        rows = window_rows(venue, symbol, interval, view.last_n(view.state.size))
                    except Exception:  # overwritten since (SnapshotExpired), or a malformed ring
                        self._n["errors"] += 1
                        log.exception("store sink: cannot read the %s %s %s ring", venue, symbol, interval)
                        continue
                    self._buf.extend("klines", rows)
                    n += len(rows)
                    self._wrote()
                    await asyncio.sleep(0)
        return n

    def offer_scan(self, snapshot: ScanSnapshot) -> None:
        """The rows the snapshot shows (its levels), one per pair, at the snapshot's time."""
        try:
            self._buf.extend("scans", scan_rows(snapshot))
        except Exception:
            self._n["errors"] += 1
            log.exception("store sink: cannot map a scan snapshot")
            return
        self._wrote()

    def offer_alert(self, ts_ms: int, venue: str, symbol: str, level: str, kind: str, message: str,
                    payload: Mapping[str, Any] | None = None) -> None:  # fmt: skip
        """One alert; ``payload`` (JSON-ready) keeps whatever the rule wants to explain itself with."""
        try:
            self._buf.add("alerts", alert_row(ts_ms, venue, symbol, level, kind, message, payload))
        except Exception:
            self._n["errors"] += 1
            log.exception("store sink: cannot map an alert")
            return
        self._wrote()

    def offer_outcome(self, row: Row) -> None:
        """One alert outcome, a row of the ``outcomes`` table (live tracking)."""
        self._buf.add("outcomes", row)
        self._wrote()

    def _wrote(self) -> None:
        self._idle.clear()
        self._wake.set()
        if self._buf.waiting >= self.batch_rows:
            self._full.set()

    def attach(self, aggregator: _Registrar) -> None:
        """Register :meth:`offer` for klines and tickers (scan snapshots and alerts are offered by their owners)."""
        aggregator.register_kline_callback(self.offer)
        aggregator.register_ticker_callback(self.offer)

    @property
    def stats(self) -> StoreStats:
        n, buf = self._n, self._buf
        return StoreStats(
            written=dict(self._written), duplicates=n["duplicates"], batches=n["batches"],
            dropped=sum(buf.dropped.values()), failures=n["failures"], errors=n["errors"], pending=buf.pending,
            connected=self.backend.is_open, reconnects=n["reconnects"], sampled_out=n["sampled_out"],
            ignored=n["ignored"], dropped_by_table=dict(buf.dropped),
        )  # fmt: skip

    # --- lifecycle ------------------------------------------------------------------------------------------
    async def start(self) -> None:
        """Open the store (one that is unavailable is not an error: the writer keeps trying) and start writing."""
        if self._task is not None:
            return
        self._stopping = False
        await self._open()
        self._task = asyncio.create_task(self._run(), name="store-sink")

    async def stop(self, timeout_s: float = 10.0) -> None:
        """Write what is pending within ``timeout_s``, then close; what is left is counted in ``pending``."""
        task = self._task
        if task is None:
            await self.backend.close()
            return
        self._stopping = True
        self._wake.set()
        self._full.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout_s)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._task = None
        await self.backend.close()

    async def flush(self, timeout_s: float | None = None) -> bool:
        """Wait until everything offered so far is committed; False if ``timeout_s`` passed first."""
        self._flushing += 1
        self._full.set()  # no lingering: write now
        try:
            return await wait_event(self._idle, timeout_s)
        finally:
            self._flushing -= 1
        return True

    async def __aenter__(self) -> StoreSink:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- the writer -----------------------------------------------------------------------------------------
    async def _run(self) -> None:
        buf = self._buf
        while True:
            if not buf.has_work:
                self._idle.set()
                if self._stopping:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            if buf.waiting < self.batch_rows and not (self._stopping or self._flushing or self._full.is_set()):
                await wait_event(self._full, self.flush_interval_s)  # linger to gather a batch
            self._full.clear()
            if not await self._write(buf.take(self.batch_rows)):
                await asyncio.sleep(self._backoff.next_delay(self.clock.now_ms()) / 1000)
            elif buf.waiting >= self.batch_rows:
                self._full.set()

    async def _open(self) -> bool:
        if self.backend.is_open:
            return True
        try:
            async with asyncio.timeout(self._timeout_s):
                await self.backend.open()
        except Exception as exc:
            self._failed(exc, "open")
            await self.backend.disconnect()
            return False
        return True

    async def _write(self, batch: Batch) -> bool:
        """One transaction for the batch; True when it is settled (committed, or refused for good)."""
        if not await self._open():
            self._buf.restore(batch)
            return False
        return await self._commit(batch)

    async def _commit(self, batch: Batch) -> bool:
        try:
            async with asyncio.timeout(self._timeout_s):
                new = await self.backend.write(batch)
        except Exception as exc:
            if self.backend.transient(exc):
                self._buf.restore(batch)
                self._failed(exc, "write")
                await self.backend.disconnect()
                return False
            # a row the store refuses (or a bug): halve the batch until the refused rows are alone
            if batch_size(batch) > 1:
                first, second = split(batch)
                if not await self._commit(first):
                    self._buf.restore(second)
                    return False
                return await self._commit(second)
            log.error("store sink: %s refused %s: %s: %s", self.backend.name, batch, type(exc).__name__, exc)
            self._buf.done(batch)
            self._n["errors"] += 1
            return True
        self._buf.done(batch)
        self._live()
        for table, rows in batch.items():
            fresh = new.get(table, 0)
            self._written[table] += fresh
            self._n["duplicates"] += len(rows) - fresh
        self._n["batches"] += 1
        return True

    def _failed(self, exc: BaseException, what: str) -> None:
        self._n["failures"] += 1
        if not self._down:  # once per outage; the stats count every attempt
            log.warning("store sink: cannot %s %s (%s: %s); keeping %d rows and retrying", what,
                        self.backend.location, type(exc).__name__, exc, self._buf.pending)  # fmt: skip
        self._down = True
        self._live_marked = False

    def _live(self) -> None:
        """A commit went through: a live period starts (the backoff resets once it lasts), an outage ends."""
        if self._live_marked:
            return
        self._live_marked = True
        self._backoff.on_live(self.clock.now_ms())
        if self._down:
            self._down = False
            self._n["reconnects"] += 1
            log.info("store sink: %s is back; %d rows pending", self.backend.location, self._buf.pending)
