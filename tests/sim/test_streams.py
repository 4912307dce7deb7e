"""GeneratorSource: streams agree with REST, ids are contiguous, snapshots coalesce, truth is complete."""

from __future__ import annotations

import io
import itertools
import json
from collections import defaultdict
from typing import Any

from cryptoscan.sim.market import MarketModel
from cryptoscan.sim.streams import GeneratorSource
from cryptoscan.sim.truth import TruthWriter
from cryptoscan.venues.binance.spec import Venue

START = 1_700_000_000_000 + 17_000  # mid-minute on purpose
STEP = 1_200  # one 20 ms poll at --speed 60


def _run(src: GeneratorSource, wanted: dict[Venue, list[str]], polls: int) -> list[tuple[Venue, str, Any]]:
    out: list[tuple[Venue, str, Any]] = []
    now = START
    for _ in range(polls):
        now += STEP
        out.extend((v, n, json.loads(b)) for v, n, b in src.poll(now, wanted))
    return out


def test_knows_only_listed_trading_symbols_and_venue_kinds() -> None:
    m = MarketModel(5, START, n_spot=40, n_futures=20)
    src = GeneratorSource(m, START)
    assert src.knows(Venue.SPOT, "btcusdt@kline_1m") and src.knows(Venue.FUTURES, "btcusdt@markPrice@1s")
    assert not src.knows(Venue.SPOT, "btcusdt@markPrice@1s")  # spot has no mark price
    assert not src.knows(Venue.FUTURES, "btcusdt@trade")
    assert not src.knows(Venue.SPOT, "nopeusdt@trade") and not src.knows(Venue.SPOT, "btcusdt@bogus")
    broken = next(i for i in m.symbols(Venue.SPOT) if i.status == "BREAK").symbol.lower()
    assert not src.knows(Venue.SPOT, f"{broken}@trade")
    assert src.knows(Venue.SPOT, "!ticker_1h@arr") and not src.knows(Venue.FUTURES, "!ticker_1h@arr")


def test_closed_klines_equal_rest_and_ids_are_contiguous() -> None:
    m = MarketModel(5, START, n_spot=40, n_futures=20)
    src = GeneratorSource(m, START)
    wanted = {
        Venue.SPOT: ["btcusdt@kline_1m", "btcusdt@kline_3m", "btcusdt@trade", "btcusdt@aggTrade", "ethusdt@kline_1m"],
        Venue.FUTURES: ["ethusdt@kline_1m", "ethusdt@aggTrade", "ethusdt@kline_5m"],
    }
    msgs = _run(src, wanted, 400)  # 8 minutes of market time
    end = START + 400 * STEP
    closed = [(v, d["k"]) for v, n, d in msgs if "kline" in n and d["k"]["x"]]
    assert len([1 for v, k in closed if k["i"] == "1m"]) >= 3 * 7
    seen: set[tuple[Venue, str, str, int]] = set()
    for venue, k in closed:
        key = (venue, k["s"], k["i"], k["t"])
        assert key not in seen  # exactly one x=true per kline
        seen.add(key)
        row = m.rest_klines(venue, k["s"], k["i"], k["t"], None, 1, end)[0]
        assert [k["t"], k["o"], k["h"], k["l"], k["c"], k["v"], k["T"], k["q"], k["n"], k["V"], k["Q"]] == row[:11]
        assert k["L"] - k["f"] + 1 == k["n"]
    for venue, stream, id_key in ((Venue.SPOT, "btcusdt@trade", "t"), (Venue.SPOT, "btcusdt@aggTrade", "a"),
                                  (Venue.FUTURES, "ethusdt@aggTrade", "a")):
        ids = [d[id_key] for v, n, d in msgs if v is venue and n == stream]
        assert len(ids) > 50 and all(b - a == 1 for a, b in itertools.pairwise(ids))
    aggs = [d for v, n, d in msgs if v is Venue.SPOT and n == "btcusdt@aggTrade"]
    assert all(b["f"] == a["l"] + 1 for a, b in itertools.pairwise(aggs))
    # trades of a closed minute add up to its kline
    k1 = next(k for v, k in closed if v is Venue.SPOT and k["s"] == "BTCUSDT" and k["i"] == "1m" and k["t"] > START)
    inside = [d for d in aggs if k1["t"] <= d["T"] <= k1["T"]]
    assert inside[0]["p"] == k1["o"] and inside[-1]["p"] == k1["c"]
    assert max(float(d["p"]) for d in inside) == float(k1["h"]) and sum(d["l"] - d["f"] + 1 for d in inside) == k1["n"]
    assert abs(sum(float(d["q"]) for d in inside) - float(k1["v"])) < 1e-6


