"""Counters and limit violations the simulator reports at ``GET /sim/status``.

Tests assert "zero limit violations" against this, so every rule the sim enforces records here.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass(slots=True)
class Violation:
    kind: str  # "message_rate", "streams_per_connection", "connection_attempts", "pong_timeout",
    # "rest_weight" (a 429), "rest_ban" (a 418 for ignoring a 429)
    detail: str
    market_ms: int


@dataclass(slots=True)
class SimStats:
    counters: Counter[str] = field(default_factory=Counter)
    violations: list[Violation] = field(default_factory=list)
    max_kept: int = 1000  # violations kept in full; all are counted

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] += n

    def violation(self, kind: str, detail: str, market_ms: int) -> None:
        self.counters[f"violation.{kind}"] += 1
        if len(self.violations) < self.max_kept:
            self.violations.append(Violation(kind, detail, market_ms))

    def violation_counts(self) -> dict[str, int]:
        return {k.removeprefix("violation."): v for k, v in self.counters.items() if k.startswith("violation.")}
