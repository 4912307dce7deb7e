"""Alerts and their delivery results reach the store and Redis (``app.keep_alert_records``), end to end:
a FUERTE row through the real rules, apprise delivering to a JSON webhook on loopback."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
from aiohttp import web
from redis_proc import RedisFactory

from cryptoscan.alerts.records import DeliveryRecord
from cryptoscan.app import build_aggregator, build_alerts, build_scanner, keep_alert_records
from cryptoscan.config import Settings
from cryptoscan.scanner.result import ScanRow
from cryptoscan.sinks.redis.sink import RedisSink
from cryptoscan.sinks.store.sink import StoreSink
from helpers import until

T0 = 1_700_000_000_000


def fuerte(ts: int) -> ScanRow:
    return ScanRow(
        rank=1, venue="spot", symbol="PUMPUSDT", level="FUERTE", price=0.5, momentum=90.0, probability=70.0,
        composite=82.0, volume_24h=5e6, updated_ms=ts,
        components={"rsi": 20.0, "macd": 20.0, "volume": 25.0, "velocity": 15.0, "breakout": 10.0},
        factors={"volatility": 1.0, "momentum": 0.9, "resistance": 1.0, "btc": 0.5, "liquidity": 0.4},
        indicators={"rsi14": 64.0},
    )  # fmt: skip


async def test_alert_and_delivery_records_reach_store_and_redis(tmp_path: Path, redis_factory: RedisFactory) -> None:
    received: list[dict[str, object]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    server = await redis_factory()
    settings = Settings.model_validate({"alerts": {"enabled": True, "urls": [f"json://127.0.0.1:{port}/hook"],
                                                   "hold_scans": 2}})  # fmt: skip
    scanner = build_scanner(build_aggregator(settings, "http://127.0.0.1:9"), settings)
    service = build_alerts(settings, scanner)
    assert service is not None
    store = StoreSink(tmp_path / "store.duckdb")
    redis = RedisSink(server.url, prefix="cs")
    keep_alert_records(service, store, redis)
    await store.start()
    await redis.start()
    await service.start()
    try:
        service.on_rows([fuerte(T0)], T0)  # held for one scan: nothing yet
        service.on_rows([fuerte(T0 + 60_000)], T0 + 60_000)  # held for two: FUERTE is sent at once
        await until(lambda: any(isinstance(r, DeliveryRecord) for r in service.log.all()), 20, "a delivery result")
        assert len(received) == 1 and "PUMPUSDT" in json.dumps(received[0])
        assert await store.flush(10.0) and await redis.flush(10.0)
    finally:
        await service.stop()
        await store.stop()
        await redis.stop()
        await runner.cleanup()
    with duckdb.connect(str(tmp_path / "store.duckdb"), read_only=True) as db:
        rows = db.execute("select venue, symbol, level, kind, message from alerts order by kind").fetchall()
    assert all((r[0], r[1]) == ("spot", "PUMPUSDT") for r in rows)  # the delivery found its alert's pair
    kinds = sorted(r[3] for r in rows)
    assert kinds[0].startswith("delivery:") and kinds[1] == "new", kinds
    assert any(r[3] == "new" and r[2] == "FUERTE" and "PUMPUSDT" in r[4] for r in rows)
    assert any(r[3].startswith("delivery:") and r[4] == "delivered" for r in rows)
    client = server.client()
    try:
        entries = await client.xrange("cs:alerts")
    finally:
        await client.aclose()
    assert [e[1][b"type"] for e in entries] == [b"alert", b"delivery"]
