"""``cryptoscan replay`` over real recorded Binance data, and ``cryptoscan record`` -> ``replay`` round trips
against the local exchange (the recorder runs as a real process)."""

from __future__ import annotations

import asyncio
import gzip
import json
import signal
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from cryptoscan.cli import main
from cryptoscan.events import BookTop, Kline, Trade
from cryptoscan.recording_replay import replay_recording
from cryptoscan.sim.options import SimOptions
from cryptoscan.sim.server import SimServer
from cryptoscan.venues.binance.parser import DepthDiff, Parsed
from cryptoscan.venues.binance.recording import Message
from helpers import until
from test_cli import clean_env

DATA = Path("/work/shared/data/binance/ws")
FILES = sorted(DATA.glob("*.replay.jsonl.gz"))
EXPECTED_TYPE = {"depthUpdate": "DepthDiff", "aggTrade": "Trade", "kline": "Kline", "bookTicker": "BookTop"}


def _lines(path: Path) -> list[dict[str, Any]]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _kind(data: dict[str, Any]) -> str:
    return "bookTicker" if "e" not in data and "u" in data else str(data["e"])  # spot bookTicker has no ``e``


def _replay_json(path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    assert main(["replay", str(path), "--json"]) == 0
    out = capsys.readouterr().out
    summary: dict[str, Any] = json.loads(out)
    return summary


def test_the_recorded_files_are_there() -> None:
    assert len(FILES) == 3, FILES


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name.split(".")[0])
def test_one_typed_event_per_recorded_message(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = _lines(path)
    summary = _replay_json(path, capsys)
    venue = "futures" if "usdm" in path.name else "spot"
    assert summary["messages"] == len(lines) == summary["events"]
    assert summary["messages_without_events"] == 0
    assert summary["parse_errors"] == {}
    want = Counter(EXPECTED_TYPE[_kind(r["data"])] for r in lines)
    assert summary["events_by_venue"] == {venue: dict(sorted(want.items()))}
    assert summary["symbols"] == {venue: sorted({r["data"]["s"] for r in lines})}
    times = [r["data"].get("E", r["recv_ms"]) for r in lines]  # no event time: the parser uses the receive time
    assert (summary["first_event_ms"], summary["last_event_ms"]) == (min(times), max(times))
    assert (summary["first_recv_ms"], summary["last_recv_ms"]) == (lines[0]["recv_ms"], lines[-1]["recv_ms"])


def _check(ev: Parsed, recv_ms: int, d: dict[str, Any], venue: str) -> None:
    """One event against the recorded payload, field by field (strings compared as the floats they spell)."""

    def levels(side: list[list[str]]) -> tuple[tuple[float, float], ...]:
        return tuple((float(p), float(q)) for p, q in side)

    assert ev.ts_recv == recv_ms
    kind = _kind(d)
    if kind == "aggTrade":
        assert isinstance(ev, Trade) and ev.aggregated
        assert (ev.symbol, ev.trade_id, ev.price, ev.quantity) == (d["s"], d["a"], float(d["p"]), float(d["q"]))
        assert (ev.first_trade_id, ev.last_trade_id, ev.trade_time, ev.buyer_is_maker) == (
            d["f"],
            d["l"],
            d["T"],
            d["m"],
        )
        assert ev.ts_event == d["E"] and ev.venue == venue
    elif kind == "kline":
        k = d["k"]
        assert isinstance(ev, Kline)
        assert (ev.symbol, ev.interval, ev.open_time, ev.close_time) == (k["s"], k["i"], k["t"], k["T"])
        assert (ev.open, ev.high, ev.low, ev.close) == tuple(float(k[f]) for f in "ohlc")
        assert (ev.volume, ev.quote_volume, ev.trades, ev.closed) == (float(k["v"]), float(k["q"]), k["n"], k["x"])
        assert (ev.first_trade_id, ev.last_trade_id, ev.ts_event) == (k["f"], k["L"], d["E"])
    elif kind == "depthUpdate":
        assert isinstance(ev, DepthDiff)
        assert (ev.symbol, ev.first_update_id, ev.last_update_id, ev.ts_event) == (d["s"], d["U"], d["u"], d["E"])
        assert ev.prev_update_id == d.get("pu")
        assert ev.bids == levels(d["b"]) and ev.asks == levels(d["a"])
    else:
        assert isinstance(ev, BookTop)
        assert (ev.symbol, ev.update_id, ev.bid, ev.bid_qty) == (d["s"], d["u"], float(d["b"]), float(d["B"]))
        assert (ev.ask, ev.ask_qty) == (float(d["a"]), float(d["A"]))
        assert ev.ts_event == d.get("E", recv_ms)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name.split(".")[0])
