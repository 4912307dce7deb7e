"""Symbol discovery on real exchangeInfo files (../shared/data) and hand-made tickers."""

from __future__ import annotations

import gzip
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from cryptoscan.venues.binance import discovery as d
from cryptoscan.venues.binance.spec import Venue

REST = Path(__file__).resolve().parents[3] / "shared" / "data" / "binance" / "rest"
LEVERAGED = ("UP", "DOWN", "BULL", "BEAR")


@cache
def _load(name: str) -> dict[str, Any]:
    path = next(REST.glob(f"*{name}*.json.gz"))
    data: dict[str, Any] = json.loads(gzip.decompress(path.read_bytes()))
    return data


def spot_info() -> dict[str, Any]:
    return _load("api_v3_exchangeInfo__2021-10-12")


def futures_info() -> dict[str, Any]:
    return _load("fapi_v1_exchangeInfo__2021-07-22")


def _expected(info: dict[str, Any], futures: bool) -> set[str]:
    """An independent plain loop over the same rules."""
    out = set()
    for s in info["symbols"]:
        if s["quoteAsset"] != "USDT" or s["status"] != "TRADING":
            continue
        if futures and s.get("contractType") != "PERPETUAL":
            continue
        base = s["baseAsset"]
        if len(base) > 4 and any(base.endswith(x) for x in LEVERAGED):
            continue
        out.add(s["symbol"])
    return out


def test_spot_real_file_counts() -> None:
    info = spot_info()
    assert len(info["symbols"]) == 1695
    assert sum(1 for s in info["symbols"] if s["quoteAsset"] == "USDT") == 342
    eligible = d.eligible_symbols(info, Venue.SPOT)
    assert set(eligible.symbols) == _expected(info, futures=False)
    assert len(eligible.symbols) == 275
    # 342 USDT: 27 not TRADING, 40 leveraged tokens (UP/DOWN) among the trading ones.
    assert eligible.rejected[d.Reject.STATUS] == 27
    assert eligible.rejected[d.Reject.LEVERAGED] == 40
    assert eligible.rejected[d.Reject.QUOTE] == 1695 - 342
    assert "BTCUPUSDT" not in eligible.symbols
    assert "ETHBULLUSDT" not in eligible.symbols  # listed but halted (BREAK) in this file
    btc = eligible.symbols["BTCUSDT"]
    assert (btc.base, btc.quote, btc.venue) == ("BTC", "USDT", Venue.SPOT)
    assert btc.tick_size == pytest.approx(0.01)
    assert btc.step_size == pytest.approx(0.00001)
    assert btc.min_notional == pytest.approx(10.0)
    assert btc.onboard_date is None


def test_futures_real_file_counts() -> None:
    info = futures_info()
    eligible = d.eligible_symbols(info, Venue.FUTURES)
    assert set(eligible.symbols) == _expected(info, futures=True)
    assert len(eligible.symbols) == 117
    assert eligible.rejected[d.Reject.CONTRACT] == 2  # two CURRENT_QUARTER contracts
    btc = eligible.symbols["BTCUSDT"]
    assert btc.min_notional == pytest.approx(5.0)  # futures MIN_NOTIONAL carries "notional"
    assert btc.onboard_date == 1569398400000
    assert btc.contract_type == "PERPETUAL"
    assert btc.tick_size == pytest.approx(0.01)
    assert btc.step_size == pytest.approx(0.001)


def _raw(symbol: str, *filters: dict[str, Any], base: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "status": "TRADING",
        "baseAsset": base or symbol.removesuffix("USDT"),
        "quoteAsset": "USDT",
        "filters": list(filters),
        **extra,
    }


def test_min_notional_by_name_not_position() -> None:
    notional = {"filterType": "NOTIONAL", "minNotional": "5.0", "maxNotional": "9000000"}
    price = {"filterType": "PRICE_FILTER", "tickSize": "0.10"}
    lot = {"filterType": "LOT_SIZE", "stepSize": "0.5"}
    info = {"symbols": [_raw("AAAUSDT", notional, lot, price), _raw("BBBUSDT", price, lot)]}
    syms = d.eligible_symbols(info, Venue.SPOT).symbols
    assert syms["AAAUSDT"].min_notional == 5.0
    assert syms["AAAUSDT"].tick_size == pytest.approx(0.1)
    assert syms["AAAUSDT"].step_size == pytest.approx(0.5)
    assert syms["BBBUSDT"].min_notional is None


def _eligible(*names: str) -> d.Eligible:
    return d.eligible_symbols({"symbols": [_raw(n) for n in names]}, Venue.SPOT)


