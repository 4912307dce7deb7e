"""The REST API: ``/api/opportunities``, ``/api/snapshot``, ``/api/status``, ``/api/symbols/{symbol}``,
``/api/alerts``, ``/api/tracking``. FastAPI validates the parameters and writes the OpenAPI description from
these signatures.

Errors are ``{"detail": "one line"}``: 422 names the parameter and the rule it broke, 404 an unknown symbol,
503 a request before the first scan pass (history is still loading), 401 a missing token (see auth.py).
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, HTTPException, Path, Query

from cryptoscan.scanner.levels import Level
from cryptoscan.scanner.result import ScanResult
from cryptoscan.web.schemas import (
    AlertsOut,
    ErrorOut,
    LevelName,
    OpportunitiesOut,
    SnapshotOut,
    StatusOut,
    SymbolOut,
    TrackingOut,
    VenueName,
    clean,
)
from cryptoscan.web.series import PairSeries
from cryptoscan.web.service import DashboardService
from cryptoscan.web.views import alert_docs, pair_row, venues_of

SYMBOL = r"^[A-Za-z0-9]{2,30}$"
DEFAULT_LEVELS: tuple[LevelName, ...] = ("FUERTE", "ALTA", "MEDIA")
LEVELS_HELP = "levels to list (repeatable); default FUERTE, ALTA, MEDIA"
COLUMNS = ("t", "o", "h", "l", "c", "v", "rsi", "macd", "signal", "hist")


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    text = {401: "missing or wrong token", 404: "unknown symbol", 422: "a parameter is invalid",
            503: "no scan pass yet (history is loading)"}  # fmt: skip
    return {code: {"model": ErrorOut, "description": text[code]} for code in (401, 422, *codes)}


def _builtins(obj: Any) -> Any:
    return clean(msgspec.to_builtins(obj))


def api_router(service: DashboardService) -> APIRouter:
    router = APIRouter(prefix="/api", tags=["api"])
    source = service.source

    def latest() -> ScanResult:
        result = source.latest()
        if result is None:
            raise HTTPException(503, "no scan pass yet: the scanner is still loading history",
                                headers={"Retry-After": "5"})  # fmt: skip
        return result

    @router.get("/opportunities", response_model=OpportunitiesOut, responses=_errors(503))
    async def opportunities(
        level: Annotated[list[LevelName] | None, Query(description=LEVELS_HELP)] = None,
        venue: Annotated[VenueName | None, Query(description="only this venue")] = None,
        limit: Annotated[int, Query(ge=1, le=100, description="rows per level")] = 10,
    ) -> Any:
        """The ranked opportunities of the latest pass: the best ``limit`` eligible rows of each level, with
        the points, probability factors and indicator values behind each score."""
        result = latest()
        wanted = sorted({Level[name] for name in (level or DEFAULT_LEVELS)}, reverse=True)
        order = result.order
        ranked = result.levels[order]
        rows = []
        for lv in wanted:
            n = 0
            for pos, i in enumerate(order.tolist()):
                if n >= limit:
                    break
                if ranked[pos] == lv and (venue is None or result.names[i][0] == venue):
                    rows.append(result.row(i, pos + 1))
                    n += 1
        snap_counts = {lv.name: int((ranked == lv).sum()) for lv in sorted(Level, reverse=True)}
        return {"ts_ms": result.ts_ms, "interval": result.interval, "eligible": int(order.size),
                "counts": snap_counts, "rows": _builtins(rows)}  # fmt: skip

    @router.get("/snapshot", response_model=SnapshotOut, responses=_errors(503))
    async def snapshot() -> Any:
        """The latest pass as ``cryptoscan scan --once --json`` prints it (``scanner.top`` rows per level)."""
        return _builtins(latest().snapshot())

    @router.get("/status", response_model=StatusOut, responses=_errors())
    async def status() -> Any:
        """The feed's health (connections, pairs, rate, lag, reconnects), the scanner's passes, and the
        dashboard's clients, including slow clients dropped."""
        feed = source.feed_status()
        line = service.status()
        result = source.latest()
        hub, listener = service.hub, service.listener
        return {
            "feed": {**_builtins(feed), "connections_by_state": line.connections,
                     "messages_per_s": line.messages_per_s},
            "scanner": {"passes": source.passes(), "last_scan_ms": result.ts_ms if result else None,
                        "tracked": result.tracked if result else None,
                        "eligible": int(result.order.size) if result else None},
            "dashboard": {"clients": hub.count(), "clients_connected": hub.stats.connected,
                          "dropped_clients": hub.stats.dropped, "queue_size": hub.queue_size,
                          "frames": hub.stats.published, "frame_bytes": hub.stats.published_bytes,
                          "listener_calls": listener.calls, "listener_max_ms": round(listener.max_ms, 3),
                          "listener_mean_ms": round(listener.total_ms / max(listener.calls, 1), 3)},
        }  # fmt: skip

    @router.get("/symbols/{symbol}", response_model=SymbolOut, responses=_errors(404, 503))
    async def symbol_detail(
        symbol: Annotated[str, Path(pattern=SYMBOL, description="e.g. SOLUSDT (any case)")],
        venue: Annotated[VenueName | None, Query(description="default: spot if scanned there, else futures")] = None,
        bars: Annotated[int, Query(ge=0, le=1000, description="closed candles to include (+ the forming one)")] = 120,
    ) -> Any:
        """One pair: its scored row (the score breakdown), candles with RSI 14 and MACD, and its alerts."""
        result = latest()
        name = symbol.upper()
        venues = venues_of(result, service.index, name)
        if not venues or (venue is not None and venue not in venues):
            where = f" on {venue}" if venue else ""
            raise HTTPException(404, f"{name} is not scanned{where} (scanned venues: {', '.join(venues) or 'none'})")
        chosen = venue or venues[0]
        found = pair_row(result, service.index, chosen, name)
        assert found is not None
        series = PairSeries(source.interval, show=bars)
        candles = series.sync(source.ring(chosen, name)) if bars > 0 else None
        doc = _builtins(candles) if candles is not None else {"forming": False, **{k: [] for k in COLUMNS}}
        doc.pop("full", None)
        return {"symbol": name, "venue": chosen, "venues": venues, "interval": source.interval, "ts_ms": found.ts_ms,
                "ranked": found.ranked, "row": _builtins(found.row), "candles": doc,
                "alerts": _builtins(alert_docs(source.records(), venue=chosen, symbol=name))}  # fmt: skip

    @router.get("/alerts", response_model=AlertsOut, responses=_errors())
    async def alerts(
        symbol: Annotated[str | None, Query(pattern=SYMBOL, description="only this symbol (any case)")] = None,
        venue: Annotated[VenueName | None, Query()] = None,
        level: Annotated[LevelName | None, Query()] = None,
        since_ms: Annotated[int | None, Query(ge=0, description="only alerts at or after this time, epoch ms")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> Any:
        """Alerts sent (or gathered into a digest), newest first, with how many channels delivered each."""
        docs = alert_docs(source.records(), venue=venue, symbol=symbol.upper() if symbol else None, level=level,
                          since_ms=since_ms, limit=limit)  # fmt: skip
        return {"alerts": _builtins(docs)}

    @router.get("/tracking", response_model=TrackingOut, responses=_errors())
    async def tracking() -> Any:
        """Live precision per level and horizon (4 h, 24 h): of the alerts raised in the last 7 and 30 days
        whose outcome is known, how many reached the target, next to the backtest report's precision with its
        95 % interval; alerts still pending and alerts not tracked."""
        doc = _builtins(service.tracking())
        doc.pop("type", None)
        return doc

    return router
