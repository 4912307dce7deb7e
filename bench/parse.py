"""Binance frame parser throughput against a ceiling measured in the same run (not a test).

For kline, aggTrade, spot depth20 and bookTicker combined-stream frames (1000 distinct frames each, real
shapes), prints messages per second, median of 5 runs, for:

* ``dict``     bare ``msgspec.json.decode(frame)`` to Python objects (the untyped ceiling),
* ``typed``    a bare lax decode into the parser's own float Struct (the typed ceiling: no routing, no event),
* ``parse_into`` ``FrameParser.parse_into`` into a reused list (what the read loop should call),
* ``parse``    ``FrameParser.parse`` (a new list per frame),

and the ratios parser / typed and parser / dict.

    .venv/bin/python bench/parse.py [--frames 1000] [--loops 200]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import msgspec

from cryptoscan.venues.binance import parser_wire as w
from cryptoscan.venues.binance.parser import FrameParser, Parsed
from cryptoscan.venues.binance.spec import Venue


def frame(stream: str, data: dict[str, Any]) -> bytes:
    return msgspec.json.encode({"stream": stream, "data": data})  # compact, keys in Binance's order


def kline(i: int) -> bytes:
    p = 29000 + i / 100
    k = {
        "t": 1653818760000, "T": 1653818819999, "s": "BTCUSDT", "i": "1m", "f": 1384844002, "L": 1384844032 + i,
        "o": f"{p:.8f}", "c": f"{p + 0.01:.8f}", "h": f"{p + 0.5:.8f}", "l": f"{p - 0.5:.8f}",
        "v": f"{0.2 + i / 1e4:.8f}", "n": 31 + i, "x": False, "q": f"{6076.5 + i:.8f}", "V": "0.10436000",
        "Q": "3030.45472920", "B": "0",
    }  # fmt: skip
    return frame("btcusdt@kline_1m", {"e": "kline", "E": 1653818762502 + i, "s": "BTCUSDT", "k": k})


def agg_trade(i: int) -> bytes:
    return frame(
        "btcusdt@aggTrade",
        {
            "e": "aggTrade", "E": 1616176861895 + i, "s": "BTCUSDT", "a": 640283266 + i,
            "p": f"{58942.01 + i / 100:.8f}", "q": f"{0.000356 + i / 1e5:.8f}", "f": 716849523 + i,
            "l": 716849523 + i, "T": 1616176861893 + i, "m": bool(i % 2), "M": True,
        },
    )  # fmt: skip


def depth20(i: int) -> bytes:
    bids = [[f"{1782.0 - k / 100 - i / 1e4:.8f}", f"{6.483 + k:.8f}"] for k in range(20)]
    asks = [[f"{1782.01 + k / 100 + i / 1e4:.8f}", f"{15.4608 + k:.8f}"] for k in range(20)]
    return frame("ethusdt@depth20@100ms", {"lastUpdateId": 17044571457 + i, "bids": bids, "asks": asks})


def book_ticker(i: int) -> bytes:
    return frame(
        "btcusdt@bookTicker",
        {
            "u": 19575390521 + i, "s": "BTCUSDT", "b": f"{29010.9 + i / 100:.8f}", "B": "13.94302000",
            "a": f"{29010.91 + i / 100:.8f}", "A": "3.99953000",
        },
    )  # fmt: skip


CASES: dict[str, tuple[Callable[[int], bytes], Any]] = {
    "kline": (kline, w.KlineW),
    "aggTrade": (agg_trade, w.AggTradeW),
    "depth20": (depth20, w.SpotDepthW),
    "bookTicker": (book_ticker, w.BookTickerW),
}


def rate(run: Callable[[], None], n: int, repeats: int = 5) -> float:
    """Median messages per second over ``repeats`` timed runs (after one warm-up run)."""
    run()
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        rates.append(n / (time.perf_counter() - t0))
    return statistics.median(rates)


def bench(name: str, frames: list[bytes], wire: Any, loops: int) -> None:
    n = len(frames) * loops
    parser = FrameParser(Venue.SPOT)
    untyped = msgspec.json.Decoder()
    typed = msgspec.json.Decoder(w.Env[wire], strict=False)
    out: list[Parsed] = []
    assert len(parser.parse(frames[0], 0)) == 1, name  # the frames really parse

    def run_dict() -> None:
        decode = untyped.decode
        for _ in range(loops):
            for f in frames:
                decode(f)

    def run_typed() -> None:
        decode = typed.decode
        for _ in range(loops):
            for f in frames:
                decode(f)

    def run_parse_into() -> None:
        parse_into, clear = parser.parse_into, out.clear
        for _ in range(loops):
            for f in frames:
                parse_into(f, 1, out)
                clear()

    def run_parse() -> None:
        parse = parser.parse
        for _ in range(loops):
            for f in frames:
                parse(f, 1)

    r_dict, r_typed = rate(run_dict, n), rate(run_typed, n)
    r_into, r_parse = rate(run_parse_into, n), rate(run_parse, n)
    assert parser.errors.total == 0, parser.errors
    print(
        f"{name:<11} {len(frames[0]):>5} B  dict {r_dict / 1e3:7.0f}k  typed {r_typed / 1e3:7.0f}k  "
        f"parse_into {r_into / 1e3:7.0f}k  parse {r_parse / 1e3:7.0f}k  "
        f"into/typed {r_into / r_typed:4.2f}  into/dict {r_into / r_dict:4.2f}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=1000)
    ap.add_argument("--loops", type=int, default=200)
    args = ap.parse_args()
    print(f"msgspec {msgspec.__version__}; messages/s, median of 5 runs of {args.frames * args.loops} frames")
    for name, (make, wire) in CASES.items():
        bench(name, [make(i) for i in range(args.frames)], wire, args.loops)


if __name__ == "__main__":
    main()