def _tickers(rows: list[tuple[str, float, float]]) -> dict[str, d.TickerStats]:
    return d.parse_tickers(
        [{"symbol": s, "lastPrice": "1.0", "priceChangePercent": str(ch), "quoteVolume": str(v)} for s, v, ch in rows]
    )


TICKS = [("AUSDT", 5e6, 1.0), ("BUSDT", 2e6, -8.0), ("CUSDT", 9e5, 12.0), ("DUSDT", 3e7, 0.2)]


def test_volume_filter_and_ranking() -> None:
    sel = d.select(_eligible("AUSDT", "BUSDT", "CUSDT", "DUSDT"), _tickers(TICKS), d.SelectionRules(min_volume_24h=1e6))
    assert sel.names == ("DUSDT", "AUSDT", "BUSDT")
    assert sel.filtered["volume"] == 1


def test_price_change_filter_uses_absolute_value() -> None:
    rules = d.SelectionRules(min_price_change=5.0)
    sel = d.select(_eligible("AUSDT", "BUSDT", "CUSDT", "DUSDT"), _tickers(TICKS), rules)
    assert set(sel.names) == {"BUSDT", "CUSDT"}  # -8 % counts
    assert sel.filtered["price_change"] == 2


def test_max_pairs_keeps_top_by_volume() -> None:
    sel = d.select(_eligible("AUSDT", "BUSDT", "CUSDT", "DUSDT"), _tickers(TICKS), d.SelectionRules(max_pairs=2))
    assert sel.names == ("DUSDT", "AUSDT")
    assert sel.filtered["max_pairs"] == 2


def test_missing_ticker_counts_as_zero_volume() -> None:
    sel = d.select(_eligible("AUSDT", "ZUSDT"), _tickers(TICKS), d.SelectionRules(min_volume_24h=1.0))
    assert sel.names == ("AUSDT",)
    assert sel.filtered["no_ticker"] == 1


def test_bad_ticker_rows_skipped() -> None:
    bad = {"symbol": "AUSDT", "lastPrice": "x", "priceChangePercent": "1", "quoteVolume": "1"}
    rows: list[dict[str, Any]] = [bad, {"symbol": 3}]
    assert d.parse_tickers(rows) == {}


def test_fixed_list_reports_unknown_and_ineligible() -> None:
    info = spot_info()
    pairs = ["ethusdt", "BTCUSDT", "NOPEUSDT", "BTCUPUSDT"]
    rules = d.SelectionRules(analyze_all_usdt_pairs=False, trading_pairs=pairs)
    sel = d.select(d.eligible_symbols(info, Venue.SPOT), {}, rules)
    assert sel.names == ("ETHUSDT", "BTCUSDT")  # the user's order, no volume filter
    assert sel.unknown == ("NOPEUSDT",)
    assert sel.ineligible == ("BTCUPUSDT",)


def test_diff_listed_and_delisted() -> None:
    ticks = _tickers(TICKS)
    first = d.select(_eligible("AUSDT", "BUSDT"), ticks, d.SelectionRules())
    second = d.select(_eligible("BUSDT", "CUSDT", "DUSDT"), ticks, d.SelectionRules())
    change = d.diff(first, second)
    assert [m.symbol for m in change.listed] == ["DUSDT", "CUSDT"]
    assert change.delisted == ("AUSDT",)
    assert change.kept == ("BUSDT",)
    assert change.changed
    assert not d.diff(second, second).changed
    assert [m.symbol for m in d.diff(None, first).listed] == ["AUSDT", "BUSDT"]
    assert d.diff(["BUSDT", "XUSDT"], second).delisted == ("XUSDT",)


def test_discover_end_to_end_on_real_futures() -> None:
    info = futures_info()
    symbols = [s["symbol"] for s in info["symbols"]]
    rows = [
        {"symbol": s, "lastPrice": "1", "priceChangePercent": "3", "quoteVolume": str(1e6 * (i + 1))}
        for i, s in enumerate(symbols)
    ]
    sel, change = d.discover(info, rows, Venue.FUTURES, d.SelectionRules(max_pairs=10))
    assert len(sel.names) == 10
    volumes = {r["symbol"]: float(r["quoteVolume"]) for r in rows}
    assert [volumes[s] for s in sel.names] == sorted((volumes[s] for s in sel.names), reverse=True)
    eligible = _expected(info, futures=True)
    assert set(sel.names) <= eligible
    top = sorted(eligible, key=lambda s: -volumes[s])[:10]
    assert list(sel.names) == top
    assert len(change.listed) == 10 and change.delisted == ()
