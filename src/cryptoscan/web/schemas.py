"""The REST API's response shapes (pydantic, so FastAPI writes them into the OpenAPI description).

A value the scanner does not know yet (NaN: warming up, no 24 h ticker) is ``null``, never NaN, so every
answer is valid JSON and matches its schema.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, Field

LevelName = Literal["FUERTE", "ALTA", "MEDIA", "BAJA", "DESCARTADA"]
VenueName = Literal["spot", "futures"]


def clean(value: Any) -> Any:
    """NaN -> None, recursively through dicts and lists (JSON has no NaN)."""
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    return value


class ErrorOut(BaseModel):
    detail: str = Field(description="what was wrong, in one line")


class RowOut(BaseModel):
    rank: int = Field(description="1 = best composite among eligible pairs; 0 = not ranked (filtered out)")
    venue: VenueName
    symbol: str
    level: LevelName
    price: float | None
    momentum: float | None = Field(description="score 0-100")
    probability: float | None = Field(description="percent, of the target move within 4-24 h")
    composite: float | None
    volume_24h: float | None = Field(description="24 h quote volume, USDT")
    updated_ms: int = Field(description="exchange time of the newest kline, epoch ms")
    components: dict[str, float | None] = Field(description="score points per part")
    factors: dict[str, float | None] = Field(description="probability factors, each 0-1")
    indicators: dict[str, float | None] = Field(description="indicator values; null while warming up")


class OpportunitiesOut(BaseModel):
    ts_ms: int = Field(description="time of the scan pass, epoch ms")
    interval: str
    eligible: int
    counts: dict[str, int] = Field(description="eligible pairs per level")
    rows: list[RowOut] = Field(description="best first within each requested level, highest level first")


class SnapshotOut(BaseModel):
    ts_ms: int
    interval: str
    tracked: int
    eligible: int
    counts: dict[str, int]
    levels: dict[str, list[RowOut]] = Field(description="top rows per level, highest level first")


class ConnectionOut(BaseModel):
    connection_id: str
    venue: str
    category: str
    state: str
    phase: str
    streams: int
    messages: int
    reconnects: int
    last_message_ms: int | None


class FeedOut(BaseModel):
    now_ms: int
    uptime_s: float
    active_connections: int
    connections_by_state: dict[str, int]
    connections: list[ConnectionOut]
    streaming_pairs: dict[str, int]
    messages: int
    messages_per_s: float = Field(description="over the last few seconds")
    lag_ms_p50: float | None
    lag_ms_p99: float | None
    reconnects: int
    backfilled_klines: int
    parse_errors: dict[str, int]
    dropped: int = Field(description="events coalesced or dropped by the feed's consumer queues")


class ScannerOut(BaseModel):
    passes: int
    last_scan_ms: int | None
    tracked: int | None
    eligible: int | None


class DashboardOut(BaseModel):
    clients: int = Field(description="WebSocket clients connected now")
    clients_connected: int = Field(description="WebSocket clients since start")
    dropped_clients: int = Field(description="slow clients dropped because their bounded queue was full")
    queue_size: int = Field(description="frames a client may fall behind before it is dropped")
    frames: int
    frame_bytes: int
    listener_calls: int
    listener_mean_ms: float = Field(description="time each scan pass spends in the dashboard")
    listener_max_ms: float


class StatusOut(BaseModel):
    feed: FeedOut
    scanner: ScannerOut
    dashboard: DashboardOut


class CandlesOut(BaseModel):
    forming: bool = Field(description="the last bar is the open one")
    t: list[int] = Field(description="open times, epoch ms")
    o: list[float]
    h: list[float]
    l: list[float]  # noqa: E741
    c: list[float]
    v: list[float]
    rsi: list[float | None] = Field(description="RSI 14")
    macd: list[float | None] = Field(description="MACD line (the scanner's periods)")
    signal: list[float | None]
    hist: list[float | None]


class AlertOut(BaseModel):
    ts_ms: int
    alert_id: str
    venue: str
    symbol: str
    level: str
    kind: str
    delivery: str
    title: str
    message: str
    delivered: int
    failed: int


class AlertsOut(BaseModel):
    alerts: list[AlertOut] = Field(description="newest first")


class SymbolOut(BaseModel):
    symbol: str
    venue: VenueName
    venues: list[VenueName] = Field(description="every venue where the symbol is scanned")
    interval: str
    ts_ms: int = Field(description="time of the scan pass the row comes from")
    ranked: bool
    row: RowOut
    candles: CandlesOut
    alerts: list[AlertOut]


class LiveOut(BaseModel):
    alerts: int = Field(description="alerts resolved in the window (by alert time)")
    hits: int = Field(description="of those, how many reached the target within the horizon")
    precision: float | None = Field(description="hits / alerts, 0-1; null without a resolved alert")


class IntervalOut(BaseModel):
    value: float = Field(description="0-1")
    lo: float | None = Field(description="95 % interval, lower end (block bootstrap)")
    hi: float | None = Field(description="95 % interval, upper end")


class TrackingRowOut(BaseModel):
    level: str
    horizon_h: int = Field(description="hours after the alert's bar closes")
    live_7d: LiveOut = Field(description="alerts raised in the last 7 days")
    live_30d: LiveOut = Field(description="alerts raised in the last 30 days")
    backtest: IntervalOut | None = Field(description="the backtest report's precision for the level; null without one")


class TrackingOut(BaseModel):
    enabled: bool = Field(description="live tracking runs in this process")
    now_ms: int = Field(description="market time the windows end at, epoch ms")
    target_pct: float = Field(description="the move an alert must reach, percent")
    pending: int = Field(description="alerts with a horizon not resolved yet")
    dropped: int = Field(description="alerts that could not be tracked (no price, or too many pending)")
    resolved: int = Field(description="outcomes kept (alert x horizon), last 30 days")
    backtest_report: str | None = Field(description="the report the backtest figures come from; null: none")
    rows: list[TrackingRowOut] = Field(description="FUERTE and ALTA always, another level once an alert of it resolved")
