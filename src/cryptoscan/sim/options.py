"""Settings of one simulator run, and the interface between the market and the servers.

The simulator is three parts that meet only here:
- a *stream source* (the market generator, or a replay of a recording) that says which messages are due;
- the REST routes (``sim/rest.py``) and the WebSocket routes (``sim/ws.py``) that serve them;
- the control API (``sim/control.py``) that injects faults and drives the simulated futures account.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from cryptoscan.venues.binance.spec import Venue


@dataclass(slots=True)
class SimOptions:
    """Every knob of ``cryptoscan sim``. Times are market time (they scale with ``speed``)."""

    host: str = "127.0.0.1"
    port: int = 0  # 0: pick a free port; the chosen URL is printed
    seed: int = 7
    speed: float = 1.0
    start_ms: int | None = None  # market start time; None: now
    n_spot: int = 400  # USDT spot pairs (plus non-USDT, non-TRADING and leveraged extras)
    n_futures: int = 200  # USDT-M perpetuals
    truth: Path | None = None  # write every closed kline and every burst here (JSON lines)
    replay: Path | None = None  # serve this recording instead of the generator
    replay_speed: float = 1.0  # pace of the replay against the recorded receive times; 0: as fast as possible
    streams_per_connection: int = 1024
    connection_attempts_per_5m: int = 300
    lifetime_ms: int = 86_400_000
    spot_weight_per_minute: int = 6000
    futures_weight_per_minute: int = 2400
    tick_ms: int = 20  # real milliseconds between publisher ticks
    # At --speed > 1, snapshot streams (tickers, depth, bookTicker, markPrice, the open kline) are sent at most
    # once per this many real ms, so a client sees Binance-like message rates at any speed. Trades and closed
    # klines are never thinned. At speed 1 Binance's own cadences hold exactly.
    snapshot_min_real_ms: int = 250
    faults: list[str] = field(default_factory=list)  # e.g. ["drop:30", "stall:60", "malformed:10"]: kind:every_s
    fault_seed: int = 1


class StreamSource(Protocol):
    """Where WebSocket market data comes from: the generator or a replay."""

    def knows(self, venue: Venue, stream: str) -> bool:
        """Is this stream name valid and backed by a listed symbol on this venue?"""
        ...

    def poll(self, now_ms: int, wanted: Mapping[Venue, Collection[str]]) -> list[tuple[Venue, str, bytes]]:
        """Messages due since the last poll up to ``now_ms``, for the wanted streams only.

        Each item is (venue, stream name, JSON of the raw stream payload, i.e. the combined
        envelope's ``data``). Messages come in the order they happened.
        """
        ...
