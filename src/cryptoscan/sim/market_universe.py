"""Which symbols the simulated exchange lists, and the fixed parameters of each one (pure function of seed).

Assets carry a price path; a *series* is one listed symbol on one venue whose log price is a weighted sum
of asset paths (ETHBTC = ETH - BTC, BTCEUR = BTC + log EUR/USD, a USDT perpetual = its asset + a basis).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from cryptoscan.sim.market_fmt import fmt_units
from cryptoscan.venues.binance.spec import Venue

DAY_MS = 86_400_000
MIN_MS = 60_000

# name, price (USD), 24 h quote volume (USD) of the spot pair; plausible levels, not quotes.
MAJORS: tuple[tuple[str, float, float], ...] = (
    ("BTC", 65000.0, 2.0e9), ("ETH", 3200.0, 1.1e9), ("SOL", 150.0, 4.5e8), ("BNB", 580.0, 1.6e8),
    ("XRP", 0.55, 2.2e8), ("DOGE", 0.15, 2.0e8), ("ADA", 0.45, 8.0e7), ("AVAX", 35.0, 6.0e7),
    ("LINK", 15.0, 5.5e7), ("DOT", 7.0, 4.0e7), ("TRX", 0.12, 4.0e7), ("LTC", 80.0, 4.5e7),
    ("BCH", 400.0, 3.0e7), ("NEAR", 5.0, 4.0e7), ("ATOM", 8.0, 2.5e7), ("UNI", 8.0, 2.5e7),
    ("APT", 9.0, 3.0e7), ("ARB", 1.0, 3.5e7), ("OP", 2.2, 3.0e7), ("FIL", 5.0, 2.5e7),
    ("ETC", 25.0, 2.0e7), ("ICP", 10.0, 1.5e7), ("INJ", 25.0, 2.5e7), ("SUI", 1.2, 6.0e7),
    ("TON", 6.0, 1.5e7), ("PAXG", 2400.0, 8.0e6), ("YFI", 7000.0, 6.0e6), ("MKR", 2500.0, 9.0e6),
)
_CONS = "BCDFGHJKLMNPRSTVWXZ"
_VOWS = "AEIOUY"
_LEVERAGED = ("BTC", "ETH", "BNB", "ADA")
_RESERVED = {"USDT", "USDC", "FDUSD", "EUR", "BUSD", "TUSD", "DAI", "UP", "DOWN"}


@dataclass(frozen=True, slots=True)
class SymbolInfo:
    """One listed symbol as a client sees it through exchangeInfo."""

    symbol: str
    base: str
    quote: str
    venue: Venue
    status: str
    tick_size: str
    step_size: str
    min_notional: str
    price_precision: int
    qty_precision: int
    onboard_ms: int
    contract_type: str = ""  # futures: PERPETUAL, CURRENT_QUARTER


@dataclass(slots=True)
class AssetSpec:
    """A price path: level at the start, beta to the market factor, idiosyncratic daily vol, volume."""

    idx: int
    name: str
    price: float
    beta: float
    vol: float
    qvol: float
    # Mean days between events of an asset (longer for big ones): a few pumps an hour over 600 pairs, as on Binance.
    burst_gap_days: float = 4.0


@dataclass(slots=True)
class SeriesSpec:
    """A listed symbol's generator parameters; prices in ticks of 10**-tick_exp, sizes in steps."""

    idx: int
    info: SymbolInfo
    components: tuple[tuple[int, float], ...]
    const: float
    tick_exp: int
    step_exp: int
    qvol: float
    trade_rate: float
    basis: float = 0.0  # mean log basis (futures)
    basis_amp: float = 0.0
    basis_period_ms: int = 6 * 3_600_000
    spread_ticks: int = 1
    out_price_dec: int = 8
    out_qty_dec: int = 8
    index_of: int | None = None  # futures: the spot series used as index price
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def venue(self) -> Venue:
        return self.info.venue

    @property
    def symbol(self) -> str:
        return self.info.symbol

    @property
    def price_level(self) -> float:
        return math.exp(self.const)


def _names(rng: np.random.Generator, n: int, taken: set[str]) -> list[str]:
    out: list[str] = []
    while len(out) < n:
        length = int(rng.integers(3, 6))
        chars = [
            (_CONS if i % 2 == 0 else _VOWS)[int(rng.integers(0, 19 if i % 2 == 0 else 6))] for i in range(length)
        ]
        name = "".join(chars)
        if rng.random() < 0.3:
            name = name[::-1]
        if name in taken or name in _RESERVED or name.endswith(("UP", "DOWN", "BULL", "BEAR")):
            continue
        taken.add(name)
        out.append(name)
    return out


