"""What an alert says: symbol, level, score and its parts, probability, price, 24 h volume, and a link.

Two bodies per message: plain text (email text part, generic webhooks) and a compact Markdown variant (chat
services); links are written out bare, so they survive every conversion apprise makes. A digest lists its
pairs best first, at most ``max_lines`` of them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from cryptoscan.alerts.rules import Alert
from cryptoscan.scanner.result import ScanRow

PART_LABELS = {"rsi": "RSI", "macd": "MACD", "volume": "volume", "velocity": "velocity", "breakout": "breakout"}


@dataclass(frozen=True, slots=True)
class Message:
    title: str
    text: str
    markdown: str


def pair_url(dashboard_url: str | None, venue: str, symbol: str) -> str | None:
    """The dashboard's page for one pair, or None without a dashboard."""
    if not dashboard_url:
        return None
    return f"{dashboard_url.rstrip('/')}/pairs/{venue}/{symbol}"


def fmt_price(price: float) -> str:
    """Five significant digits, without exponent notation (0.000012345 -> 0.000012345)."""
    if not math.isfinite(price) or price <= 0:
        return "n/a"
    decimals = max(0, 4 - math.floor(math.log10(price)))
    return f"{price:,.{decimals}f}"


def fmt_volume(usd: float) -> str:
    if not math.isfinite(usd):
        return "n/a"
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(usd) >= limit:
            return f"${usd / limit:.1f}{suffix}"
    return f"${usd:.0f}"


def _parts(row: ScanRow) -> str:
    shown = [f"{PART_LABELS.get(name, name)} {points:g}" for name, points in row.components.items() if points]
    return " + ".join(shown) if shown else "no points"


def _factors(row: ScanRow) -> str:
    return ", ".join(f"{name} {value:.2f}" for name, value in row.factors.items())


def _level(alert: Alert) -> str:
    return f"{alert.previous} -> {alert.level}" if alert.kind == "upgrade" and alert.previous else alert.level


def alert_message(alert: Alert, dashboard_url: str | None = None, target_pct: float = 7.5) -> Message:
    """One pair, sent at once (FUERTE, or ALTA when digests are off)."""
    row = alert.row
    level = _level(alert)
    title = f"{level} {alert.symbol} ({alert.venue}): score {row.momentum:.0f}, {row.probability:.0f}% probability"
    link = pair_url(dashboard_url, alert.venue, alert.symbol)
    prob = f"Probability of +{target_pct:g}% within 4-24 h: {row.probability:.1f}%"
    money = f"Price {fmt_price(row.price)} USDT, 24 h volume {fmt_volume(row.volume_24h)}"
    text = [
        f"{alert.symbol} ({alert.venue}) is {level}: momentum score {row.momentum:.0f}/100",
        f"Score: {_parts(row)}",
        f"{prob} ({_factors(row)})",
        money,
    ]
    md = [
        f"**{level}** **{alert.symbol}** ({alert.venue}): score **{row.momentum:.0f}**/100",
        f"Score: {_parts(row)}",
        f"{prob}",
        money,
    ]
    if link:
        text.append(f"Dashboard: {link}")
        md.append(link)
    return Message(title=title, text="\n".join(text), markdown="\n".join(md))


def _digest_line(alert: Alert, dashboard_url: str | None, bold: bool) -> str:
    row = alert.row
    name = f"**{alert.symbol}**" if bold else alert.symbol
    line = (
        f"{name} ({alert.venue}) {_level(alert)}: score {row.momentum:.0f} ({_parts(row)}), "
        f"{row.probability:.0f}%, {fmt_price(row.price)} USDT, vol {fmt_volume(row.volume_24h)}"
    )
    link = pair_url(dashboard_url, alert.venue, alert.symbol)
    return f"{line} {link}" if link else line


def digest_message(
    alerts: Sequence[Alert], dashboard_url: str | None = None, target_pct: float = 7.5, max_lines: int = 20
) -> Message:
    """Several ALTA pairs in one message, best composite first."""
    ranked = sorted(alerts, key=lambda a: -a.row.composite)
    shown, rest = ranked[:max_lines], len(ranked) - max_lines
    names = ", ".join(a.symbol for a in ranked[:3]) + (", ..." if len(ranked) > 3 else "")
    noun = "pair" if len(ranked) == 1 else "pairs"
    title = f"ALTA: {len(ranked)} {noun} ({names})"
    head = f"{len(ranked)} {noun} reached ALTA (probability of +{target_pct:g}% within 4-24 h in %):"
    text = [head, *(f"- {_digest_line(a, dashboard_url, False)}" for a in shown)]
    md = [head, *(f"- {_digest_line(a, dashboard_url, True)}" for a in shown)]
    if rest > 0:
        text.append(f"... and {rest} more")
        md.append(f"... and {rest} more")
    return Message(title=title, text="\n".join(text), markdown="\n".join(md))
