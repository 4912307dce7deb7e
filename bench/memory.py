"""Resident memory of the market state for the whole default universe, against a ceiling (not a test).

The issue: "RSS for 600 pairs with 1000 klines each (aim < 300 MB)". Each configuration runs in a fresh child
process and reports ``VmRSS`` (``/proc/self/status``, MiB) after its imports and again after building:

* ``state``  400 spot + 200 futures pairs: a ``MarketState`` per venue holding 1000 closed klines per pair
  and interval (loaded with ``backfill`` as the aggregator's history load does, gap tracker seeded), then
  per pair, through ``FrameParser`` + ``EventRouter`` as live frames would: one forming kline per interval,
  and the latest 24 h ticker, mini ticker, book top, depth20 and (futures) mark price. The ``Dispatcher``
  has kline, ticker, depth and mark-price consumers that never ran, so each also holds one pending value
  per key (the most a slow consumer can hold for coalesced kinds);
* ``numpy``  the ceiling: the same number of klines as ONE bare float64 array with the ring's 9 fields,
  every page touched: the least any layout can use.

Both for 1 interval (the default scan interval, 1m) and for 4 (1m, 5m, 15m, 1h).

    .venv/bin/python bench/memory.py [--bars 1000] [--spot 400] [--futures 200]
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
from typing import Any

import msgspec
import numpy as np

from _common import kline_payload, rss_mb, symbols
from cryptoscan.events import BookTop, Depth, Event, Kline, MarkPrice, MiniTicker, Ticker
from cryptoscan.feed.dispatch import Channel, Dispatcher
from cryptoscan.feed.gaps import GapTracker
from cryptoscan.feed.router import EventRouter
from cryptoscan.market.rings import NFIELDS
from cryptoscan.market.state import MarketState
from cryptoscan.venues.binance.parser import FrameParser, Parsed
from cryptoscan.venues.binance.spec import INTERVAL_MS, Venue

T0 = 1_700_000_000_000 - 1_700_000_000_000 % 3_600_000
ONE = ("1m",)
FOUR = ("1m", "5m", "15m", "1h")


def history(venue: Venue, symbol: str, interval: str, bars: int, base: float) -> list[Kline]:
    step = INTERVAL_MS[interval]
    first = T0 - bars * step
    out = []
    for j in range(bars):
        p = base * (1 + 0.001 * ((j * 37) % 23 - 11))
        k = Kline(
            str(venue), symbol, interval, first + j * step, first + (j + 1) * step - 1,
            base, p * 1.002, p * 0.997, p, 10.0 + j % 97, (10.0 + j % 97) * p, 100 + j % 50,
            5.0 + j % 31, (5.0 + j % 31) * p, True, 1000 * j, 1000 * j + 99, first + (j + 1) * step, 0,
        )  # fmt: skip
        out.append(k)
    return out


def latest(venue: Venue, symbol: str, base: float) -> list[Event]:
    """The latest-value events of one pair (what the all-market and per-symbol streams keep replacing)."""
    v = str(venue)
    bids = tuple((base * (1 - k * 1e-4), 1.5 + k) for k in range(20))
    asks = tuple((base * (1 + k * 1e-4), 2.5 + k) for k in range(20))
    out: list[Event] = [
        Ticker(v, symbol, "24h", base, base * 0.98, base * 1.03, base * 0.97, 1e6, 1e6 * base, 2.0, base, 123456,
               T0 - 86_400_000, T0, base * 0.9999, base * 1.0001, T0, T0),
        MiniTicker(v, symbol, base, base * 0.98, base * 1.03, base * 0.97, 1e6, 1e6 * base, T0, T0),
        BookTop(v, symbol, base * 0.9999, 3.0, base * 1.0001, 4.0, 123_456_789, T0, T0),
        Depth(v, symbol, bids, asks, 987_654_321, None if venue is Venue.SPOT else 987_654_320, T0, T0),
    ]  # fmt: skip
    if venue is Venue.FUTURES:
        out.append(MarkPrice(symbol, base, base * 1.0001, base, 0.0001, T0 + 3_600_000, T0, T0))
    return out


def build_state(n_spot: int, n_futures: int, intervals: tuple[str, ...], bars: int) -> dict[str, Any]:
    before = rss_mb()
    markets = {v: MarketState(v, intervals, capacity=bars) for v in (Venue.SPOT, Venue.FUTURES)}
    dispatcher = Dispatcher()
    for channel in (Channel.KLINE, Channel.TICKER, Channel.MINI_TICKER, Channel.BOOK_TOP, Channel.DEPTH):
        dispatcher.register(channel, lambda ev: None, name=f"bench-{channel}")
    dispatcher.register(Channel.MARK_PRICE, lambda ev: None, name="bench-mark")
    gaps = GapTracker()
    router = EventRouter(markets, dispatcher, gaps, lambda reqs: None, lambda paused: None)
    parsers = {v: FrameParser(v) for v in markets}
    pairs = {Venue.SPOT: symbols(n_spot), Venue.FUTURES: symbols(n_futures)}
    out: list[Parsed] = []
    for venue, names in pairs.items():
        router.watch[venue] = frozenset(names)
        market, parser = markets[venue], parsers[venue]
        for i, symbol in enumerate(names):
            base = 0.5 + (i * 7919 % 50_000) / 3.0
            for interval in intervals:
                klines = history(venue, symbol, interval, bars, base)
                market.backfill(symbol, interval, klines)
                gaps.seed(venue, symbol, interval, klines[-1].open_time)
                stream = f"{symbol.lower()}@kline_{interval}"
                payload = kline_payload(symbol, T0, T0 + 1000, 3, False, base)
                payload = payload.replace(b'"i":"1m"', b'"i":"%s"' % interval.encode())
                frame = b'{"stream":"' + stream.encode() + b'","data":' + payload + b"}"
                parser.parse_into(frame, T0 + 1001, out)  # the forming kline, as a live frame brings it
                router.route(out)
                out.clear()
            router.route(latest(venue, symbol, base))  # type: ignore[arg-type]
    assert all(p.errors.total == 0 for p in parsers.values()), [p.errors for p in parsers.values()]
    gc.collect()
    after = rss_mb()
    rings = sum(len(by_symbol) for m in markets.values() for by_symbol in m.rings.values())
    held = sum(len(r) for m in markets.values() for by_symbol in m.rings.values() for r in by_symbol.values())
    return {
        "rss_before_mb": before,
        "rss_after_mb": after,
        "series": rings,
        "klines": held,
        "kline_array_mb": sum(m.nbytes() for m in markets.values()) / 2**20,
        "pending_in_consumers": sum(c.depth for c in dispatcher.consumers()),
        "events_routed": router.stats.events,
    }


def build_numpy(series: int, bars: int) -> dict[str, Any]:
    before = rss_mb()
    arr = np.empty((series * bars, NFIELDS), dtype=np.float64)
    arr.fill(1.0)  # touch every page
    after = rss_mb()
    mib = arr.nbytes / 2**20
    return {"rss_before_mb": before, "rss_after_mb": after, "klines": series * bars, "kline_array_mb": mib}


def child(args: argparse.Namespace) -> None:
    intervals = tuple(args.intervals.split(","))
    if args.child == "numpy":
        result = build_numpy((args.spot + args.futures) * len(intervals), args.bars)
    else:
        result = build_state(args.spot, args.futures, intervals, args.bars)
    print(json.dumps(result))


def run_child(kind: str, intervals: tuple[str, ...], args: argparse.Namespace) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", kind, "--intervals", ",".join(intervals)]
    cmd += ["--bars", str(args.bars), "--spot", str(args.spot), "--futures", str(args.futures)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=600)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bars", type=int, default=1000)
    ap.add_argument("--spot", type=int, default=400)
    ap.add_argument("--futures", type=int, default=200)
    ap.add_argument("--intervals", default="1m", help=argparse.SUPPRESS)
    ap.add_argument("--child", choices=("state", "numpy"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    pairs = args.spot + args.futures
    print(f"msgspec {msgspec.__version__}, numpy {np.__version__}; {args.spot} spot + {args.futures} futures pairs, "
          f"{args.bars} closed klines per pair and interval; each line a fresh process")  # fmt: skip
    print(f"{'':22}{'klines':>10}{'RSS start':>12}{'RSS end':>11}{'growth':>10}{'arrays':>10}")
    summary: dict[str, float] = {}
    for intervals in (ONE, FOUR):
        state, floor = run_child("state", intervals, args), run_child("numpy", intervals, args)
        label = f"{len(intervals)} interval{'s' if len(intervals) > 1 else ''}"
        for name, r in (("cryptoscan", state), ("bare numpy", floor)):
            growth = r["rss_after_mb"] - r["rss_before_mb"]
            print(
                f"{name + ', ' + label:<22}{r['klines']:>10,}{r['rss_before_mb']:>9.0f}MiB{r['rss_after_mb']:>8.0f}MiB"
                f"{growth:>7.0f}MiB{r['kline_array_mb']:>7.0f}MiB"
            )
        growth_state = state["rss_after_mb"] - state["rss_before_mb"]
        growth_floor = floor["rss_after_mb"] - floor["rss_before_mb"]
        print(
            f"  -> {len(intervals)} interval(s): total RSS {state['rss_after_mb']:.0f} MiB (aim < 300 MB), "
            f"state growth / bare array {growth_state / growth_floor:.2f}, "
            f"{growth_state * 1024 / pairs / len(intervals):.0f} KiB per pair and interval; "
            f"{state['series']} series, {state['events_routed']:,} live events routed, "
            f"{state['pending_in_consumers']:,} values pending in idle consumers"
        )
        summary[f"rss_mb_{len(intervals)}i"] = round(state["rss_after_mb"], 1)
        summary[f"growth_mb_{len(intervals)}i"] = round(growth_state, 1)
        summary[f"numpy_growth_mb_{len(intervals)}i"] = round(growth_floor, 1)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