def _tick_exp(price: float, futures: bool) -> int:
    exp = int(min(8, max(2, 4 - math.floor(math.log10(price)))))
    if futures and price * 10**exp > 1e6:
        exp -= 1
    return exp


def _step_exp(price: float, futures: bool) -> int:
    exp = int(min(8, max(0, -math.floor(math.log10(1.0 / price)))))
    return max(0, exp - 2) if futures else exp


class Universe:
    """Assets and series of one run. Built once; statuses change through ``MarketModel.set_status``."""

    def __init__(self, seed: int, start_ms: int, n_spot: int, n_futures: int, trade_rate: float = 16.0) -> None:
        rng = np.random.default_rng([seed, 1])
        self.start_ms = start_ms
        self.day0 = start_ms // DAY_MS
        self.trade_rate = trade_rate
        self.assets: list[AssetSpec] = []
        self.series: list[SeriesSpec] = []
        self.by_symbol: dict[tuple[Venue, str], SeriesSpec] = {}
        taken = {m[0] for m in MAJORS}
        n_rand = max(0, n_spot - len(MAJORS))
        names = _names(rng, n_rand + max(0, n_futures // 12) + 8 + 8, taken)
        for name, price, qvol in MAJORS[:n_spot]:
            beta = 1.0 if name == "BTC" else float(rng.uniform(0.7, 1.3))
            vol = 0.004 if name == "BTC" else float(rng.uniform(0.012, 0.03))
            self._asset(name, price, beta, vol, qvol)
        for name in names[:n_rand]:
            price = float(10 ** rng.uniform(-4.0, 3.3))
            qvol = float(np.clip(math.exp(rng.normal(math.log(4e6), 1.2)), 5e4, 2e9))
            self._asset(name, price, float(rng.uniform(0.5, 1.6)), float(rng.uniform(0.02, 0.06)), qvol)
        spot_assets = list(self.assets)
        for a in spot_assets:
            self._series(Venue.SPOT, a.name, "USDT", ((a.idx, 1.0),), 0.0, a.qvol, rng)
        # futures: mostly the spot assets with the most volume, plus a few futures-only ones
        n_only = min(n_futures // 12, n_futures)
        ranked = sorted(spot_assets, key=lambda a: -a.qvol)
        chosen = ranked[: max(0, n_futures - n_only)]
        rest = names[n_rand : n_rand + n_only]
        for name in rest:
            price = float(10 ** rng.uniform(-3.0, 2.0))
            qvol = float(np.clip(math.exp(rng.normal(math.log(1e7), 1.0)), 5e4, 2e9))
            chosen.append(self._asset(name, price, float(rng.uniform(0.6, 1.8)), float(rng.uniform(0.03, 0.07)), qvol))
        spot_of = {s.info.base: s.idx for s in self.series if s.info.quote == "USDT"}
        for a in chosen:
            s = self._series(Venue.FUTURES, a.name, "USDT", ((a.idx, 1.0),), 0.0, a.qvol * 2.5, rng)
            s.basis = float(rng.normal(2e-4, 3e-4))
            s.basis_amp = float(rng.uniform(1e-4, 8e-4))
            s.basis_period_ms = int(rng.uniform(2, 12) * 3_600_000)
            s.index_of = spot_of.get(a.name)
        self._extras(rng, names[n_rand + n_only :])

    def _asset(self, name: str, price: float, beta: float, vol: float, qvol: float) -> AssetSpec:
        a = AssetSpec(len(self.assets), name, price, beta, vol, qvol)
        self.assets.append(a)
        return a

    def _series(
        self,
        venue: Venue,
        base: str,
        quote: str,
        comps: tuple[tuple[int, float], ...],
        const: float,
        qvol: float,
        rng: np.random.Generator,
        status: str = "TRADING",
        contract: str = "",
        symbol: str | None = None,
    ) -> SeriesSpec:
        level = math.exp(const + sum(w * math.log(self.assets[i].price) for i, w in comps))
        fut = venue is Venue.FUTURES
        texp, sexp = _tick_exp(level, fut), _step_exp(level, fut)
        onboard = (self.day0 - int(rng.integers(1100, 1500))) * DAY_MS + int(rng.integers(0, 24)) * 3_600_000
        notional = "5" if fut else "5.00000000"
        odp, odq = (texp, sexp) if fut else (8, 8)
        info = SymbolInfo(
            symbol=symbol or base + quote,
            base=base,
            quote=quote,
            venue=venue,
            status=status,
            tick_size=fmt_units(1, texp, odp),
            step_size=fmt_units(1, sexp, odq),
            min_notional=notional,
            price_precision=texp,
            qty_precision=sexp,
            onboard_ms=onboard,
            contract_type=contract if contract else ("PERPETUAL" if fut else ""),
        )
        rate = float(np.clip(self.trade_rate * (qvol / 1e7) ** 0.2, 2.0, 5.0 * self.trade_rate))
        const_log = const + sum(w * math.log(self.assets[i].price) for i, w in comps)
        bps = float(np.clip(1.5e-4 * (1e7 / qvol) ** 0.3 * rng.uniform(0.6, 1.4), 1e-5, 3e-3))
        spread = 1 if qvol >= 1e8 else max(1, round(level * 10**texp * bps))
        spec = SeriesSpec(
            idx=len(self.series), info=info, components=comps, const=const_log, tick_exp=texp, step_exp=sexp,
            qvol=qvol, trade_rate=rate, spread_ticks=min(spread, 50), out_price_dec=odp, out_qty_dec=odq,
        )
        self.series.append(spec)
        self.by_symbol[(venue, info.symbol)] = spec
        return spec

    def _extras(self, rng: np.random.Generator, names: list[str]) -> None:
        """Symbols a client must filter out: other quotes, non-TRADING, leveraged tokens, quarterlies."""
        idx = {a.name: a.idx for a in self.assets}
        btc = idx.get("BTC", 0)
        for base in ("ETH", "BNB", "SOL", "XRP", "ADA", "LINK"):
            if base in idx and base != self.assets[btc].name:
                self._series(Venue.SPOT, base, "BTC", ((idx[base], 1.0), (btc, -1.0)), 0.0, 5e6, rng)
        for base in ("BTC", "ETH", "SOL"):
            if base in idx:
                self._series(Venue.SPOT, base, "FDUSD", ((idx[base], 1.0),), 0.0, 3e8, rng)
                self._series(Venue.SPOT, base, "USDC", ((idx[base], 1.0),), 0.0, 1e8, rng)
        for base in ("BTC", "ETH"):
            if base in idx:
                self._series(Venue.SPOT, base, "EUR", ((idx[base], 1.0),), math.log(0.92), 2e7, rng)
        for base in _LEVERAGED:
            if base not in idx:
                continue
            for suffix, beta in (("UP", 2.5), ("DOWN", -2.5)):
                a = self._asset(base + suffix, float(10 ** rng.uniform(-2, 1)), beta, 0.01, 2e6)
                self._series(Venue.SPOT, a.name, "USDT", ((a.idx, 1.0),), 0.0, 2e6, rng)
        for name in names[:6]:
            a = self._asset(name, float(10 ** rng.uniform(-3, 1)), 1.0, 0.05, 1e5)
            self._series(Venue.SPOT, name, "USDT", ((a.idx, 1.0),), 0.0, 1e5, rng, status="BREAK")
        for name, status in zip(names[6:8], ("SETTLING", "PENDING_TRADING"), strict=False):
            a = self._asset(name, float(10 ** rng.uniform(-2, 1)), 1.2, 0.05, 5e5)
            self._series(Venue.FUTURES, name, "USDT", ((a.idx, 1.0),), 0.0, 5e5, rng, status=status)
        for base in ("BTC", "ETH"):
            if base in idx:
                self._series(Venue.FUTURES, base, "USDC", ((idx[base], 1.0),), 1e-4, 2e8, rng)
        if "BTC" in idx:
            self._series(
                Venue.FUTURES, "BTC", "USDT", ((btc, 1.0),), 3e-3, 1e8, rng,
                contract="CURRENT_QUARTER", symbol="BTCUSDT_" + _quarter_suffix(self.start_ms),
            )


def _quarter_suffix(start_ms: int) -> str:
    """YYMMDD of a quarter end after ``start_ms`` (the label only; the contract never settles here)."""
    day = np.datetime64(start_ms, "ms").astype("datetime64[D]")
    y, m = int(str(day)[:4]), int(str(day)[5:7])
    qm = ((m - 1) // 3 + 1) * 3
    return f"{y % 100:02d}{qm:02d}28"
