"""Symbol discovery: which USDT pairs to watch, from parsed ``exchangeInfo`` and 24 h tickers.

Pure: takes the JSON the REST client already parsed (spot ``/api/v3``, futures ``/fapi/v1``) and returns
typed :class:`SymbolMeta` plus a :class:`SelectionDiff` against the previous selection, so the feed can
subscribe and unsubscribe while running. Filters are read by ``filterType`` name, never by position
(Binance reorders them and renamed ``MIN_NOTIONAL`` to ``NOTIONAL`` on spot).

A spot symbol, as served (trimmed)::

    {"symbol": "ETHBTC", "status": "TRADING", "baseAsset": "ETH", "quoteAsset": "BTC",
     "filters": [{"filterType": "PRICE_FILTER", "tickSize": "0.00000100", ...},
                 {"filterType": "LOT_SIZE", "stepSize": "0.00010000", ...},
                 {"filterType": "MIN_NOTIONAL", "minNotional": "0.00010000", ...}]}

Futures adds ``contractType`` (``PERPETUAL``, ``CURRENT_QUARTER``, ...) and ``onboardDate``; its
``MIN_NOTIONAL`` filter carries ``notional`` instead of ``minNotional``.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptoscan.venues.binance.spec import Venue, is_leveraged_token

QUOTE = "USDT"
NOTIONAL_FILTERS = ("NOTIONAL", "MIN_NOTIONAL")


class Reject(enum.StrEnum):
    """Why an exchangeInfo symbol was not eligible (counted, so a surprising selection can be explained)."""

    QUOTE = "quote"
    STATUS = "status"
    CONTRACT = "contract"
    LEVERAGED = "leveraged"
    MALFORMED = "malformed"


@dataclass(frozen=True, slots=True)
class SymbolMeta:
    """What the rest of cryptoscan needs to know about one tradable symbol."""

    symbol: str
    base: str
    quote: str
    venue: Venue
    tick_size: float | None
    step_size: float | None
    min_notional: float | None
    onboard_date: int | None = None  # futures only, epoch ms
    contract_type: str | None = None  # futures only


@dataclass(frozen=True, slots=True)
class TickerStats:
    """The parts of a REST 24 h ticker that selection uses."""

    symbol: str
    last_price: float
    price_change_percent: float
    quote_volume: float


@dataclass(frozen=True, slots=True)
class Eligible:
    """exchangeInfo reduced to the symbols we may watch, plus what was rejected and why."""

    venue: Venue
    symbols: Mapping[str, SymbolMeta]
    all_symbols: frozenset[str]  # every symbol exchangeInfo listed, eligible or not
    rejected: Mapping[Reject, int]


@dataclass(frozen=True, slots=True)
class SelectionRules:
    """The selection settings (``data_aggregator`` and ``bot`` sections of the config)."""

    min_volume_24h: float = 0.0  # quote volume
    min_price_change: float = 0.0  # absolute percent
    max_pairs: int | None = None  # top by quote volume
    analyze_all_usdt_pairs: bool = True
    trading_pairs: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class Selection:
    """The chosen symbols, best quote volume first (or in the order of a fixed ``trading_pairs`` list)."""

    venue: Venue
    symbols: tuple[SymbolMeta, ...]
    unknown: tuple[str, ...] = ()  # fixed-list entries exchangeInfo does not list at all
    ineligible: tuple[str, ...] = ()  # fixed-list entries listed but not eligible (halted, not USDT, ...)
    filtered: Mapping[str, int] = field(default_factory=dict)  # reason -> count, in all-pairs mode

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(m.symbol for m in self.symbols)

    def by_symbol(self) -> dict[str, SymbolMeta]:
        return {m.symbol: m for m in self.symbols}


@dataclass(frozen=True, slots=True)
class SelectionDiff:
    """What changed between two selections: the feed subscribes ``listed`` and unsubscribes ``delisted``."""

    listed: tuple[SymbolMeta, ...]
    delisted: tuple[str, ...]
    kept: tuple[str, ...]

    @property
    def changed(self) -> bool:
        return bool(self.listed or self.delisted)


def _num(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def find_filter(filters: Iterable[Mapping[str, Any]], *names: str) -> Mapping[str, Any] | None:
    """The first filter whose ``filterType`` is one of ``names`` (by name, never by position)."""
    for flt in filters:
        if flt.get("filterType") in names:
            return flt
    return None


def min_notional(filters: Sequence[Mapping[str, Any]]) -> float | None:
    """Minimum order notional: spot ``NOTIONAL``/``MIN_NOTIONAL`` ``minNotional``, futures ``notional``."""
    flt = find_filter(filters, *NOTIONAL_FILTERS)
    if flt is None:
        return None
    return _num(flt.get("minNotional", flt.get("notional")))


def symbol_meta(raw: Mapping[str, Any], venue: Venue) -> SymbolMeta:
    """Build SymbolMeta from one exchangeInfo symbol (no eligibility check)."""
    filters: Sequence[Mapping[str, Any]] = raw.get("filters") or ()
    price = find_filter(filters, "PRICE_FILTER")
    lot = find_filter(filters, "LOT_SIZE")
    onboard = raw.get("onboardDate")
    return SymbolMeta(
        symbol=str(raw["symbol"]),
        base=str(raw["baseAsset"]),
        quote=str(raw["quoteAsset"]),
        venue=venue,
        tick_size=_num(price.get("tickSize")) if price else None,
        step_size=_num(lot.get("stepSize")) if lot else None,
        min_notional=min_notional(filters),
        onboard_date=int(onboard) if isinstance(onboard, int | float) else None,
        contract_type=str(raw["contractType"]) if venue is Venue.FUTURES and "contractType" in raw else None,
    )


def _reject_reason(raw: Mapping[str, Any], venue: Venue, quote: str) -> Reject | None:
    if not isinstance(raw.get("symbol"), str) or not isinstance(raw.get("baseAsset"), str):
        return Reject.MALFORMED
    if raw.get("quoteAsset") != quote:
        return Reject.QUOTE
    if raw.get("status") != "TRADING":
        return Reject.STATUS
    if venue is Venue.FUTURES and raw.get("contractType") != "PERPETUAL":
        return Reject.CONTRACT
    if is_leveraged_token(raw["baseAsset"]):
        return Reject.LEVERAGED
    return None


def eligible_symbols(exchange_info: Mapping[str, Any], venue: Venue, quote: str = QUOTE) -> Eligible:
    """USDT, TRADING, (futures) PERPETUAL, not a leveraged token."""
    symbols: dict[str, SymbolMeta] = {}
    seen: set[str] = set()
    rejected: Counter[Reject] = Counter()
    for raw in exchange_info.get("symbols", ()):
        name = raw.get("symbol")
        if isinstance(name, str):
            seen.add(name)
        reason = _reject_reason(raw, venue, quote)
        if reason is not None:
            rejected[reason] += 1
            continue
        try:
            meta = symbol_meta(raw, venue)
        except (KeyError, TypeError, ValueError):
            rejected[Reject.MALFORMED] += 1
            continue
        symbols[meta.symbol] = meta
    return Eligible(venue, symbols, frozenset(seen), dict(rejected))


def parse_tickers(rows: Iterable[Mapping[str, Any]]) -> dict[str, TickerStats]:
    """REST ``ticker/24hr`` rows (spot or futures) by symbol; rows with unreadable numbers are skipped."""
    out: dict[str, TickerStats] = {}
    for row in rows:
        symbol = row.get("symbol")
        last = _num(row.get("lastPrice"))
        change = _num(row.get("priceChangePercent"))
        volume = _num(row.get("quoteVolume"))
        if not isinstance(symbol, str) or last is None or change is None or volume is None:
            continue
        out[symbol] = TickerStats(symbol, last, change, volume)
    return out


def select(eligible: Eligible, tickers: Mapping[str, TickerStats], rules: SelectionRules) -> Selection:
    """Apply the selection rules.

    A fixed ``trading_pairs`` list (``analyze_all_usdt_pairs`` false) is taken as the user wrote it: no
    volume, change or count filter; entries that are unknown or not eligible are reported, not fatal.
    Otherwise: quote volume >= ``min_volume_24h``, |change %| >= ``min_price_change``, then the top
    ``max_pairs`` by quote volume. A symbol with no ticker counts as zero volume and zero change.
    """
    if not rules.analyze_all_usdt_pairs:
        chosen: list[SymbolMeta] = []
        unknown: list[str] = []
        ineligible: list[str] = []
        for raw in dict.fromkeys(s.strip().upper() for s in rules.trading_pairs):
            if raw in eligible.symbols:
                chosen.append(eligible.symbols[raw])
            elif raw in eligible.all_symbols:
                ineligible.append(raw)
            else:
                unknown.append(raw)
        return Selection(eligible.venue, tuple(chosen), tuple(unknown), tuple(ineligible))

    filtered: Counter[str] = Counter()
    ranked: list[tuple[float, SymbolMeta]] = []
    for meta in eligible.symbols.values():
        stats = tickers.get(meta.symbol)
        volume = stats.quote_volume if stats else 0.0
        change = abs(stats.price_change_percent) if stats else 0.0
        if stats is None:
            filtered["no_ticker"] += 1
        if volume < rules.min_volume_24h:
            filtered["volume"] += 1
            continue
        if change < rules.min_price_change:
            filtered["price_change"] += 1
            continue
        ranked.append((volume, meta))
    ranked.sort(key=lambda item: (-item[0], item[1].symbol))
    if rules.max_pairs is not None and len(ranked) > rules.max_pairs:
        filtered["max_pairs"] += len(ranked) - rules.max_pairs
        ranked = ranked[: rules.max_pairs]
    return Selection(eligible.venue, tuple(m for _, m in ranked), filtered=dict(filtered))


def diff(previous: Selection | Iterable[str] | None, current: Selection) -> SelectionDiff:
    """Listed and delisted symbols since ``previous`` (None: everything is newly listed)."""
    if previous is None:
        before: list[str] = []
    elif isinstance(previous, Selection):
        before = list(previous.names)
    else:
        before = list(previous)
    before_set = set(before)
    now = current.by_symbol()
    listed = tuple(m for m in current.symbols if m.symbol not in before_set)
    delisted = tuple(s for s in before if s not in now)
    kept = tuple(m.symbol for m in current.symbols if m.symbol in before_set)
    return SelectionDiff(listed, delisted, kept)


def discover(
    exchange_info: Mapping[str, Any],
    tickers: Iterable[Mapping[str, Any]],
    venue: Venue,
    rules: SelectionRules,
    previous: Selection | None = None,
) -> tuple[Selection, SelectionDiff]:
    """One discovery round: exchangeInfo + 24 h tickers -> selection and its diff against ``previous``."""
    selection = select(eligible_symbols(exchange_info, venue), parse_tickers(tickers), rules)
    return selection, diff(previous, selection)
