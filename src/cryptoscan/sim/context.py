"""What every part of one simulator run shares. Built once by ``sim/server.py``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from cryptoscan.clock import ScaledClock
from cryptoscan.sim.options import SimOptions, StreamSource
from cryptoscan.sim.stats import SimStats

if TYPE_CHECKING:
    from cryptoscan.sim.account import Account
    from cryptoscan.sim.faults import FaultInjector
    from cryptoscan.sim.market import MarketModel


@dataclass(slots=True)
class SimContext:
    options: SimOptions
    clock: ScaledClock  # market time
    market: MarketModel  # symbols, REST history and snapshots (also used in replay mode for REST)
    source: StreamSource  # WebSocket market data: the generator, or a replay
    account: Account  # futures user data
    faults: FaultInjector
    stats: SimStats
