"""REST payloads of the simulated market in Binance's exact shapes (checked against shared/data/binance/rest)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cryptoscan.sim.market_fmt import fmt_ratio, fmt_units
from cryptoscan.sim.market_live import Partial
from cryptoscan.sim.market_universe import MIN_MS, SeriesSpec
from cryptoscan.venues.binance.spec import LIMITS, Venue

if TYPE_CHECKING:
    from cryptoscan.sim.market import MarketModel

MAX_LIMIT = {Venue.SPOT: 1000, Venue.FUTURES: 1500}


def price(s: SeriesSpec, ticks: int) -> str:
    return fmt_units(ticks, s.tick_exp, s.out_price_dec)


def qty(s: SeriesSpec, steps: int) -> str:
    return fmt_units(steps, s.step_exp, s.out_qty_dec)


def quote(s: SeriesSpec, units: int) -> str:
    """Quote volume from units of tick*step."""
    dec = s.tick_exp + s.step_exp
    out = 8 if s.venue is Venue.SPOT else dec
    return fmt_units(units, dec, out) if out >= dec else fmt_ratio(units, 10 ** (dec - out), out)


def avg_price(s: SeriesSpec, bar: Partial) -> str:
    """Volume-weighted average price q / v."""
    out = s.out_price_dec
    return fmt_ratio(bar.q, max(bar.v, 1) * 10**s.tick_exp, out)


def pct(s: SeriesSpec, bar: Partial) -> str:
    return fmt_ratio(100 * (bar.c - bar.o), max(bar.o, 1), 3)


def kline_row(s: SeriesSpec, open_ms: int, interval_ms: int, bar: Partial) -> list[object]:
    return [open_ms, price(s, bar.o), price(s, bar.h), price(s, bar.l), price(s, bar.c), qty(s, bar.v),
            open_ms + interval_ms - 1, quote(s, bar.q), bar.n, qty(s, bar.tb), quote(s, bar.qb), "0"]


def klines(model: MarketModel, s: SeriesSpec, ims: int, start_ms: int | None, end_ms: int | None, limit: int,
           now_ms: int) -> list[list[object]]:
    """Binance semantics: startTime first, else the latest ``limit`` up to endTime (or now); open row last."""
    limit = max(1, min(limit, MAX_LIMIT[s.venue]))
    first = s.info.onboard_ms // ims * ims
    cur = now_ms // ims * ims
    hi = cur if end_ms is None else min(cur, end_ms // ims * ims)
    if start_ms is not None:
        lo = max(first, -(-start_ms // ims) * ims)
        hi = min(hi, lo + (limit - 1) * ims)
    else:
        lo = max(first, hi - (limit - 1) * ims)
    if hi < lo:
        return []
    n_closed = (min(hi, cur - ims) - lo) // ims + 1 if hi >= cur else (hi - lo) // ims + 1
    n_closed = max(n_closed, 0)
    rows = [kline_row(s, lo + i * ims, ims, bar) for i, bar in enumerate(model.closed_rows(s, ims, lo, n_closed))]
    if hi >= cur >= lo:
        bar, _, _, _ = model.bar_at(s, ims, cur, now_ms)
        rows.append(kline_row(s, cur, ims, bar))
    return rows


def ticker_24h(model: MarketModel, s: SeriesSpec, now_ms: int) -> dict[str, object]:
    bar, open_ms, first, last, prev = model.window(s, now_ms, 1440)
    last_p, last_q = model.last_trade(s, now_ms)
    out: dict[str, object] = {
        "symbol": s.symbol,
        "priceChange": price(s, bar.c - bar.o),
        "priceChangePercent": pct(s, bar),
        "weightedAvgPrice": avg_price(s, bar),
    }
    if s.venue is Venue.SPOT:
        _, bids, asks = model.book(s, now_ms, 1)
        out["prevClosePrice"] = price(s, prev)
        out.update(lastPrice=price(s, last_p), lastQty=qty(s, last_q),
                   bidPrice=price(s, bids[0][0]), bidQty=qty(s, bids[0][1]),
                   askPrice=price(s, asks[0][0]), askQty=qty(s, asks[0][1]))
    else:
        out.update(lastPrice=price(s, last_p), lastQty=qty(s, last_q))
    out.update(openPrice=price(s, bar.o), highPrice=price(s, bar.h), lowPrice=price(s, bar.l),
               volume=qty(s, bar.v), quoteVolume=quote(s, bar.q), openTime=open_ms, closeTime=now_ms,
               firstId=first, lastId=last, count=last - first + 1)
    return out


def depth(model: MarketModel, s: SeriesSpec, limit: int, now_ms: int) -> dict[str, object]:
    levels = max(1, min(limit, 1000))
    uid, bids, asks = model.book(s, now_ms, levels)
    out: dict[str, object] = {"lastUpdateId": uid}
    if s.venue is Venue.FUTURES:
        out.update(E=now_ms, T=max(now_ms - 3, 0))
    out["bids"] = [[price(s, p), qty(s, q)] for p, q in bids]
    out["asks"] = [[price(s, p), qty(s, q)] for p, q in asks]
    return out


def premium_index(model: MarketModel, s: SeriesSpec, now_ms: int) -> dict[str, object]:
    mark, index, rate, nxt = model.mark(s, now_ms)
    return {
        "symbol": s.symbol, "markPrice": f"{mark:.8f}", "indexPrice": f"{index:.8f}",
        "estimatedSettlePrice": f"{index * (1 + rate / 8):.8f}", "lastFundingRate": f"{rate:.8f}",
        "interestRate": "0.00010000", "nextFundingTime": nxt, "time": now_ms,
    }


def _spot_symbol(s: SeriesSpec) -> dict[str, object]:
    i = s.info
    return {
        "symbol": i.symbol, "status": i.status, "baseAsset": i.base, "baseAssetPrecision": 8,
        "quoteAsset": i.quote, "quotePrecision": 8, "quoteAssetPrecision": 8, "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
        "icebergAllowed": True, "ocoAllowed": True, "otoAllowed": True, "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": True, "cancelReplaceAllowed": True, "isSpotTradingAllowed": i.status == "TRADING",
        "isMarginTradingAllowed": False,
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": i.tick_size, "maxPrice": "1000000.00000000",
             "tickSize": i.tick_size},
            {"filterType": "LOT_SIZE", "minQty": i.step_size, "maxQty": "9000000.00000000", "stepSize": i.step_size},
            {"filterType": "ICEBERG_PARTS", "limit": 10},
            {"filterType": "MARKET_LOT_SIZE", "minQty": "0.00000000", "maxQty": "100000.00000000",
             "stepSize": "0.00000000"},
            {"filterType": "TRAILING_DELTA", "minTrailingAboveDelta": 10, "maxTrailingAboveDelta": 2000,
             "minTrailingBelowDelta": 10, "maxTrailingBelowDelta": 2000},
            {"filterType": "PERCENT_PRICE_BY_SIDE", "bidMultiplierUp": "5", "bidMultiplierDown": "0.2",
             "askMultiplierUp": "5", "askMultiplierDown": "0.2", "avgPriceMins": 5},
            {"filterType": "NOTIONAL", "minNotional": i.min_notional, "applyMinToMarket": True,
             "maxNotional": "9000000.00000000", "applyMaxToMarket": False, "avgPriceMins": 5},
            {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": 5},
        ],
        "permissions": [], "permissionSets": [["SPOT"]], "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }


def _futures_symbol(s: SeriesSpec) -> dict[str, object]:
    i = s.info
    perpetual = i.contract_type == "PERPETUAL"
    return {
        "symbol": i.symbol, "pair": i.base + i.quote, "contractType": i.contract_type,
        "deliveryDate": 4133404800000 if perpetual else (i.onboard_ms // 86_400_000 + 1500) * 86_400_000 + 28_800_000,
        "onboardDate": i.onboard_ms, "status": i.status, "maintMarginPercent": "2.5000",
        "requiredMarginPercent": "5.0000", "baseAsset": i.base, "quoteAsset": i.quote, "marginAsset": i.quote,
        "pricePrecision": i.price_precision, "quantityPrecision": i.qty_precision, "baseAssetPrecision": 8,
        "quotePrecision": 8, "underlyingType": "COIN", "underlyingSubType": [], "settlePlan": 0,
        "triggerProtect": "0.0500", "liquidationFee": "0.012500", "marketTakeBound": "0.05",
        "maxMoveOrderLimit": 10000,
        "filters": [
            {"minPrice": i.tick_size, "maxPrice": "1000000", "filterType": "PRICE_FILTER", "tickSize": i.tick_size},
            {"stepSize": i.step_size, "filterType": "LOT_SIZE", "maxQty": "1000000", "minQty": i.step_size},
            {"stepSize": i.step_size, "filterType": "MARKET_LOT_SIZE", "maxQty": "100000", "minQty": i.step_size},
            {"limit": 200, "filterType": "MAX_NUM_ORDERS"},
            {"limit": 10, "filterType": "MAX_NUM_ALGO_ORDERS"},
            {"notional": i.min_notional, "filterType": "MIN_NOTIONAL"},
            {"multiplierDown": "0.9500", "multiplierUp": "1.0500", "multiplierDecimal": "4",
             "filterType": "PERCENT_PRICE"},
        ],
        "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET",
                       "TRAILING_STOP_MARKET"],
        "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
    }


def exchange_info(model: MarketModel, venue: Venue, now_ms: int) -> dict[str, object]:
    weight = LIMITS[venue].rest_weight_per_minute
    series = model.all_series(venue)
    if venue is Venue.SPOT:
        return {
            "timezone": "UTC", "serverTime": now_ms,
            "rateLimits": [
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": weight},
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
                {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
                {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
            ],
            "exchangeFilters": [], "symbols": [_spot_symbol(s) for s in series],
        }
    quotes = sorted({s.info.quote for s in series})
    return {
        "timezone": "UTC", "serverTime": now_ms, "futuresType": "U_MARGINED",
        "rateLimits": [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": weight},
            {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300},
        ],
        "exchangeFilters": [],
        "assets": [{"asset": q, "marginAvailable": True, "autoAssetExchange": "-10000"} for q in quotes],
        "symbols": [_futures_symbol(s) for s in series],
    }


def minute_of(ms: int) -> int:
    return ms // MIN_MS
