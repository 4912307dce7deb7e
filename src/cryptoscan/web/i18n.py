"""The dashboard's words in English and Spanish: one table, so a missing translation fails a test, not a page.

Level names (FUERTE, ALTA, MEDIA, BAJA, DESCARTADA) are the product's own terms and stay as they are in
every language; they are not in these tables.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

EN: Final = MappingProxyType({
    "title": "cryptoscan: momentum opportunities",
    "opportunities": "Opportunities",
    "symbol": "Symbol",
    "venue": "Venue",
    "price": "Price",
    "momentum": "Momentum",
    "probability": "Prob +{target} %",
    "confidence": "Confidence",
    "volume": "24 h volume",
    "updated": "Last update",
    "rank": "#",
    "filter": "Filter symbols",
    "all_venues": "All venues",
    "waiting": "Waiting for the first scan (loading history)…",
    "no_rows": "No pair matches.",
    "live": "live",
    "connecting": "connecting",
    "reconnecting": "reconnecting",
    "connections": "connections",
    "pairs": "pairs",
    "msgs": "msg/s",
    "lag": "lag",
    "reconnects": "reconnects",
    "clients": "clients",
    "dropped_clients": "slow clients dropped",
    "scan": "scan",
    "back": "All opportunities",
    "chart": "Price, volume, RSI and MACD",
    "breakdown": "Why it scores",
    "components": "Score points",
    "factors": "Probability factors (0-1)",
    "indicators": "Indicators",
    "alerts": "Alert history",
    "no_alerts": "No alerts for this pair yet.",
    "time": "Time (UTC)",
    "level": "Level",
    "kind": "Kind",
    "delivery": "Delivery",
    "message": "Message",
    "not_ranked": "not ranked (filtered out by volume or price)",
    "not_scanned": "this pair is not scanned here",
    "rank_of": "rank",
    "score": "score",
    "candles": "Candles",
    "part.rsi": "RSI",
    "part.macd": "MACD",
    "part.volume": "Volume spike",
    "part.velocity": "1 h velocity",
    "part.breakout": "Breakout",
    "factor.volatility": "Volatility",
    "factor.momentum": "Momentum",
    "factor.resistance": "Resistance distance",
    "factor.btc": "BTC",
    "factor.liquidity": "Liquidity",
    "live_precision": "Live precision",
    "live_precision_help": "Of the alerts raised in the last 7 and 30 days whose outcome is known, the share that "
                           "reached +{target} % within the horizon; backtest: the last report's precision per level",
    "live_7d": "live 7 d",
    "live_30d": "live 30 d",
    "backtest": "backtest",
    "pending_alerts": "pending",
    "untracked_alerts": "not tracked",
    "tracking_off": "live tracking is off in this process",
})  # fmt: skip

ES: Final = MappingProxyType({
    "title": "cryptoscan: oportunidades de momentum",
    "opportunities": "Oportunidades",
    "symbol": "Símbolo",
    "venue": "Mercado",
    "price": "Precio",
    "momentum": "Momentum",
    "probability": "Prob. +{target} %",
    "confidence": "Confianza",
    "volume": "Volumen 24 h",
    "updated": "Última actualización",
    "rank": "#",
    "filter": "Filtrar símbolos",
    "all_venues": "Todos los mercados",
    "waiting": "Esperando el primer escaneo (cargando historial)…",
    "no_rows": "Ningún par coincide.",
    "live": "en vivo",
    "connecting": "conectando",
    "reconnecting": "reconectando",
    "connections": "conexiones",
    "pairs": "pares",
    "msgs": "msj/s",
    "lag": "retraso",
    "reconnects": "reconexiones",
    "clients": "clientes",
    "dropped_clients": "clientes lentos descartados",
    "scan": "escaneo",
    "back": "Todas las oportunidades",
    "chart": "Precio, volumen, RSI y MACD",
    "breakdown": "Por qué puntúa",
    "components": "Puntos del score",
    "factors": "Factores de probabilidad (0-1)",
    "indicators": "Indicadores",
    "alerts": "Historial de alertas",
    "no_alerts": "Aún no hay alertas para este par.",
    "time": "Hora (UTC)",
    "level": "Nivel",
    "kind": "Tipo",
    "delivery": "Envío",
    "message": "Mensaje",
    "not_ranked": "sin ranking (filtrado por volumen o precio)",
    "not_scanned": "este par no se escanea aquí",
    "rank_of": "puesto",
    "score": "score",
    "candles": "Velas",
    "part.rsi": "RSI",
    "part.macd": "MACD",
    "part.volume": "Pico de volumen",
    "part.velocity": "Velocidad 1 h",
    "part.breakout": "Ruptura",
    "factor.volatility": "Volatilidad",
    "factor.momentum": "Momentum",
    "factor.resistance": "Distancia a resistencia",
    "factor.btc": "BTC",
    "factor.liquidity": "Liquidez",
    "live_precision": "Precisión en vivo",
    "live_precision_help": "De las alertas de los últimos 7 y 30 días con resultado conocido, la proporción "
                           "que alcanzó +{target} % dentro del horizonte; backtest: la precisión del último "
                           "informe por nivel",
    "live_7d": "en vivo 7 d",
    "live_30d": "en vivo 30 d",
    "backtest": "backtest",
    "pending_alerts": "pendientes",
    "untracked_alerts": "sin seguimiento",
    "tracking_off": "el seguimiento en vivo está desactivado en este proceso",
})  # fmt: skip

LANGS: Final = MappingProxyType({"en": EN, "es": ES})


def strings(lang: str, target_pct: float = 7.5) -> dict[str, str]:
    """Every string of ``lang`` with the probability target filled in; ValueError names the languages there are."""
    table = LANGS.get(lang)
    if table is None:
        raise ValueError(f"dashboard language {lang!r} is not available (one of {', '.join(LANGS)})")
    target = f"{target_pct:g}"
    return {k: v.replace("{target}", target) for k, v in table.items()}
