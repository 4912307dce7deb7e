"""The REST API against the live demo, every endpoint with good and bad input; the token gate; 503 before the
first pass; the Spanish pages."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
import websockets
from webdemo import LiveDemo
from websockets.asyncio.client import connect

from cryptoscan.app import build_aggregator, build_scanner
from cryptoscan.config import Settings
from cryptoscan.web.options import DashboardOptions
from cryptoscan.web.server import Dashboard, bind
from cryptoscan.web.source import PipelineSource


def get(live: LiveDemo, path: str, **params: object) -> httpx.Response:
    return httpx.get(live.url + path, params=params, timeout=10)  # type: ignore[arg-type]


def test_openapi_describes_every_endpoint(live: LiveDemo) -> None:
    doc = get(live, "/openapi.json").json()
    assert set(doc["paths"]) == {"/api/opportunities", "/api/snapshot", "/api/status", "/api/symbols/{symbol}",
                                 "/api/alerts", "/api/tracking"}  # fmt: skip
    tracking = doc["paths"]["/api/tracking"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert tracking == {"$ref": "#/components/schemas/TrackingOut"}
    assert doc["paths"]["/api/symbols/{symbol}"]["get"]["responses"]["404"]["content"]["application/json"]
    assert get(live, "/docs").status_code == 404  # no CDN-backed docs page


def test_opportunities(live: LiveDemo) -> None:
    doc = get(live, "/api/opportunities").json()
    rows = doc["rows"]
    assert rows and {r["level"] for r in rows} <= {"FUERTE", "ALTA", "MEDIA"}
    fuerte = [r["rank"] for r in rows if r["level"] == "FUERTE"]
    assert fuerte == sorted(fuerte)
    assert set(rows[0]["components"]) == {"rsi", "macd", "volume", "velocity", "breakout"}
    assert rows[0]["momentum"] == pytest.approx(sum(rows[0]["components"].values()))
    assert sum(doc["counts"].values()) == doc["eligible"]
    for _ in range(5):  # a pass between the two requests may move the last row out of its level: ask again
        last = get(live, "/api/opportunities").json()["rows"][-1]
        level, venue = last["level"], last["venue"]  # a level and venue the market shows now
        one = get(live, "/api/opportunities", level=level, limit=1, venue=venue).json()["rows"]
        if one:
            break
    assert len(one) == 1 and one[0]["level"] == level and one[0]["venue"] == venue
    both = httpx.get(live.url + "/api/opportunities?level=FUERTE&level=BAJA&limit=100", timeout=10).json()["rows"]
    assert {r["level"] for r in both} <= {"FUERTE", "BAJA"} and len(both) >= 1


@pytest.mark.parametrize(("query", "says"), [
    ("limit=0", "query.limit: Input should be greater than or equal to 1 (got '0')"),
    ("limit=1000", "query.limit: Input should be less than or equal to 100 (got '1000')"),
    ("limit=ten", "query.limit: Input should be a valid integer, unable to parse string as an integer (got 'ten')"),
    ("level=HUGE", "query.level.0: Input should be 'FUERTE', 'ALTA', 'MEDIA', 'BAJA' or 'DESCARTADA' (got 'HUGE')"),
    ("venue=moon", "query.venue: Input should be 'spot' or 'futures' (got 'moon')"),
])  # fmt: skip
def test_opportunities_bad_parameters_are_422_with_one_clear_line(live: LiveDemo, query: str, says: str) -> None:
    r = httpx.get(f"{live.url}/api/opportunities?{query}", timeout=10)
    assert r.status_code == 422 and r.json() == {"detail": says}


def test_snapshot_and_status(live: LiveDemo) -> None:
    snap = get(live, "/api/snapshot").json()
    assert list(snap["levels"]) == ["FUERTE", "ALTA", "MEDIA", "BAJA", "DESCARTADA"] and snap["tracked"] == 18
    status = get(live, "/api/status").json()
    feed = status["feed"]
    assert feed["streaming_pairs"] == {"spot": 14, "futures": 4} and feed["connections_by_state"]["CONNECTED"] >= 1
    assert status["scanner"]["passes"] >= 2 and status["scanner"]["tracked"] == 18
    assert status["dashboard"]["queue_size"] == 16 and status["dashboard"]["dropped_clients"] >= 0


def test_symbol_detail(live: LiveDemo) -> None:
    best = get(live, "/api/opportunities", limit=1).json()["rows"][0]
    doc = get(live, f"/api/symbols/{best['symbol'].lower()}", venue=best["venue"], bars=30).json()
    assert doc["symbol"] == best["symbol"] and doc["venue"] == best["venue"] and doc["ranked"]
    assert doc["row"]["components"].keys() == best["components"].keys()
    c = doc["candles"]
    assert 30 <= len(c["t"]) <= 31 and c["t"] == sorted(c["t"]) and len(c["rsi"]) == len(c["t"])
    assert all(0 <= x <= 100 for x in c["rsi"] if x is not None) and c["macd"][-1] is not None
    assert get(live, f"/api/symbols/{best['symbol']}", bars=0).json()["candles"]["t"] == []


@pytest.mark.parametrize(("path", "status", "says"), [
    ("/api/symbols/NOPEUSDT", 404, "NOPEUSDT is not scanned (scanned venues: none)"),
    ("/api/symbols/BAD-SYM", 422, "path.symbol: String should match pattern '^[A-Za-z0-9]{2,30}$' (got 'BAD-SYM')"),
    ("/api/symbols/SOLUSDT?bars=5000", 422, "query.bars: Input should be less than or equal to 1000 (got '5000')"),
    ("/api/symbols/SOLUSDT?venue=margin", 422, "query.venue: Input should be 'spot' or 'futures' (got 'margin')"),
    ("/api/alerts?since_ms=-1", 422, "query.since_ms: Input should be greater than or equal to 0 (got '-1')"),
    ("/api/alerts?level=LOW", 422,
     "query.level: Input should be 'FUERTE', 'ALTA', 'MEDIA', 'BAJA' or 'DESCARTADA' (got 'LOW')"),
])  # fmt: skip
def test_bad_symbol_and_alert_queries(live: LiveDemo, path: str, status: int, says: str) -> None:
    r = httpx.get(live.url + path, timeout=10)
    assert r.status_code == status and r.json() == {"detail": says}


def test_alerts(live: LiveDemo) -> None:
    alerts = get(live, "/api/alerts").json()["alerts"]
    assert alerts, "the demo's low thresholds alert at once"
    assert [a["ts_ms"] for a in alerts] == sorted((a["ts_ms"] for a in alerts), reverse=True)
    first = alerts[0]
    mine = get(live, "/api/alerts", symbol=first["symbol"].lower(), venue=first["venue"]).json()["alerts"]
    assert mine and all(a["symbol"] == first["symbol"] and a["venue"] == first["venue"] for a in mine)
    assert len(get(live, "/api/alerts", limit=1).json()["alerts"]) == 1
    assert get(live, "/api/alerts", since_ms=first["ts_ms"] + 1).json()["alerts"] == []


def test_tracking_in_the_demo(live: LiveDemo) -> None:
    """The demo tracks its alerts (none resolved this early, or some: both fine) next to the written report."""
    doc = get(live, "/api/tracking").json()
    assert doc["enabled"] and doc["pending"] + doc["resolved"] >= 1 and doc["backtest_report"]
    assert [(r["level"], r["horizon_h"]) for r in doc["rows"]][:4] == [("FUERTE", 4), ("FUERTE", 24), ("ALTA", 4),
                                                                      ("ALTA", 24)]  # fmt: skip
    assert doc["rows"][0]["backtest"] == {"value": 0.31, "lo": 0.25, "hi": 0.38}
    for r in doc["rows"]:
        for cell in (r["live_7d"], r["live_30d"]):
            assert 0 <= cell["hits"] <= cell["alerts"] and (cell["precision"] is None) == (cell["alerts"] == 0)


@pytest.fixture
async def idle() -> AsyncIterator[Dashboard]:
    """A dashboard over a pipeline that has not started: no scan pass yet. Token set, Spanish."""
    settings = Settings()
    agg = build_aggregator(settings, "http://127.0.0.1:9")
    source = PipelineSource(agg, build_scanner(agg, settings))
    async with Dashboard(source, DashboardOptions(port=0, token="s3cret", lang="es")) as dashboard:
        yield dashboard


async def test_token_is_required_everywhere_and_503_before_the_first_pass(idle: Dashboard) -> None:
    async with httpx.AsyncClient(base_url=idle.url, timeout=10) as client:
        for path in ("/api/status", "/", "/pairs/spot/SOLUSDT", "/openapi.json", "/api/alerts"):
            r = await client.get(path)
            assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer", path
            assert "token" in r.json()["detail"]
        assert (await client.get("/api/status?token=wrong")).status_code == 401
        assert (await client.get("/api/status", headers={"Authorization": "Bearer wrong"})).status_code == 401
        ok = await client.get("/api/status", headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200 and ok.json()["scanner"] == {"passes": 0, "last_scan_ms": None, "tracked": None,
                                                                  "eligible": None}  # fmt: skip
        off = (await client.get("/api/tracking?token=s3cret")).json()  # no tracker handed over: zeros, not an error
        assert not off["enabled"] and off["pending"] == 0 and off["backtest_report"] is None
        assert [(r["level"], r["horizon_h"], r["live_7d"]["precision"]) for r in off["rows"]] == [
            ("FUERTE", 4, None), ("FUERTE", 24, None), ("ALTA", 4, None), ("ALTA", 24, None)]  # fmt: skip
        r = await client.get("/api/opportunities?token=s3cret")
        assert r.status_code == 503 and r.json()["detail"].startswith("no scan pass yet") and r.headers["retry-after"]
        assert (await client.get("/static/dashboard.css")).status_code == 200  # no data in static files
        page = await client.get("/?token=s3cret")
        assert page.status_code == 200
        for word in ("Oportunidades", "Confianza", "Volumen 24 h", "Última actualización", "FUERTE", "ALTA",
                     "Precisión en vivo"):  # fmt: skip
            assert word in page.text, word
        assert 'href="/static/vendor/plotly.min.js"' not in page.text and "cdn" not in page.text.lower()
        evil = await client.get("/pairs/%3C%2Fscript%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E/X?token=s3cret")
        assert evil.status_code == 404 and "<script>alert(1)" not in evil.text and "</script><" not in evil.text
    ws_url = idle.url.replace("http", "ws") + "/ws"
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with connect(ws_url, open_timeout=10):
            pass
    assert refused.value.response.status_code == 401
    async with connect(ws_url + "?token=s3cret", open_timeout=10) as ws:
        first = await asyncio.wait_for(ws.recv(), 10)
    assert '"type":"snapshot"' in str(first) and '"rows":[]' in str(first)


async def test_a_taken_port_is_an_error_unless_fallback(idle: Dashboard) -> None:
    assert idle.port is not None
    with pytest.raises(OSError, match=f"dashboard: cannot listen on 127.0.0.1:{idle.port}"):
        bind("127.0.0.1", idle.port)
    source = idle.service.source
    async with Dashboard(source, DashboardOptions(port=idle.port, fallback_port=True)) as other:
        assert other.port not in (None, idle.port)
        async with httpx.AsyncClient() as client:
            assert (await client.get(other.url + "/api/status", timeout=10)).status_code == 200
