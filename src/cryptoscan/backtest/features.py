"""Features for the probability model, from the past only: what the live model can compute, and more.

Two sets, because the live scanner hands a probability model only ``ProbabilityInputs``:

- **live** (:func:`live_features`): computed from one scan's ``ProbabilityInputs`` alone (momentum, volatility,
  resistance distance, BTC correlation and velocity, liquidity) plus each row's cross-sectional rank among the
  rows of the same scan and the scan's market-wide means (over the rows with a price; spot and futures rows of
  one scan rank together). The fitted model evaluates exactly this function at
  run time, so to train on the very numbers it will see, the backtest records each scan's inputs
  (:class:`InputsRecorder`, passed as the replay's probability model) and computes the features per scan.
- **extended** (:func:`history_features`): what the klines and the scored rows carry beyond that: score
  components and indicators, trailing returns over 4 h / 24 h / 72 h, 7-day volatility and range, distance to
  the 7-day high, taker buy ratio and trade counts (NaN when the source lacks them, as freqtrade files do),
  time since the first bar, BTC's regime (its 4 h / 24 h return and volatility) and each row's rank among the
  rows of the same decision time. Trailing windows count bars, not hours: a gap stretches them.

Every value of a row uses bars closed by its decision time only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

from cryptoscan.backtest.frame import ScoredBars
from cryptoscan.backtest.history import History
from cryptoscan.market.rings import CLOSE, HIGH, LOW, OPEN_TIME, TAKER_BUY_VOLUME, TRADES, VOLUME
from cryptoscan.scanner.probability import ProbabilityInputs, ProbabilityModel, ProbabilityOutput

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
INPUTS = tuple(f.name for f in fields(ProbabilityInputs))
LIVE = ("momentum", "log_vol", "resistance_pct", "btc_corr", "btc_vel", "btc_push", "log_qv", "rank_momentum",
        "rank_vol", "rank_qv", "market_momentum", "market_vol")  # fmt: skip
HOUR_MS = 3_600_000


def percentile_rank(v: F64) -> F64:
    """Rank of each finite value among the finite values, in [0, 1] (ties: average rank); NaN stays NaN."""
    out = np.full(v.shape, np.nan)
    ok = np.isfinite(v)
    n = int(ok.sum())
    if n == 0:
        return out
    if n == 1:
        out[ok] = 0.5
        return out
    _, inv, cnt = np.unique(v[ok], return_inverse=True, return_counts=True)
    avg = np.cumsum(cnt) - (cnt - 1) / 2.0  # 1-based average rank per distinct value
    out[ok] = (avg[inv] - 1.0) / (n - 1)
    return out


def _nanmean(v: F64) -> float:
    ok = np.isfinite(v)
    return float(v[ok].mean()) if ok.any() else float("nan")


def live_features(x: Mapping[str, F64]) -> dict[str, F64]:
    """The live feature set of one scan's rows (``x``: ProbabilityInputs fields by name)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        vol = np.where(x["volatility_24h"] > 0, x["volatility_24h"], np.nan)
        log_vol = np.log(vol)
        res = np.clip((x["resistance"] / x["close"] - 1.0) * 100.0, -20.0, 50.0)
        qv = np.where(x["quote_volume_24h"] > 0, x["quote_volume_24h"], np.nan)
        log_qv = np.log10(qv)
    # a row without a price is an empty or warming scanner row (the live scanner's arrays have spare capacity):
    # its score of 0 must not count in the ranks and market means
    momentum = np.where(np.isfinite(x["close"]), np.asarray(x["momentum"], np.float64), np.nan)
    ones = np.ones(momentum.shape)
    return {
        "momentum": momentum, "log_vol": log_vol, "resistance_pct": res, "btc_corr": x["btc_correlation"],
        "btc_vel": x["btc_velocity_1h"], "btc_push": x["btc_correlation"] * x["btc_velocity_1h"], "log_qv": log_qv,
        "rank_momentum": percentile_rank(momentum), "rank_vol": percentile_rank(log_vol),
        "rank_qv": percentile_rank(log_qv), "market_momentum": ones * _nanmean(momentum),
        "market_vol": ones * _nanmean(log_vol),
    }  # fmt: skip