def test_sampled_events_equal_the_recorded_values(path: Path) -> None:
    sample: list[tuple[Message, Sequence[Parsed]]] = []
    n = 0

    def keep(msg: Message, events: Sequence[Parsed]) -> None:
        nonlocal n
        n += 1
        if n % 23 == 1 or (events and isinstance(events[0], Kline) and events[0].closed):
            sample.append((msg, events))

    summary = replay_recording(path, on_message=keep)
    assert n == summary.messages and len(sample) >= 60
    kinds: Counter[str] = Counter()
    for msg, events in sample:
        assert len(events) == 1
        data = json.loads(msg.data)
        kinds[_kind(data)] += 1
        _check(events[0], msg.recv_ms, data, msg.venue.value)
    assert len(kinds) >= 3  # every message kind of the file is in the sample


def test_text_summary(capsys: pytest.CaptureFixture[str]) -> None:
    path = DATA / "spot_2021-04-04_3pairs.replay.jsonl.gz"
    assert main(["replay", str(path)]) == 0
    out = capsys.readouterr().out
    assert "4716 messages, 4716 events" in out
    assert "spot: DepthDiff 2688, Kline 118, Trade 1910; 3 symbols" in out
    assert "events from 2021-04-04T20:03:11.307+00:00" in out
    assert "parse errors: none" in out and "BTCUSDT DOTUSDT ETHUSDT" in out


def test_a_folder_is_one_recording_and_bad_lines_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    summary = _replay_json(DATA, capsys)
    assert summary["messages"] == sum(len(_lines(f)) for f in FILES)
    assert set(summary["events_by_venue"]) == {"spot", "futures"}
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"recv_ms":1,"stream":"x","data":{}}\nnot json\n')
    assert main(["replay", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("cryptoscan replay: ") and "bad.jsonl:2: not a replay line" in err
    assert len(err.splitlines()) == 1


# --- record -> replay against the local exchange ----------------------------------------------------------------


async def _record(url: str, out: Path, *extra: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cryptoscan.cli", "record", "--exchange-url", url,
        "--streams", "btcusdt@kline_1m,ethusdt@aggTrade", "--out", str(out), *extra,
        env=clean_env(), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def test_record_then_replay_counts_every_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "f.jsonl"
    async with SimServer(SimOptions(port=0, speed=10, n_spot=20, n_futures=5, seed=3)) as sim:
        proc = await _record(sim.url, out, "--seconds", "2")
        stdout, stderr = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, stderr.decode()
    assert f"wrote {out}" in stdout.decode()
    lines = _lines(out)
    assert len(lines) > 5
    assert {r["stream"] for r in lines} == {"btcusdt@kline_1m", "ethusdt@aggTrade"}
    assert {r["venue"] for r in lines} == {"spot"}
    summary = _replay_json(out, capsys)
    assert summary["messages"] == len(lines) == summary["events"]
    assert summary["parse_errors"] == {} and summary["symbols"] == {"spot": ["BTCUSDT", "ETHUSDT"]}


async def test_sigterm_leaves_a_complete_gzip_recording(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "g.jsonl.gz"
    async with SimServer(SimOptions(port=0, speed=10, n_spot=20, n_futures=5, seed=3)) as sim:
        sent = sim.ctx.stats.counters
        proc = await _record(sim.url, out)
        await until(lambda: sent["ws.messages_sent"] >= 10, 30, "the recorder receives messages")
        proc.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, stderr.decode()
    assert "Traceback" not in stderr.decode()
    assert out.exists() and not (tmp_path / "g.jsonl.gz.part").exists()
    lines = _lines(out)  # a complete gzip stream of whole JSON lines
    assert len(lines) >= 1
    summary = _replay_json(out, capsys)
    assert summary["messages"] == len(lines) and summary["parse_errors"] == {}