def test_messages_in_time_order_and_snapshots_coalesced() -> None:
    m = MarketModel(5, START, n_spot=40, n_futures=20)
    src = GeneratorSource(m, START)
    wanted = {Venue.SPOT: ["btcusdt@depth20@100ms", "btcusdt@miniTicker", "btcusdt@kline_1m", "btcusdt@aggTrade"],
              Venue.FUTURES: ["btcusdt@markPrice@1s", "btcusdt@depth20@100ms", "!markPrice@arr@1s"]}
    now = START
    for _ in range(100):
        now += STEP
        batch = src.poll(now, wanted)
        per: defaultdict[tuple[Venue, str], int] = defaultdict(int)
        times = []
        for v, n, b in batch:
            per[(v, n)] += 1
            d = json.loads(b)
            t = d["E"] if isinstance(d, dict) and "E" in d else d[0]["E"] if isinstance(d, list) else None
            if t is not None:
                assert now - STEP < t <= now
                times.append(t)
        assert times == sorted(times)
        for key, count in per.items():
            if "depth" in key[1] or "Ticker" in key[1] or "markPrice" in key[1]:
                assert count == 1  # several cadence ticks in one window: only the latest
    depth = [json.loads(b) for v, n, b in src.poll(now + STEP, wanted) if n == "btcusdt@depth20@100ms"]
    assert {len(d["bids"] if "bids" in d else d["b"]) for d in depth} == {20}


def test_truth_lists_every_closed_kline_once_and_bursts() -> None:
    m = MarketModel(5, START, n_spot=40, n_futures=20)
    buf = io.BytesIO()
    src = GeneratorSource(m, START, TruthWriter(stream=buf))
    burst = m.inject_burst(Venue.SPOT, "SOLUSDT", 20.0, 600_000, START)
    now = START
    for _ in range(260):
        now += STEP
        src.poll(now, {})
    lines = [json.loads(x) for x in buf.getvalue().splitlines()]
    klines = [x for x in lines if x["type"] == "kline"]
    keys = [(x["venue"], x["symbol"], x["open_time"]) for x in klines]
    assert len(keys) == len(set(keys))
    trading = [(i.venue.value, i.symbol) for v in Venue for i in m.symbols(v) if i.status == "TRADING"]
    minutes = sorted({x["open_time"] for x in klines})
    assert len(minutes) == (now // 60_000) - (START // 60_000)
    assert len(klines) == len(minutes) * len(trading)
    row = m.rest_klines(Venue.SPOT, "BTCUSDT", "1m", minutes[1], None, 1, now)[0]
    first = next(x for x in klines
                 if x["symbol"] == "BTCUSDT" and x["venue"] == "spot" and x["open_time"] == minutes[1])
    assert [first["open"], first["high"], first["low"], first["close"], first["volume"], first["quote_volume"],
            first["trades"]] == [row[1], row[2], row[3], row[4], row[5], row[7], row[8]]
    bursts = [x for x in lines if x["type"] == "burst"]
    assert any(x["symbol"] == "SOLUSDT" and x["start_ms"] == burst.start_ms for x in bursts)
