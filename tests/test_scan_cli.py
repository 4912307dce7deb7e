"""``cryptoscan scan`` as a user runs it: a child process against the local exchange over real sockets."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from cryptoscan.sim.options import SimOptions
from simfakes import SimFactory
from test_cli import clean_env


async def run_cli(*argv: str, cwd: Path, env: dict[str, str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cryptoscan.cli", *argv, cwd=cwd, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def small_universe() -> dict[str, str]:
    env = clean_env()
    env.update({"CRYPTOSCAN_DATA_AGGREGATOR__MAX_PAIRS": "12", "CRYPTOSCAN_DATA_AGGREGATOR__KLINES_BUFFER_SIZE": "200",
                "CRYPTOSCAN_DATA_AGGREGATOR__MIN_VOLUME_24H": "0"})  # fmt: skip
    return env


async def test_scan_once_json_prints_one_ranked_snapshot(sim_factory: SimFactory, tmp_path: Path) -> None:
    sim = await sim_factory(SimOptions(n_spot=30, n_futures=10), fake=False)
    rc, out, err = await run_cli("scan", "--once", "--json", "--exchange-url", sim.url, "--log-level", "ERROR",
                                 cwd=tmp_path, env=small_universe())  # fmt: skip
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["interval"] == "1m" and doc["tracked"] == 22  # 12 spot pairs, all 10 futures
    assert list(doc["counts"]) == ["FUERTE", "ALTA", "MEDIA", "BAJA", "DESCARTADA"]
    assert sum(doc["counts"].values()) == doc["eligible"] > 0
    rows = [r for level in doc["levels"].values() for r in level]
    assert rows and all(0 <= r["momentum"] <= 100 and 0 <= r["probability"] <= 100 for r in rows)
    assert all(r["volume_24h"] >= 1e6 and 0.01 <= r["price"] <= 1000 for r in rows)  # the default filters
    ranks = sorted(r["rank"] for r in rows)
    assert ranks[0] == 1 and len(set(ranks)) == len(ranks)
    best = min(rows, key=lambda r: r["rank"])
    assert set(best["components"]) == {"rsi", "macd", "volume", "velocity", "breakout"}
    assert best["momentum"] == sum(best["components"].values())
    assert set(best["factors"]) == {"volatility", "momentum", "resistance", "btc", "liquidity"}
    assert best["indicators"]["rsi14"] is not None  # 200 bars of history: warmed up


async def test_scan_json_without_once_is_a_usage_error(tmp_path: Path) -> None:
    rc, out, err = await run_cli("scan", "--json", cwd=tmp_path, env=clean_env())
    assert rc == 2 and out == ""
    assert err.strip() == "cryptoscan scan: --json needs --once (the live view is for a terminal)"
