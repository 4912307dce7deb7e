"""``cryptoscan status``: live precision per level from the stored alert outcomes, next to the backtest's.

Live outcomes are the ``outcomes`` table that live tracking (:mod:`cryptoscan.backtest.tracking`) fills as each
alert's horizons pass; the backtest figures are the last report's ``report.json``. Both are read, never computed
here, so the two columns are exactly what the tracker and the report said.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cryptoscan.backtest.load import _fetch
from cryptoscan.backtest.tracking import Outcome, precision
from cryptoscan.clock import LiveClock
from cryptoscan.sinks.store.backend import DEFAULT_PG_SCHEMA
from cryptoscan.sinks.store.schema import OUTCOMES, column_list

DAYS = (7, 30)


def load_outcomes(store: str | Path, since_ms: int, *, pg_schema: str = DEFAULT_PG_SCHEMA) -> list[Outcome]:
    """Stored outcomes of alerts raised at or after ``since_ms``."""
    rows = _fetch(store, pg_schema, f"SELECT {column_list(OUTCOMES)} FROM {{table}} WHERE ts >= ? ORDER BY ts",
                  [since_ms], table="outcomes")  # fmt: skip
    assert isinstance(rows, list)
    names = OUTCOMES.names
    out = []
    for r in rows:
        d = dict(zip(names, r, strict=True))
        out.append(Outcome(ts_ms=int(d["ts"]), venue=d["venue"], symbol=d["symbol"], level=d["level"],
                           horizon_h=int(d["horizon_h"]), entry=float(d["entry"]), hit=int(d["hit"]),
                           max_gain_pct=d["max_gain_pct"], max_drawdown_pct=d["max_drawdown_pct"],
                           time_to_hit_ms=int(d["time_to_hit_ms"]), resolved_ms=int(d["resolved_ms"])))  # fmt: skip
    return out


def _backtest(report: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads(report.read_text())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def live_status(store: str | Path, report: Path, *, now_ms: int | None = None,
                pg_schema: str = DEFAULT_PG_SCHEMA) -> dict[str, Any]:  # fmt: skip
    """Per (level, horizon): live alerts and precision over the last 7 and 30 days, and the backtest's."""
    now = LiveClock().now_ms() if now_ms is None else now_ms
    outcomes = load_outcomes(store, now - max(DAYS) * 86_400_000, pg_schema=pg_schema)
    horizons = sorted({o.horizon_h for o in outcomes} | {4, 24})
    bt = _backtest(report)
    rows = []
    for p in precision(outcomes, now, horizons, DAYS):
        rows.append({"level": p.level, "horizon_h": p.horizon_h, "days": p.days, "alerts": p.alerts, "hits": p.hits,
                     "precision": p.precision})  # fmt: skip
    table: dict[str, dict[str, Any]] = {}
    for r in rows:
        entry = table.setdefault(f"{r['level']} {r['horizon_h']}h", {"level": r["level"], "horizon_h": r["horizon_h"]})
        entry[f"live_{r['days']}d"] = {"alerts": r["alerts"], "hits": r["hits"], "precision": r["precision"]}
    for entry in table.values():  # the backtest's alerts at that level (what is tracked live), else its rows
        key = f"{entry['horizon_h']}h"
        alerts = (bt or {}).get("alerts", {}).get(entry["level"], {})
        rows = (bt or {}).get("levels", {}).get(entry["level"], {})
        entry["backtest"] = ((alerts.get(key) if alerts.get("count") else None) or rows.get(key) or {}).get("precision")
    return {"now_ms": now, "store": str(store), "report": str(report) if bt else None, "outcomes": len(outcomes),
            "rows": list(table.values())}  # fmt: skip


def _fmt(x: dict[str, Any] | None) -> str:
    if not x or not x.get("alerts"):
        return "-"
    return f"{x['precision'] * 100:.0f} % of {x['alerts']}"


def status_lines(status: dict[str, Any]) -> list[str]:
    out = [f"live alert outcomes in {status['store']}: {status['outcomes']} in the last {max(DAYS)} days"]
    if not status["rows"]:
        out.append("  none resolved yet (an alert resolves 4 h and 24 h after it was raised)")
    else:
        out.append(f"  {'level':<7} {'horizon':>7}  {'live 7 d':>14}  {'live 30 d':>14}  {'backtest':>10}")
        for r in status["rows"]:
            bt = r.get("backtest")
            btxt = f"{bt['value'] * 100:.0f} %" if bt and bt.get("value") is not None else "-"
            out.append(f"  {r['level']:<7} {r['horizon_h']:>6}h  {_fmt(r.get('live_7d')):>14}  "
                       f"{_fmt(r.get('live_30d')):>14}  {btxt:>10}")  # fmt: skip
    out.append(f"  backtest figures: {status['report'] or 'no report (run cryptoscan backtest)'}")
    return out