def inputs_dict(x: ProbabilityInputs) -> dict[str, F64]:
    return {name: np.asarray(getattr(x, name), np.float64) for name in INPUTS}


class InputsRecorder:
    """A probability model that records each call's inputs (copied) and delegates to ``inner``."""

    def __init__(self, inner: ProbabilityModel) -> None:
        self.inner = inner
        self.calls: list[dict[str, F64]] = []

    def __call__(self, x: ProbabilityInputs) -> ProbabilityOutput:
        self.calls.append({k: v.copy() for k, v in inputs_dict(x).items()})
        return self.inner(x)

    def live_matrix(self, scored: ScoredBars) -> F64:
        """The live features of every row of ``scored`` (the replay this recorder watched), (n, len(LIVE))."""
        if len(self.calls) != len(scored.scan_ms):
            raise ValueError(f"recorded {len(self.calls)} scans but the rows come from {len(scored.scan_ms)}")
        out = np.full((len(scored), len(LIVE)), np.nan)
        call = np.searchsorted(scored.scan_ms, scored.time_ms)
        order = np.argsort(call, kind="stable")
        bounds = np.searchsorted(call[order], np.arange(len(self.calls) + 1))
        for k in np.flatnonzero(np.diff(bounds)).tolist():
            rows = order[bounds[k] : bounds[k + 1]]
            f = live_features(self.calls[k])
            sym = scored.symbol_idx[rows]
            out[rows] = np.column_stack([f[name][sym] for name in LIVE])
        return out


def _trailing(x: F64, w: int, how: str) -> F64:
    """Trailing window of ``w`` values ending at each index (NaN until ``w`` exist): sum, max or min."""
    out = np.full(x.shape, np.nan)
    if x.size < w:
        return out
    win = sliding_window_view(x, w)
    with np.errstate(invalid="ignore"):
        out[w - 1 :] = win.sum(axis=1) if how == "sum" else win.max(axis=1) if how == "max" else win.min(axis=1)
    return out


