"""Per-symbol market state: kline ring buffers (numpy), latest values, immutable snapshots."""

from cryptoscan.market.rings import FIELDS, KlineRing, Outcome
from cryptoscan.market.snapshot import KlineWindow, MarketSnapshot, RingView, SnapshotExpired
from cryptoscan.market.state import MarketState

__all__ = [
    "FIELDS",
    "KlineRing",
    "KlineWindow",
    "MarketSnapshot",
    "MarketState",
    "Outcome",
    "RingView",
    "SnapshotExpired",
]
