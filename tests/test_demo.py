"""``cryptoscan demo`` over the real local exchange: the scan finds what the sim pumped, before the peak."""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys
from pathlib import Path

import duckdb
import httpx
import numpy as np
from rich.console import Console

from cryptoscan.config import Settings
from cryptoscan.demo import run_demo
from cryptoscan.scanner.levels import Level
from cryptoscan.scanner.result import ScanResult
from cryptoscan.sim.options import SimOptions
from cryptoscan.sim.server import SimServer
from helpers import until
from test_cli import clean_env

SPEED = 120.0  # market ms per real ms
PUMPS = 8


def null_console() -> Console:
    return Console(file=io.StringIO(), width=200, color_system=None)


async def test_demo_flags_injected_pumps_before_their_peak(tmp_path: Path) -> None:
    """Pumps injected through the sim's control API, checked against its truth file: most are flagged MEDIA
    or above before their peak. And the store holds every closed kline the truth file lists for the pairs
    scanned."""
    truth = tmp_path / "truth.jsonl"
    store = tmp_path / "store.duckdb"
    settings = Settings.model_validate({"store": {"url": str(store)}})
    results: list[ScanResult] = []
    flagged: dict[tuple[str, str], list[int]] = {}  # pair -> market times it scanned MEDIA or above
    best = [0]
    sims: list[SimServer] = []
    stop = asyncio.Event()

    def on_result(res: ScanResult) -> None:
        results.append(res)
        for i in np.flatnonzero(res.levels >= Level.MEDIA):
            flagged.setdefault(res.names[i], []).append(res.ts_ms)
        best[0] = max(best[0], int(res.levels.max(initial=0)))

    run = asyncio.ensure_future(run_demo(
        settings, speed=SPEED, seed=11, console=null_console(), stop=stop, on_result=on_result, on_sim=sims.append,
        sim_options=SimOptions(n_spot=60, n_futures=20, truth=truth),
    ))  # fmt: skip
    try:
        await until(lambda: len(results) >= 2 or run.done(), limit_s=60, what="the first scans")
        assert not run.done(), run.exception()
        first = results[-1]
        quiet = [first.names[i] for i in first.order if first.levels[i] < Level.MEDIA and first.names[i][0] == "spot"]
        targets = quiet[:: max(1, len(quiet) // PUMPS)][:PUMPS]
        assert len(targets) == PUMPS, f"too few eligible quiet pairs: {len(quiet)}"
        async with httpx.AsyncClient(base_url=sims[0].url) as client:
            for venue, symbol in targets:
                r = await client.post("/sim/burst", json={"venue": venue, "symbol": symbol, "pct": 15.0,
                                                          "duration_ms": 60 * 60_000})  # fmt: skip
                assert r.status_code == 200, r.text

        await until(lambda: len(_bursts(truth, first.ts_ms)) >= PUMPS, limit_s=10, what="truth bursts")
        bursts = _bursts(truth, first.ts_ms)
        last_peak = max(b["peak_ms"] for b in bursts)
        await until(lambda: results[-1].ts_ms > last_peak or run.done(), limit_s=90, what="every peak to pass")
    finally:
        stop.set()
        snap = await run
    assert snap is not None and snap.tracked >= 70
    tracked = {n for n in results[-1].names if n[0]}
    caught = [b for b in bursts if (b["venue"], b["symbol"]) in tracked
              and any(b["start_ms"] <= t <= b["peak_ms"] for t in flagged.get((b["venue"], b["symbol"]), []))]
    seen = [b for b in bursts if (b["venue"], b["symbol"]) in tracked]
    assert len(seen) >= PUMPS
    assert len(caught) >= 0.75 * len(seen), (len(caught), len(seen), [(b["symbol"], b["venue"]) for b in seen])
    assert best[0] >= Level.MEDIA

    with duckdb.connect(str(store), read_only=True) as db:
        stored = {(v, s, int(t)): (o, h, lo, c) for v, s, t, o, h, lo, c in db.execute(
            "select venue, symbol, open_time, open, high, low, close from klines where interval = '1m'").fetchall()}
    listed = [json.loads(line) for line in truth.read_text().splitlines() if '"type":"kline"' in line]
    wanted = [k for k in listed if (k["venue"], k["symbol"]) in tracked and k["interval"] == "1m"]
    assert len(wanted) > 20 * len(tracked)  # the run covered tens of market minutes per pair
    missing = [k for k in wanted if (k["venue"], k["symbol"], k["open_time"]) not in stored]
    assert missing == [], f"{len(missing)} of {len(wanted)} truth klines missing from the store, e.g. {missing[:3]}"
    for k in wanted[:: max(1, len(wanted) // 500)]:  # values equal the truth's (a sample: the file is large)
        got = stored[(k["venue"], k["symbol"], k["open_time"])]
        assert got == tuple(float(k[f]) for f in ("open", "high", "low", "close")), (k, got)


def _bursts(truth: Path, since_ms: int) -> list[dict[str, object]]:
    out = []
    for line in truth.read_text().splitlines():
        if '"type":"burst"' in line:
            b = json.loads(line)
            if b["kind"] == "pump" and b["start_ms"] >= since_ms:
                out.append(b)
    return out


def test_demo_command_runs_for_duration_and_exits_0(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "cryptoscan.cli", "demo", "--duration", "6", "--top", "3", "--spot-pairs", "30",
         "--futures-pairs", "10", "--history", "200"],
        cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=90,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "cryptoscan demo (local exchange, 60x)" in proc.stdout and "connections:" in proc.stdout
    assert "FUERTE (" in proc.stdout and "MEDIA (" in proc.stdout
