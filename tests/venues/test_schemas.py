"""The wire schemas against real Binance payloads recorded by other projects (../shared/data)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from cryptoscan.venues.binance import schemas as s

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "binance"
EVENT = msgspec.json.Decoder(s.EventMsg)


def _raw_payloads() -> list[tuple[str, str | None, Any]]:
    out = []
    for line in (DATA / "payloads" / "binance_raw_messages.jsonl").read_text().splitlines():
        rec = json.loads(line)
        raw = rec["raw"]
        stream = raw.get("stream") if isinstance(raw, dict) else None
        data = raw["data"] if isinstance(raw, dict) and "data" in raw else raw
        # USD-M and spot only: coin-margined and options are not our venues.
        if rec["rust_test_fn"] in ("spot", "linear_swap", "linear_swap_all", "linear_future"):
            out.append((f"{rec['rust_module']}/{rec['rust_test_fn']}", stream, data))
    return out


def _decode_one(stream: str | None, data: dict[str, Any]) -> msgspec.Struct:
    raw = msgspec.json.encode(data)
    if "e" in data:
        return EVENT.decode(raw)
    if "lastUpdateId" in data:
        return msgspec.json.decode(raw, type=s.SpotDepthMsg)
    return msgspec.json.decode(raw, type=s.SpotBookTickerMsg)


def _round_trip(stream: str | None, data: dict[str, Any]) -> None:
    decoded = _decode_one(stream, data)
    assert json.loads(s.encode(decoded)) == data


PAYLOADS = _raw_payloads()


@pytest.mark.parametrize(("label", "stream", "data"), PAYLOADS, ids=[p[0] for p in PAYLOADS])
def test_real_payload_round_trips(label: str, stream: str | None, data: Any) -> None:
    """Decoding then encoding a real payload gives it back key for key: names, types and values."""
    items = data if isinstance(data, list) else [data]
    for item in items:
        if ("lastUpdateId" in item and "E" in item) or "openInterest" in item:
            continue  # REST answers (futures depth snapshot, open interest), not stream payloads
        _round_trip(stream, item)


def test_real_payloads_cover_every_stream_kind() -> None:
    kinds = set()
    for _label, _stream, data in PAYLOADS:
        for item in data if isinstance(data, list) else [data]:
            if ("lastUpdateId" in item and "E" in item) or "openInterest" in item:
                continue
            kinds.add(type(_decode_one(None, item)).__name__)
    assert {"KlineMsg", "AggTradeMsg", "TickerMsg", "MarkPriceMsg", "DepthUpdateMsg", "SpotDepthMsg",
            "SpotBookTickerMsg", "FuturesBookTickerMsg"} <= kinds


def test_tardis_trades_and_book_tickers_round_trip() -> None:
    n = 0
    for line in (DATA / "payloads" / "tardis_binance_raw_and_expected.jsonl").read_text().splitlines():
        rec = json.loads(line)
        raw = rec["raw"]
        data = raw.get("data") if isinstance(raw, dict) else None
        if not isinstance(data, dict) or data.get("e") not in (None, "trade", "aggTrade", "kline"):
            continue
        if raw.get("generated") or "lastUpdateId" in data:
            continue  # tardis' synthesized REST snapshots, not stream payloads
        _round_trip(raw.get("stream"), data)
        n += 1
    assert n >= 5


@pytest.mark.parametrize("name", sorted(p.name for p in (DATA / "ws").glob("*.jsonl.gz")))
def test_recorded_streams_decode(name: str) -> None:
    """Every message in the cryptofeed recordings decodes and round-trips (bookTicker has no ``e``)."""
    count = 0
    with gzip.open(DATA / "ws" / name, "rt") as f:
        for line in f:
            rec = json.loads(line)
            _round_trip(rec["stream"], rec["data"])
            count += 1
    assert count > 100


def test_decode_rejects_wrong_types_and_unknown_events() -> None:
    with pytest.raises(msgspec.ValidationError):
        EVENT.decode(b'{"e":"kline","E":"not-an-int","s":"BTCUSDT","k":{}}')
    with pytest.raises(msgspec.ValidationError):
        EVENT.decode(b'{"e":"somethingNew","E":1}')
    with pytest.raises(msgspec.DecodeError):
        EVENT.decode(b'{"e":"kline",')


def test_combined_envelope_keeps_data_raw() -> None:
    env = msgspec.json.decode(b'{"stream":"btcusdt@bookTicker","data":{"u":1,"s":"BTCUSDT"}}', type=s.CombinedMsg)
    assert env.stream == "btcusdt@bookTicker"
    assert bytes(env.data) == b'{"u":1,"s":"BTCUSDT"}'
