"""The WebSocket channels against the live demo: a snapshot, then diffs that rebuild exactly what a newcomer's
snapshot shows; the pair channel's chart, row and alerts; an unknown pair refused."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
from webdemo import LiveDemo
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect


def ws(live: LiveDemo, path: str) -> ClientConnection:
    return connect(live.url.replace("http://", "ws://") + path, open_timeout=10, max_size=2**22)


def frames(conn: ClientConnection, limit_s: float = 20.0) -> Any:
    """Decoded frames as they come; fails after ``limit_s`` of silence."""
    while True:
        yield json.loads(conn.recv(timeout=limit_s))


def test_row_diffs_rebuild_exactly_what_a_new_snapshot_shows(live: LiveDemo) -> None:
    sizes: dict[str, list[int]] = {"rows": [], "status": []}
    with ws(live, "/ws") as a:
        stream = frames(a)
        first = next(stream)
        assert first["type"] == "snapshot" and first["rows"] and first["status"]["pairs"] == {"spot": 14, "futures": 4}
        table = {r["key"]: r for r in first["rows"]}
        passes = 0
        for doc in stream:  # a few passes, applying each diff
            sizes.setdefault(doc["type"], []).append(len(json.dumps(doc, separators=(",", ":"))))
            if doc["type"] == "rows":
                for key in doc["remove"]:
                    del table[key]
                table.update({r["key"]: r for r in doc["upsert"]})
                passes += 1
                if passes >= 4:
                    break
        with ws(live, "/ws") as b:
            snap = json.loads(b.recv(timeout=10))
        target = snap["meta"]["ts_ms"]
        at = doc["meta"]["ts_ms"]
        while at < target:  # catch up with the pass the newcomer's snapshot shows
            doc = next(stream)
            if doc["type"] == "rows":
                for key in doc["remove"]:
                    del table[key]
                table.update({r["key"]: r for r in doc["upsert"]})
                at = doc["meta"]["ts_ms"]
    assert at == target
    assert table == {r["key"]: r for r in snap["rows"]}
    assert all(r["level"] in ("FUERTE", "ALTA", "MEDIA") for r in table.values())
    assert len([r for r in table.values() if r["level"] == "FUERTE"]) <= 5  # top 5 per level in this demo
    rows_bytes = sum(sizes["rows"]) / len(sizes["rows"])
    print(f"\nbytes per push: rows frame {rows_bytes:.0f} (mean of {len(sizes['rows'])}), status frame "
          f"{sum(sizes['status']) / max(len(sizes['status']), 1):.0f}, snapshot {len(json.dumps(first))}")  # fmt: skip
    assert rows_bytes < len(json.dumps(first))  # a diff is smaller than the whole table


def test_pair_channel_pushes_chart_row_and_alerts(live: LiveDemo) -> None:
    alert = httpx.get(live.url + "/api/alerts", timeout=10).json()["alerts"][0]
    venue, symbol = alert["venue"], alert["symbol"]
    with ws(live, f"/ws/pairs/{venue}/{symbol.lower()}") as conn:
        stream = frames(conn)
        first = next(stream)
        assert first["type"] == "pair" and (first["venue"], first["symbol"]) == (venue, symbol)
        bars = first["bars"]
        assert bars["full"] and 190 <= len(bars["t"]) <= 241 and bars["t"] == sorted(bars["t"])
        assert len(bars["rsi"]) == len(bars["t"]) and bars["rsi"][-1] is not None and bars["hist"][-1] is not None
        assert first["row"]["row"]["symbol"] == symbol and set(first["row"]["row"]["components"]) >= {"rsi", "macd"}
        assert any(a["alert_id"] == alert["alert_id"] for a in first["alerts"])
        last_t = bars["t"][-1]
        seen: set[str] = set()
        deadline = time.monotonic() + 20
        for doc in stream:
            seen.add(doc["type"])
            if doc["type"] == "bars":
                assert not doc["bars"]["full"] and doc["bars"]["t"][0] >= last_t  # only the forming bar and newer
                last_t = doc["bars"]["t"][-1]
            if ({"bars", "row"} <= seen and last_t > bars["t"][-1]) or time.monotonic() > deadline:
                break
    assert {"bars", "row"} <= seen, seen
    assert last_t > bars["t"][-1]  # the chart moved on: a bar closed while we watched


def test_unknown_pair_is_refused_with_4404(live: LiveDemo) -> None:
    with ws(live, "/ws/pairs/spot/NOPEUSDT") as conn, pytest.raises(ConnectionClosed) as closed:
        conn.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4404
    assert httpx.get(live.url + "/pairs/spot/NOPEUSDT", timeout=10).status_code == 404
    assert httpx.get(live.url + "/pairs/margin/SOLUSDT", timeout=10).status_code == 404
