"""Recorder: the replay line format, atomic files, bounded buffering; recordings replay to the same frames."""

from __future__ import annotations

import asyncio
import gzip
import json
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from cryptoscan.feed.recorder import Recorder, combined_urls, record
from cryptoscan.sim.options import SimOptions
from cryptoscan.sim.replay import load
from cryptoscan.venues.binance.spec import Venue
from helpers import until
from simfakes import FakeSource, SimFactory


def test_lines_are_replay_lines_and_the_file_appears_only_on_close(tmp_path: Path) -> None:
    path = tmp_path / "rec.jsonl.gz"
    rec = Recorder(path, max_buffer_bytes=200)
    frame = b'{"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","E":5,"p":"1.50"}}'
    for i in range(20):
        assert rec.write_frame(1000 + i, Venue.SPOT, frame)
    rec.write(2000, "futures", "!markPrice@arr", b'[{"e":"markPriceUpdate","s":"X"}]')
    assert not rec.write_frame(2001, Venue.SPOT, b"not json")
    assert not path.exists() and rec.part.exists()
    assert rec.bytes > 0  # the bounded buffer was written out before close
    assert rec.close() == path and rec.close() == path
    assert path.exists() and not rec.part.exists()
    lines = [json.loads(x) for x in gzip.decompress(path.read_bytes()).splitlines()]
    assert len(lines) == rec.lines == 21 and rec.bad_frames == 1
    assert lines[0] == {
        "recv_ms": 1000,
        "stream": "btcusdt@aggTrade",
        "venue": "spot",
        "data": {"e": "aggTrade", "E": 5, "p": "1.50"},
    }
    assert lines[-1]["venue"] == "futures" and lines[-1]["data"] == [{"e": "markPriceUpdate", "s": "X"}]
    rows = load(path)  # the simulator's replay loader reads it
    assert [(r[0], r[1], r[2]) for r in rows][-2:] == [
        (1019, Venue.SPOT, "btcusdt@aggTrade"),
        (2000, Venue.FUTURES, "!markPrice@arr"),
    ]
    assert rows[0][3] == b'{"e":"aggTrade","E":5,"p":"1.50"}'  # byte for byte


def test_abort_leaves_nothing(tmp_path: Path) -> None:
    rec = Recorder(tmp_path / "x.jsonl")
    rec.write(1, Venue.SPOT, "s", b"{}")
    rec.abort()
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError):
        rec.write(2, Venue.SPOT, "s", b"{}")


def test_futures_streams_are_grouped_by_routed_path() -> None:
    urls = combined_urls("http://h:1", Venue.FUTURES, ["btcusdt@markPrice", "btcusdt@bookTicker", "ethusdt@kline_1m"])
    assert urls == [
        "ws://h:1/market/stream?streams=btcusdt@markPrice/ethusdt@kline_1m",
        "ws://h:1/public/stream?streams=btcusdt@bookTicker",
    ]
    assert combined_urls("ws://h:1/", Venue.SPOT, ["a@trade", "b@trade", "c@trade"], per_connection=2) == [
        "ws://h:1/stream?streams=a@trade/b@trade",
        "ws://h:1/stream?streams=c@trade",
    ]


async def test_a_recording_replays_to_the_same_frames(sim_factory: SimFactory, tmp_path: Path) -> None:
    live = await sim_factory(SimOptions(), source=FakeSource(every_ms=20))
    path = tmp_path / "spot.jsonl.gz"
    streams = ["btcusdt@aggTrade", "ethusdt@kline_1m"]
    rec = await record(live.ws_url, Venue.SPOT, streams, path, duration_s=0.4, clock=live.ctx.clock)
    assert path.exists() and rec.lines >= 10 and rec.bad_frames == 0
    recorded = [json.loads(x) for x in gzip.decompress(path.read_bytes()).splitlines()]
    assert {r["stream"] for r in recorded} == set(streams) and {r["venue"] for r in recorded} == {"spot"}
    assert [r["data"]["n"] for r in recorded] == sorted(r["data"]["n"] for r in recorded)

    replay = await sim_factory(SimOptions(replay=path, replay_speed=0))
    got: list[dict[str, object]] = []
    async with connect(f"{replay.ws_url}/stream?streams={'/'.join(streams)}") as ws:

        async def read() -> None:
            while len(got) < len(recorded):
                got.append(json.loads(await ws.recv()))

        reader = asyncio.create_task(read())
        await until(lambda: reader.done(), limit_s=10)
        reader.result()
    assert [(g["stream"], g["data"]) for g in got] == [(r["stream"], r["data"]) for r in recorded]


async def test_futures_recording_covers_both_paths(sim_factory: SimFactory, tmp_path: Path) -> None:
    live = await sim_factory(SimOptions(), source=FakeSource(every_ms=20))
    path = tmp_path / "usdm.jsonl"
    rec = await record(
        live.ws_url,
        Venue.FUTURES,
        ["btcusdt@markPrice", "btcusdt@bookTicker"],
        path,
        duration_s=0.3,
        clock=live.ctx.clock,
    )
    lines = [json.loads(x) for x in path.read_bytes().splitlines()]
    assert len(lines) == rec.lines > 0
    assert {x["stream"] for x in lines} == {"btcusdt@markPrice", "btcusdt@bookTicker"}
    assert {x["venue"] for x in lines} == {"futures"}
    assert all(isinstance(x["recv_ms"], int) for x in lines)
