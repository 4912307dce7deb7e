"""The backtest report: how often each level and each alert was followed by +target within each horizon, against
what any pair (and any pair of the same volatility, at the same time) did; and how good the probability is.

Sans-I/O up to :func:`write_report`: :func:`build_report` turns History, ScoredBars, AlertRows, labels and an
optional :class:`~cryptoscan.backtest.calibrate.Calibration` into one JSON-ready dict; :mod:`report_html` draws
it. The universe is the eligible scored rows (the pairs the scanner ranks at that time); each level's rows and
each alert are compared with it. Intervals: day-block bootstrap (:mod:`~cryptoscan.backtest.stats`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from cryptoscan.backtest import stats
from cryptoscan.backtest.calibrate import Calibration, calibration_data, fit_probability
from cryptoscan.backtest.features import LIVE, InputsRecorder, history_features
from cryptoscan.backtest.fitted import save_model
from cryptoscan.backtest.frame import AlertRows, ScoredBars
from cryptoscan.backtest.history import History
from cryptoscan.backtest.labels import HOUR_MS, Labels, label
from cryptoscan.backtest.run import run_backtest
from cryptoscan.config import AlertsConfig
from cryptoscan.config_scanner import ScannerConfig
from cryptoscan.scanner.levels import LEVELS_HIGH_FIRST, Level
from cryptoscan.scanner.probability import HeuristicProbability
from cryptoscan.venues.binance.spec import INTERVAL_MS

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
B = NDArray[np.bool_]
SMALL = 30  # fewer rows than this: intervals are shown but not meaningful
TOP_SHARE = 0.01  # the report's "top probability" rows: this share of out-of-sample rows, per model


@dataclass(frozen=True, slots=True)
class ReportOptions:
    target_pct: float = 7.5
    horizons_h: tuple[float, ...] = (4.0, 24.0)
    n_boot: int = 2000
    block_hours: float = 24.0  # bootstrap block length
    volatility_bins: int = 5  # quantile bins for the volatility-matched base rate
    seed: int = 0


def _clean(x: Any) -> Any:
    """JSON-ready: numpy scalars to Python, NaN and inf to None, recursively."""
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_clean(v) for v in x]
    if isinstance(x, np.ndarray):
        return _clean(x.tolist())
    if isinstance(x, np.integer | np.bool_):
        return x.item()
    if isinstance(x, float | np.floating):
        v = float(x)
        return None if math.isnan(v) or math.isinf(v) else round(v, 6)
    return x


class _Context:
    """What every group of rows is measured against: the universe, its outcomes, the shared bootstrap."""

    def __init__(self, scored: ScoredBars, labels: Labels, opts: ReportOptions) -> None:
        self.scored, self.labels, self.opts = scored, labels, opts
        self.boot = stats.BlockBootstrap(scored.time_ms, block_ms=round(opts.block_hours * HOUR_MS),
                                         n_boot=opts.n_boot, seed=opts.seed)  # fmt: skip
        vol = scored.indicators.get("volatility_24h", np.full(len(scored), np.nan))
        self.bins = stats.volatility_bins(np.where(scored.eligible, vol, np.nan), opts.volatility_bins)
        self.universe = np.flatnonzero(scored.eligible)
        self.hit: dict[float, F64] = {}
        for h in opts.horizons_h:
            o = labels.outcome(h)
            self.hit[h] = np.where(o >= 0, o, np.nan).astype(np.float64)

    def base(self, h: float) -> tuple[F64, F64]:
        """Per-block hits and resolved counts of the universe at horizon ``h``."""
        u = self.universe[np.isfinite(self.hit[h][self.universe])]
        return self.boot.sums(u, self.hit[h][u]), self.boot.sums(u, np.ones(u.size))

    def group(self, rows: I64) -> dict[str, Any]:
        """Counts, precision, base rates and lifts of the rows ``rows`` (indices into the scored rows)."""
        out: dict[str, Any] = {"count": int(rows.size), "small_sample": bool(rows.size < SMALL)}
        lab = self.labels
        for h in self.opts.horizons_h:
            y_all = self.hit[h]
            r = rows[np.isfinite(y_all[rows])]
            y = y_all[r]
            hits, n = self.boot.sums(r, y), self.boot.sums(r, np.ones(r.size))
            base_h, base_n = self.base(h)
            time_u = self.scored.time_ms
            eligible_hit = np.where(self.scored.eligible, y_all, np.nan)
            matched = stats.matched_base_rate(time_u, self.bins, eligible_hit, r)
            m = np.isfinite(matched)
            mh, mb = self.boot.sums(r[m], y[m]), self.boot.sums(r[m], matched[m])
            out[f"{h:g}h"] = {
                "resolved": int(r.size), "hits": int(y.sum()), "unresolved": int(rows.size - r.size),
                "precision": self.boot.ratio(hits, n).as_dict(), "base_rate": self.boot.ratio(base_h, base_n).as_dict(),
                "matched_base_rate": self.boot.ratio(mb, self.boot.sums(r[m], np.ones(int(m.sum())))).as_dict(),
                "matched": int(m.sum()),
                "lift": self.boot.statistic(lambda s: stats.safe_div(s[0] * s[3], s[1] * s[2]),
                                            hits, n, base_h, base_n).as_dict(),
                "lift_matched": self.boot.ratio(mh, mb).as_dict(),
            }  # fmt: skip
        hit_l = lab.time_to_hit_ms[rows] >= 0
        out["median_max_gain_pct"] = _median(lab.max_gain_pct[rows])
        out["median_drawdown_before_hit_pct"] = _median(lab.max_drawdown_pct_before_hit[rows][hit_l])
        out["median_hours_to_hit"] = _median(lab.time_to_hit_ms[rows][hit_l] / HOUR_MS)
        return out


def _median(v: F64) -> float:
    v = v[np.isfinite(v)]
    return float(np.median(v)) if v.size else math.nan


def _coefficients(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Standardized logistic coefficients, largest first: how much one standard deviation moves the log-odds."""
    if spec.get("kind") != "logistic":
        return []
    pairs = sorted(zip(spec["features"], spec["coef"], strict=True), key=lambda p: -abs(p[1]))
    return [{"feature": f, "coef": c} for f, c in pairs]


