"""The simulator's stream payloads have Binance's shape: the same field names and value types as real
payloads recorded from Binance (../shared/data), stream kind by stream kind, on spot and USD-M futures."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import websockets

from cryptoscan.sim.options import SimOptions
from cryptoscan.sim.server import SimServer

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "binance" / "payloads"
RETIRED = {"b", "a"}  # spot trade's buyer/seller order ids, removed by Binance in 2023


def _real() -> dict[tuple[str, str], dict[str, Any]]:
    """(venue, kind) -> one real payload."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for line in (DATA / "binance_raw_messages.jsonl").read_text().splitlines():
        rec = json.loads(line)
        venue = {"spot": "spot", "linear_swap": "futures", "linear_swap_all": "futures"}.get(rec["rust_test_fn"])
        raw = rec["raw"]
        if venue is None or not isinstance(raw, dict) or "stream" not in raw:
            continue
        stream, data = raw["stream"], raw["data"]
        kind = stream.split("@", 1)[1] if not stream.startswith("!") else stream
        out.setdefault((venue, kind), data)
    for line in (DATA / "tardis_binance_raw_and_expected.jsonl").read_text().splitlines():
        raw = json.loads(line)["raw"]
        if isinstance(raw, dict) and raw.get("stream", "").endswith("@trade") and "X" not in raw["data"]:
            out.setdefault(("spot", "trade"), {k: v for k, v in raw["data"].items() if k not in RETIRED})
    return out


def _shape(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return type(value).__name__


REAL = _real()
# (venue, kind in the real data, stream we subscribe to on the sim)
CASES = [
    ("spot", "kline_1m", "btcusdt@kline_1m"),
    ("spot", "aggTrade", "btcusdt@aggTrade"),
    ("spot", "trade", "btcusdt@trade"),
    ("spot", "ticker", "ethusdt@ticker"),
    ("spot", "depth20", "ethusdt@depth20@100ms"),
    ("spot", "!bookTicker", "btcusdt@bookTicker"),
    ("futures", "aggTrade", "btcusdt@aggTrade"),
    ("futures", "ticker", "ethusdt@ticker"),
    ("futures", "markPrice", "btcusdt@markPrice@1s"),
    ("futures", "!markPrice@arr", "!markPrice@arr@1s"),
    ("futures", "depth20", "ethusdt@depth20@100ms"),
    ("futures", "bookTicker", "ethusdt@bookTicker"),
    ("futures", "kline_1M", "btcusdt@kline_1m"),
]


def _path(venue: str, stream: str) -> str:
    if venue == "spot":
        return "/stream"
    public = "depth" in stream or "bookTicker" in stream
    return "/public/stream" if public else "/market/stream"


async def _first(url: str, stream: str, bound_s: float = 20.0) -> Any:
    async with websockets.connect(url, max_size=2**24) as ws:
        async with asyncio.timeout(bound_s):
            while True:
                msg = json.loads(await ws.recv())
                if msg.get("stream") == stream:
                    return msg["data"]


@pytest.mark.parametrize(("venue", "kind", "stream"), CASES, ids=[f"{c[0]}-{c[2]}" for c in CASES])
async def test_stream_payload_matches_real_binance(venue: str, kind: str, stream: str) -> None:
    real = REAL.get((venue, kind))
    assert real is not None, f"no real {venue} {kind} payload in shared data"
    async with SimServer(SimOptions(port=0, speed=30.0, n_spot=400, n_futures=200)) as sim:
        ws = sim.url.replace("http://", "ws://") + _path(venue, stream) + "?streams=" + stream
        got = await _first(ws, stream)
    if isinstance(real, list):
        assert isinstance(got, list) and got
        real, got = real[0], got[0]
    if kind.startswith("kline"):
        real = {**real, "k": {**real["k"], "i": "1m"}}
    assert _shape(got) == _shape(real)
