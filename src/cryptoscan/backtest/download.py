"""``cryptoscan download``: closed klines from Binance's REST API into the store, for backtests.

No second client: requests go through the feed's :class:`BinanceRest` (weight tracking, typed 429/418) and
:class:`Backfiller` (the per-minute weight budget shared with every reply on the client, spreading, Retry-After,
5xx retries). Each symbol pages forward with ``startTime`` and ``endTime``: a page that comes back short ends its
span, so the time before a listing, or an exchange outage, costs one request rather than one per window.

Resumable by construction: what is fetched is what the store lacks in the range (:func:`.load.missing_spans`),
so a rerun after an interruption starts each symbol after its newest stored bar, and also fills any hole (a
request given up, say). Each page is written in one transaction, and inserts skip stored rows: no duplicates.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from cryptoscan.backtest.load import Span, missing_spans
from cryptoscan.clock import Clock, LiveClock
from cryptoscan.config import Settings
from cryptoscan.events import Kline
from cryptoscan.feed.backfill import Backfiller
from cryptoscan.feed.budget import BackfillScheduler, Outcome
from cryptoscan.feed.gaps import MAX_BARS, KlineRequest
from cryptoscan.feed.rest import BinanceRest
from cryptoscan.sinks.store.backend import DEFAULT_PG_SCHEMA, Backend, open_backend
from cryptoscan.sinks.store.rows import kline_row
from cryptoscan.venues.binance.spec import INTERVAL_MS, LIMITS, Venue

DEFAULT_SHARE = 0.8  # of the venue's weight budget; the rest stays free for anything else on this IP


class DownloadError(Exception):
    """A download that cannot run or go on (bad arguments, an unusable store), as one line."""


@dataclass(slots=True)
class DownloadSummary:
    venue: str
    interval: str
    since_ms: int  # first open time asked for (on the interval's grid)
    until_ms: int  # end, exclusive: the asked end, or the newest closed bar
    missing: dict[str, int] = field(default_factory=dict)  # bars the range lacked in the store at the start
    bars: dict[str, int] = field(default_factory=dict)  # rows new to the store, per symbol
    failed: dict[str, str] = field(default_factory=dict)  # symbol -> why it stopped early
    requests: int = 0
    weight: int = 0  # request weight sent
    peak_weight: int = 0  # highest X-MBX-USED-WEIGHT-1M the exchange reported
    throttles: int = 0  # 429/418 answers (each honoured: nothing sent until Retry-After passed)
    retries: int = 0  # 5xx and transport errors sent again
    elapsed_s: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.bars.values())

    def lines(self) -> list[str]:
        """What a person reads at the end."""
        rate = self.total / self.elapsed_s if self.elapsed_s > 0 else 0.0
        fed = sum(1 for n in self.bars.values() if n)
        out = [f"{self.venue} {self.interval}: {self.total} new bars for {fed} of {len(self.missing)} symbols in "
               f"{self.elapsed_s:.1f} s ({rate:,.0f} bars/s); {self.requests} requests, weight {self.weight} "
               f"(exchange peak {self.peak_weight}/min), {self.throttles} throttled, {self.retries} retried"]
        out.extend(f"  {sym}: {why}" for sym, why in sorted(self.failed.items()))
        return out


def page_size(venue: Venue) -> int:
    """Bars per request with the most bars per unit of weight (futures: 499 at weight 2 beats 1000 at 5)."""

    def per_weight(n: int) -> tuple[float, int]:
        return n / KlineRequest(venue, "X", "1m", 0, 0, n).weight, n

    return max((MAX_BARS, 999, 500, 499, 100, 99), key=per_weight)


class _Scheduler(BackfillScheduler):
    """The venue's budget scheduler, unchanged, that also says how each request ended (Backfiller hands its
    consumer an empty list both for "no bars there" and for "given up"; only the scheduler sees which) and
    sums the weight it lets out."""

    def __init__(self, venue: Venue, on_done: Callable[[KlineRequest, Outcome, int], None], *,
                 budget_per_minute: int, max_share: float, max_in_flight: int) -> None:  # fmt: skip
        super().__init__(venue, budget_per_minute=budget_per_minute, max_share=max_share,
                         max_in_flight=max_in_flight)  # fmt: skip
        self.on_done = on_done
        self.weight = 0

    def poll(self, now: int) -> list[KlineRequest]:
        out = super().poll(now)
        self.weight += sum(r.weight for r in out)
        return out

    def on_response(self, request: KlineRequest, now: int, status: int, headers: Mapping[str, str]) -> Outcome:
        outcome = super().on_response(request, now, status, headers)
        if outcome is not Outcome.REQUEUED:
            self.on_done(request, outcome, status)
        return outcome


def _why(status: int) -> str:
    if status == 0:
        return "no answer (connection errors or timeouts), gave up"
    if status >= 500:
        return f"server errors (HTTP {status}), gave up"
    return f"refused by the exchange (HTTP {status}; an unknown symbol?)"


class _Run:
    """One download: a worker per symbol slot pages its symbols forward, one request in flight per symbol.

    One request per symbol at a time is what lets a reply be matched to its request: the Backfiller delivers a
    request's klines in the same step as the scheduler hears its reply, so when the request's future wakes its
    worker, the klines are already in ``_got``."""

    def __init__(self, summary: DownloadSummary, venue: Venue, backend: Backend, progress: Progress | None) -> None:
        self.s = summary
        self.venue = venue
        self.step = INTERVAL_MS[summary.interval]
        self.page = page_size(venue)
        self.backend = backend
        self.progress = progress
        self.overall: TaskID | None = None
        self._waiting: dict[KlineRequest, asyncio.Future[tuple[Outcome, int]]] = {}
        self._got: dict[str, list[Kline]] = {}
        self._writing = asyncio.Lock()  # one transaction at a time: a backend's connection is not shared
        self.bf: Backfiller | None = None

    def on_done(self, request: KlineRequest, outcome: Outcome, status: int) -> None:
        fut = self._waiting.pop(request, None)
        if fut is not None and not fut.done():
            fut.set_result((outcome, status))

    def on_klines(self, klines: list[Kline]) -> None:
        if klines:
            self._got.setdefault(klines[0].symbol, []).extend(klines)

    async def _page(self, request: KlineRequest) -> tuple[Outcome, int, list[Kline]]:
        assert self.bf is not None
        fut: asyncio.Future[tuple[Outcome, int]] = asyncio.get_running_loop().create_future()
        self._waiting[request] = fut
        self._got.pop(request.symbol, None)
        self.bf.add((request,))
        outcome, status = await fut
        return outcome, status, self._got.pop(request.symbol, [])

    async def symbol(self, symbol: str, spans: list[Span]) -> None:
        step, p = self.step, self.progress
        task = p.add_task(symbol, total=self.s.missing[symbol]) if p is not None else None
        self.s.bars[symbol] = 0
        try:
            for a, b in spans:
                start, done = a, 0
                while start <= b:
                    n = min(self.page, (b - start) // step + 1)
                    request = KlineRequest(self.venue, symbol, self.s.interval, start, b + step - 1, n)
                    outcome, status, klines = await self._page(request)
                    if outcome is Outcome.DROPPED:
                        self.s.failed[symbol] = _why(status)
                        return
                    covered = (klines[-1].open_time - start) // step + 1 if klines else 0
                    if klines:
                        self.s.bars[symbol] += await self._write(klines)
                    self._advance(task, covered)
                    done += covered
                    if len(klines) < n:
                        break
                    start = klines[-1].open_time + step
                self._advance(task, (b - a) // step + 1 - done)  # time with no bars (before a listing, outages)
        finally:
            if p is not None and task is not None:
                p.remove_task(task)

    async def _write(self, klines: list[Kline]) -> int:
        """One page in one transaction; returns the rows new to the store."""
        rows = [kline_row(k) for k in klines]
        try:
            async with self._writing:
                got = await self.backend.write({"klines": rows})
        except Exception as exc:  # the store failed: what is written stays, and a rerun resumes from there
            raise DownloadError(f"store {self.backend.location}: {type(exc).__name__}: {exc}") from None
        return got.get("klines", 0)

    def _advance(self, task: TaskID | None, n: int) -> None:
        if self.progress is not None and task is not None and n > 0:
            self.progress.advance(task, n)
            if self.overall is not None:
                self.progress.advance(self.overall, n)


async def download(
    symbols: Collection[str],
    interval: str,
    since_ms: int,
    until_ms: int | None,
    store: str | Path,
    *,
    venue: Venue | str = Venue.SPOT,
    rest: BinanceRest | None = None,
    exchange_url: str | None = None,
    clock: Clock | None = None,
    progress: Progress | None = None,
    pg_schema: str = DEFAULT_PG_SCHEMA,
    budget_per_minute: int | None = None,
    share: float = DEFAULT_SHARE,
    max_in_flight: int = 4,
    workers: int = 8,
) -> DownloadSummary:
    """Closed ``interval`` klines with open time in ``[since_ms, until_ms)`` (None: up to now) for ``symbols``
    into ``store``, skipping what it holds. ``rest``: a client to use (else one for ``exchange_url``, None being
    live Binance); ``progress``: a rich Progress to report to (None: quiet). Raises DownloadError."""
    v = Venue(venue)
    if interval not in INTERVAL_MS:
        raise DownloadError(f"interval {interval!r} is not one of {', '.join(INTERVAL_MS)}")
    names = sorted({s.strip().upper() for s in symbols if s.strip()})
    if not names:
        raise DownloadError("no symbols given")
    own_rest = rest is None
    client = rest or BinanceRest(exchange_url, clock=clock)
    clock = clock or client.clock
    step = INTERVAL_MS[interval]
    first = -(-since_ms // step) * step
    newest_closed = clock.now_ms() // step * step - step
    last = newest_closed if until_ms is None else min(newest_closed, (until_ms - 1) // step * step)
    if last < first:
        raise DownloadError("the range holds no closed bar (since must be before until, and in the past)")
    summary = DownloadSummary(v.value, interval, first, last + step)
    t0 = time.perf_counter()
    try:
        spans = await asyncio.to_thread(missing_spans, store, v.value, interval, names, first, last,
                                        pg_schema=pg_schema)  # fmt: skip
    except Exception as exc:
        raise DownloadError(f"cannot read the store: {exc}") from None
    summary.missing = {sym: sum((b - a) // step + 1 for a, b in sp) for sym, sp in spans.items()}
    backend = open_backend(store, pg_schema=pg_schema)
    try:
        await backend.open()
    except Exception as exc:
        await backend.close()
        raise DownloadError(f"cannot open the store {backend.location}: {exc}") from None
    run = _Run(summary, v, backend, progress)
    budget = budget_per_minute or LIMITS[v].rest_weight_per_minute
    sched = _Scheduler(v, run.on_done, budget_per_minute=budget, max_share=share, max_in_flight=max_in_flight)
    run.bf = Backfiller(client, clock, run.on_klines, schedulers={v: sched})
    loop_task = asyncio.create_task(run.bf.run(), name="download-backfill")
    queue = [sym for sym in names if spans[sym]]
    if progress is not None:
        run.overall = progress.add_task(f"{v.value} {interval}", total=sum(summary.missing.values()))

    async def worker() -> None:
        while queue:
            sym = queue.pop(0)
            await run.symbol(sym, spans[sym])

    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(min(workers, len(queue))):
                group.create_task(worker())
    except* DownloadError as eg:
        raise eg.exceptions[0] from None
    finally:
        await run.bf.close()
        loop_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loop_task
        await backend.close()
        summary.requests, summary.throttles = run.bf.counters.requests, run.bf.counters.throttles
        summary.retries, summary.weight = run.bf.counters.retries, sched.weight
        summary.peak_weight = client.weights.venues[v].peak
        summary.elapsed_s = time.perf_counter() - t0
        if own_rest:
            await client.aclose()
    return summary


def make_progress(console: Console) -> Progress:
    """The bars ``cryptoscan download`` shows: one for the whole range, one per symbol being fetched."""
    return Progress(TextColumn("{task.description:>16}"), BarColumn(), MofNCompleteColumn(), TextColumn("bars"),
                    TimeRemainingColumn(), console=console, transient=False)  # fmt: skip


def run_download(settings: Settings, symbols: Collection[str], interval: str, since_ms: int, until_ms: int | None,
                 venue: str = "spot", exchange_url: str | None = None, store_url: str | None = None,
                 console: Console | None = None) -> DownloadSummary:  # fmt: skip
    """What ``cryptoscan download`` does: the configured exchange and store unless given, a progress bar on
    ``console`` (None: none). Ctrl-C stops it; what was written stays, and the next run resumes."""
    store = store_url or settings.store.url.get_secret_value()
    url = exchange_url or settings.exchange.url

    async def main() -> DownloadSummary:
        rest = BinanceRest(url, api_key=settings.exchange.api_key, clock=LiveClock())
        async with rest:
            if console is None:
                return await download(symbols, interval, since_ms, until_ms, store, venue=venue, rest=rest,
                                      pg_schema=settings.store.pg_schema)  # fmt: skip
            with make_progress(console) as progress:
                return await download(symbols, interval, since_ms, until_ms, store, venue=venue, rest=rest,
                                      progress=progress, pg_schema=settings.store.pg_schema)  # fmt: skip

    return asyncio.run(main())