def probability_section(scored: ScoredBars, labels: Labels, calibration: Calibration | None,
                        horizon_h: float) -> dict[str, Any]:  # fmt: skip
    """Out-of-sample comparison from the calibration; without one, the heuristic in sample against the base rate."""
    if calibration is not None:
        ev = calibration.evaluation
        kind = calibration.model.get("kind")
        weights = {m: _coefficients(s[-1]) for m, s in calibration.walk.specs.items() if s and m != "volatility"}
        summary = {k: calibration.model.get(k) for k in ("kind", "features", "target_pct", "horizon_h", "trained",
                                                            "out_of_sample", "default")}  # fmt: skip
        return {"horizon_h": horizon_h, "walk_forward": True, **ev, "fitted_kind": kind,
                "default": calibration.default, "model": summary, "feature_weights": weights}  # fmt: skip
    y = labels.outcome(horizon_h)
    rows = scored.eligible & (y >= 0)
    yy, p = y[rows].astype(np.float64), np.clip(scored.probability[rows] / 100.0, 0, 1)
    base = np.full(yy.shape, yy.mean() if yy.size else np.nan)
    models = {}
    for name, q in (("heuristic", p), ("base_rate", base)):
        rel = stats.reliability(q, yy)
        models[name] = {"brier": stats.brier(q, yy), "brier_skill": stats.brier_skill(q, yy, base),
                        "auc": stats.auc(q, yy), "ece": stats.expected_calibration_error(rel),
                        "reliability": rel.as_dict()}  # fmt: skip
    return {"horizon_h": horizon_h, "walk_forward": False, "rows": int(rows.sum()), "models": models,
            "note": "in sample: the base rate is this very sample's hit rate"}  # fmt: skip


def _weekly(scored: ScoredBars, ctx: _Context, alerts: AlertRows, h: float) -> dict[str, list[Any]]:
    """Per week: the universe's hit rate and the alerts' precision (for the time plot)."""
    week = 7 * 24 * HOUR_MS
    y = ctx.hit[h]
    u = ctx.universe[np.isfinite(y[ctx.universe])]
    wk = scored.time_ms // week
    keys = np.unique(wk[u]) if u.size else np.zeros(0, np.int64)
    out: dict[str, list[Any]] = {"week_start_ms": (keys * week).tolist(), "base_rate": [], "alert_precision": [],
                                 "alerts": []}  # fmt: skip
    a = alerts.rows[np.isfinite(y[alerts.rows])] if len(alerts) else np.zeros(0, np.int64)
    for k in keys.tolist():
        uu, aa = u[wk[u] == k], a[wk[a] == k]
        out["base_rate"].append(float(y[uu].mean()) if uu.size else math.nan)
        out["alert_precision"].append(float(y[aa].mean()) if aa.size else math.nan)
        out["alerts"].append(int(aa.size))
    return out