def _lag_ratio(x: F64, k: int) -> F64:
    """x[i] / x[i - k] - 1, in percent (NaN for the first k)."""
    out = np.full(x.shape, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        out[k:] = (x[k:] / x[:-k] - 1.0) * 100.0
    return out


def symbol_features(bars: F64, step_ms: int) -> dict[str, F64]:
    """Per bar of one symbol, trailing features known at its close (see the module docstring)."""
    per_h = max(1, HOUR_MS // step_ms)
    c, h, lo = bars[CLOSE], bars[HIGH], bars[LOW]
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.r_[np.nan, np.diff(np.log(c))]
        vol24 = np.sqrt(_trailing(r * r, 24 * per_h, "sum")) * 100.0
        vol7d = np.sqrt(_trailing(r * r, 168 * per_h, "sum") / 7.0) * 100.0
        range24 = (_trailing(h, 24 * per_h, "max") / _trailing(lo, 24 * per_h, "min") - 1.0) * 100.0
        from_high7d = (c / _trailing(h, 168 * per_h, "max") - 1.0) * 100.0
        v = bars[VOLUME]
        vratio = _trailing(v, per_h, "sum") / (_trailing(v, 24 * per_h, "sum") / 24.0)
        taker = _trailing(bars[TAKER_BUY_VOLUME], 4 * per_h, "sum") / _trailing(v, 4 * per_h, "sum")
        trades = _trailing(bars[TRADES], per_h, "sum") / (_trailing(bars[TRADES], 24 * per_h, "sum") / 24.0)
    age_h = (bars[OPEN_TIME] - bars[OPEN_TIME, 0]) / HOUR_MS if bars.shape[1] else np.zeros(0)
    return {
        "ret_1h": _lag_ratio(c, per_h), "ret_4h": _lag_ratio(c, 4 * per_h), "ret_24h": _lag_ratio(c, 24 * per_h),
        "ret_72h": _lag_ratio(c, 72 * per_h), "vol_24h": vol24, "vol_7d": vol7d, "vol_ratio": vol24 / vol7d,
        "range_24h": range24, "from_high_7d": from_high7d, "volume_ratio_1h": vratio, "taker_buy_4h": taker,
        "trades_ratio_1h": trades, "log_age_h": np.log1p(age_h),
    }  # fmt: skip


SYMBOL = ("ret_1h", "ret_4h", "ret_24h", "ret_72h", "vol_24h", "vol_7d", "vol_ratio", "range_24h", "from_high_7d",
          "volume_ratio_1h", "taker_buy_4h", "trades_ratio_1h", "log_age_h")  # fmt: skip
BTC = ("btc_ret_4h", "btc_ret_24h", "btc_vol_24h")
RANKED = ("ret_1h", "ret_24h", "volume_ratio_1h", "vol_24h")
SCORED = ("rsi", "macd", "volume", "velocity", "breakout", "rsi14", "volume_spike", "velocity_1h", "breakout_pts")
EXTENDED = (*SCORED, *SYMBOL, *BTC, *(f"xrank_{n}" for n in RANKED), "breadth_24h")


def _per_time(time_ms: I64, v: F64, how: str) -> F64:
    """Per row, the cross-sectional rank (``rank``) or mean (``mean``) of ``v`` among rows of the same time."""
    out = np.full(v.shape, np.nan)
    order = np.argsort(time_ms, kind="stable")
    t = time_ms[order]
    starts = np.flatnonzero(np.r_[True, t[1:] != t[:-1]]) if t.size else np.zeros(0, np.int64)
    for a, b in zip(starts.tolist(), np.r_[starts[1:], t.size].tolist(), strict=True):
        rows = order[a:b]
        out[rows] = percentile_rank(v[rows]) if how == "rank" else _nanmean(v[rows])
    return out


def history_features(history: History, scored: ScoredBars, step_ms: int) -> dict[str, F64]:
    """The extended set for every row of ``scored`` (names: :data:`EXTENDED`)."""
    n = len(scored)
    out = {name: np.full(n, np.nan) for name in (*SYMBOL, *BTC)}
    by_symbol: dict[str, dict[str, F64]] = {}
    for s_idx in np.unique(scored.symbol_idx).tolist():
        name = scored.symbols[s_idx]
        bars = history.bars.get(name)
        if bars is None:
            continue
        rows = np.flatnonzero(scored.symbol_idx == s_idx)
        f = by_symbol[name] = symbol_features(bars, step_ms)
        j = scored.bar_index[rows]
        for k in SYMBOL:
            out[k][rows] = f[k][j]
    btc_bars = history.bars.get("BTCUSDT")
    if btc_bars is not None:
        f = by_symbol.get("BTCUSDT") or symbol_features(btc_bars, step_ms)
        close_ms = btc_bars[OPEN_TIME].astype(np.int64) + step_ms
        at = np.searchsorted(close_ms, scored.time_ms, side="right") - 1  # BTC's last bar closed by then
        ok = at >= 0
        for k, src in (("btc_ret_4h", "ret_4h"), ("btc_ret_24h", "ret_24h"), ("btc_vol_24h", "vol_24h")):
            out[k][ok] = f[src][at[ok]]
    for k in SCORED[:5]:
        out[k] = scored.components.get(k, np.full(n, np.nan))
    for k, src in (("rsi14", "rsi14"), ("volume_spike", "volume_spike"), ("velocity_1h", "velocity_1h"),
                   ("breakout_pts", "breakout")):  # fmt: skip
        out[k] = scored.indicators.get(src, np.full(n, np.nan))
    for k in RANKED:
        out[f"xrank_{k}"] = _per_time(scored.time_ms, out[k], "rank")
    r24 = out["ret_24h"]
    out["breadth_24h"] = _per_time(scored.time_ms, np.where(np.isfinite(r24), r24 > 0, np.nan), "mean")
    return {k: out[k] for k in EXTENDED}