def build_report(history: History, scored: ScoredBars, alerts: AlertRows, labels: Labels, *,
                 calibration: Calibration | None = None,
                 options: ReportOptions | None = None) -> dict[str, Any]:  # fmt: skip
    """Every figure of the report as one JSON-ready dict."""
    opts = options or ReportOptions()
    ctx = _Context(scored, labels, opts)
    levels = {}
    for lv in LEVELS_HIGH_FIRST:
        levels[lv.name] = ctx.group(ctx.universe[scored.level[ctx.universe] == lv])
    alert_groups: dict[str, Any] = {"all": ctx.group(alerts.rows)}
    for lv in (Level.FUERTE, Level.ALTA):
        alert_groups[lv.name] = ctx.group(alerts.rows[alerts.level == lv])
    if alerts.upgrade.size:
        alert_groups["upgrades"] = ctx.group(alerts.rows[alerts.upgrade])
    top: dict[str, Any] = {}
    if calibration is not None and calibration.rows.size == calibration.walk.fold.size:
        for name, p in calibration.walk.predictions.items():
            ok = np.isfinite(p) & (calibration.walk.fold >= 0)
            if name != "base_rate" and ok.sum() >= 100:
                cut = np.quantile(p[ok], 1.0 - TOP_SHARE)
                top[name] = ctx.group(calibration.rows[ok & (p >= cut)])
    span = history.span()
    prob_h = max(opts.horizons_h) if calibration is None else calibration.model.get("horizon_h", max(opts.horizons_h))
    report = {
        "meta": {
            "venue": scored.venue, "interval": scored.interval, "symbols": len(history), "first_bar_ms": span[0],
            "last_bar_ms": span[1], "scored_rows": len(scored), "eligible_rows": int(ctx.universe.size),
            "first_decision_ms": int(scored.time_ms.min()) if len(scored) else None,
            "last_decision_ms": int(scored.time_ms.max()) if len(scored) else None,
            "alerts": len(alerts), "target_pct": opts.target_pct, "horizons_h": list(opts.horizons_h),
            "bootstrap": {"method": "block (cluster) bootstrap by time: whole blocks resampled with replacement",
                          "block_hours": opts.block_hours, "blocks": ctx.boot.n_blocks, "resamples": opts.n_boot,
                          "interval": "95 % percentile"},
            "volatility_matching": {"bins": opts.volatility_bins, "by": "volatility_24h indicator, global quantiles",
                                    "rule": "other eligible rows at the same decision time in the same bin"},
            "horizon_rule": "bars with open time >= decision and close <= decision + horizon; intrabar high",
        },
        "levels": levels, "alerts": alert_groups, "top_probability": {"share": TOP_SHARE, "groups": top},
        "probability": probability_section(scored, labels, calibration, float(prob_h)),
        "weekly": {f"{h:g}h": _weekly(scored, ctx, alerts, h) for h in opts.horizons_h},
        "live_features": list(LIVE),
    }  # fmt: skip
    out: dict[str, Any] = _clean(report)
    return out


def write_report(history: History, scored: ScoredBars, alerts: AlertRows, out_dir: Path, *,
                 labels: Labels | None = None, calibration: Calibration | None = None,
                 options: ReportOptions | None = None) -> dict[str, Any]:  # fmt: skip
    """Write ``report.json``, ``report.html`` (with ``plotly.min.js`` beside it) and, with a calibration,
    ``probability_model.json`` (the fitted model, loadable by ``fitted.load_model``). Returns the report dict."""
    from cryptoscan.backtest.report_html import render_html, write_assets

    opts = options or ReportOptions()
    labels = labels or label(history, scored, target_pct=opts.target_pct, horizons_h=opts.horizons_h)
    report = build_report(history, scored, alerts, labels, calibration=calibration, options=opts)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.json").write_text(json.dumps(report, indent=1, allow_nan=False) + "\n")
    write_assets(out_dir)
    (out_dir / "report.html").write_text(render_html(report))
    if calibration is not None:
        save_model(calibration.model, out_dir / "probability_model.json")
    return report


def backtest_report(source: History | Path, cfg: ScannerConfig, out_dir: Path, *, fit: bool = True,
                    alerts: AlertsConfig | None = None, options: ReportOptions | None = None,
                    probability_horizon_h: float = 24.0, min_train_days: float = 30.0, test_days: float = 30.0,
                    venue: str = "spot", symbols: Sequence[str] | None = None) -> dict[str, Any]:  # fmt: skip
    """The whole evaluation: replay with the heuristic (recording its inputs), label, fit walk-forward, write.

    ``fit=False`` skips the model fit (the report then scores the heuristic in sample only).
    """
    opts = options or ReportOptions()
    rec = InputsRecorder(HeuristicProbability(cfg.probability))
    run = run_backtest(source, cfg, alerts=alerts, probability=rec, venue=venue, symbols=symbols)
    horizons = tuple(sorted({*opts.horizons_h, probability_horizon_h}))
    labels = label(run.history, run.scored, target_pct=opts.target_pct, horizons_h=horizons)
    calibration = None
    if fit:
        ext = history_features(run.history, run.scored, INTERVAL_MS[run.history.interval])
        data = calibration_data(run.scored, labels, rec.live_matrix(run.scored), horizon_h=probability_horizon_h,
                                extended=ext)  # fmt: skip
        calibration = fit_probability(data, target_pct=opts.target_pct, min_train_days=min_train_days,
                                      test_days=test_days)  # fmt: skip
    return write_report(run.history, run.scored, run.alerts, out_dir, labels=labels, calibration=calibration,
                        options=opts)  # fmt: skip


def horizons_arg(text: str) -> Sequence[float]:
    """``"4,24"`` -> (4.0, 24.0), for a CLI option."""
    try:
        out = tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError as e:
        raise ValueError(f"horizons must be hours separated by commas, got {text!r}") from e
    if not out or any(h <= 0 for h in out):
        raise ValueError(f"horizons must be positive hours, got {text!r}")
    return out
