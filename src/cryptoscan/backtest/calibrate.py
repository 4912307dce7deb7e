"""Fit the probability of +target within the horizon on the past, test it on what came next (walk-forward).

Folds: the first test period starts ``min_train_days`` after the first row; each lasts ``test_days``; each
model is trained on every row whose *label was known* by its test start (decision time + horizon <= test start:
a row decided 3 h before the test starts has a 24 h outcome that lies in the test period, so it is purged),
and predicts the rows decided inside its test period. Training windows expand. Nothing of a test period, nor
anything after it, reaches its model (``test_calibrate`` proves it by corrupting the future).

Models compared on the same out-of-sample rows:

- ``base_rate``: the training rows' hit rate, a constant (the reference of the Brier skill);
- ``heuristic``: the product's weighted factors, as replayed (not fitted);
- ``volatility``: logistic regression on log trailing volatility alone;
- ``logistic``: logistic regression on the live feature set (standardized, L2, C=0.1);
- ``gbt``: gradient-boosted trees on the live feature set, fitted on the first 3/4 of the training window and
  mapped through an isotonic regression fitted on the last 1/4 (purged the same way);
- ``logistic_extended``: logistic regression on the live plus the extended features; the live scanner cannot
  compute those from ``ProbabilityInputs``, so it is measured, not exported.

The exported model (:func:`fit_probability`) is the exportable fitted kind with the lowest out-of-sample
Brier score, refitted on every resolved row; it is recommended as the default only where that Brier score beats
the heuristic's, and the margin is kept in the model file.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.ensemble import HistGradientBoostingClassifier  # type: ignore[import-untyped]
from sklearn.isotonic import IsotonicRegression  # type: ignore[import-untyped]
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from cryptoscan.backtest import stats
from cryptoscan.backtest.features import LIVE
from cryptoscan.backtest.fitted import SCHEMA, Evaluator
from cryptoscan.backtest.frame import ScoredBars
from cryptoscan.backtest.labels import Labels

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
B = NDArray[np.bool_]
DAY_MS = 86_400_000
HOUR_MS = 3_600_000
EXPORTABLE = ("logistic", "gbt")
Spec = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Fold:
    test_start_ms: int
    test_end_ms: int  # exclusive


def walk_forward_folds(time_ms: I64, *, min_train_days: float = 30.0, test_days: float = 30.0) -> list[Fold]:
    """Consecutive test periods from ``min_train_days`` after the first row to the last row."""
    if time_ms.size == 0:
        return []
    first, last = int(time_ms.min()), int(time_ms.max())
    start, step = first + round(min_train_days * DAY_MS), round(test_days * DAY_MS)
    folds = []
    while start <= last:
        folds.append(Fold(start, min(start + step, last + 1)))
        start += step
    return folds


def training_rows(time_ms: I64, fold: Fold, horizon_ms: int) -> B:
    """Rows whose outcome was known by the fold's test start (decision + horizon <= test start)."""
    out: B = time_ms + horizon_ms <= fold.test_start_ms
    return out


def test_rows(time_ms: I64, fold: Fold) -> B:
    out: B = (time_ms >= fold.test_start_ms) & (time_ms < fold.test_end_ms)
    return out


def _logit(p: float) -> float:
    q = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(q / (1 - q))


def fit_logistic(x: F64, y: F64, names: list[str], *, c: float = 0.1) -> Spec:
    """Logistic regression with median imputation and standardization, exported as numbers."""
    med = np.nanmedian(np.where(np.all(np.isnan(x), axis=0), 0.0, x), axis=0) if x.size else np.zeros(len(names))
    med = np.where(np.isnan(med), 0.0, med)
    z = np.where(np.isnan(x), med, x)
    mean, scale = z.mean(axis=0), z.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    spec: Spec = {"schema": SCHEMA, "kind": "logistic", "features": names, "impute": med.tolist(),
                  "mean": mean.tolist(), "scale": scale.tolist()}  # fmt: skip
    if np.unique(y).size < 2:  # one class: the constant rate
        return spec | {"coef": [0.0] * len(names), "intercept": _logit(float(y.mean()) if y.size else 0.5)}
    with threadpool_limits(1):
        m = LogisticRegression(C=c, max_iter=2000).fit((z - mean) / scale, y)
    return spec | {"coef": m.coef_[0].tolist(), "intercept": float(m.intercept_[0])}


def _export_trees(m: Any) -> Spec:
    """Every tree of a fitted binary HistGradientBoostingClassifier as flat node arrays (absolute indices)."""
    cols: dict[str, list[Any]] = {k: [] for k in ("feature", "threshold", "left", "right", "missing_left",
                                                  "leaf", "value")}  # fmt: skip
    roots, offset, depth = [], 0, 0
    for (tree,) in m._predictors:
        nodes = tree.nodes
        if np.any(nodes["is_categorical"]):
            raise ValueError("categorical splits are not exported")
        roots.append(offset)
        leaf = nodes["is_leaf"].astype(bool)
        cols["feature"] += nodes["feature_idx"].tolist()
        cols["threshold"] += nodes["num_threshold"].tolist()
        cols["left"] += np.where(leaf, 0, nodes["left"].astype(np.int64) + offset).tolist()
        cols["right"] += np.where(leaf, 0, nodes["right"].astype(np.int64) + offset).tolist()
        cols["missing_left"] += nodes["missing_go_to_left"].astype(bool).tolist()
        cols["leaf"] += leaf.tolist()
        cols["value"] += nodes["value"].tolist()
        depth = max(depth, int(nodes["depth"].max()))
        offset += len(nodes)
    thr = np.asarray(cols["threshold"], np.float64)
    cols["threshold"] = np.where(np.isfinite(thr), thr, np.sign(thr) * 1e308).tolist()  # JSON has no inf
    return {"trees": cols | {"roots": roots}, "baseline": float(np.ravel(m._baseline_prediction)[0]),
            "max_depth": depth}  # fmt: skip


def fit_gbt(x: F64, y: F64, time_ms: I64, names: list[str], *, horizon_ms: int, seed: int = 0) -> Spec:
    """Boosted trees on the first 3/4 of the training time, isotonic map fitted on the last 1/4 (purged)."""
    keep = ~np.all(np.isnan(x), axis=0)  # a column with no value at all breaks the binning
    cut = int(np.quantile(time_ms, 0.75)) if time_ms.size else 0
    fit, cal = time_ms + horizon_ms <= cut, time_ms >= cut
    if np.unique(y[fit]).size < 2 or cal.sum() < 10:
        return fit_logistic(x, y, names)
    m = HistGradientBoostingClassifier(max_iter=150, learning_rate=0.05, max_leaf_nodes=15, min_samples_leaf=500,
                                       l2_regularization=1.0, early_stopping=False, random_state=seed)  # fmt: skip
    with threadpool_limits(1):  # OpenMP threads on a busy machine spin instead of working: one core, steady
        m.fit(x[fit][:, keep], y[fit])
    trees = _export_trees(m)
    idx = np.flatnonzero(keep)
    t = trees["trees"]
    t["feature"] = [int(idx[f]) if not leaf else 0 for f, leaf in zip(t["feature"], t["leaf"], strict=True)]
    spec: Spec = {"schema": SCHEMA, "kind": "gbt", "features": names} | trees
    raw = Evaluator(spec).predict(x[cal])
    iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(raw, y[cal])
    return spec | {"isotonic": {"x": iso.X_thresholds_.tolist(), "y": iso.y_thresholds_.tolist()}}


@dataclass(frozen=True, slots=True)
class CalibrationData:
    """The rows a probability is judged on: eligible, resolved at the horizon; features by set."""

    time_ms: I64
    y: F64  # 1 hit, 0 miss
    heuristic: F64  # the replayed probability, in [0, 1]
    live: F64  # (n, len(LIVE))
    extended: F64 | None = None  # (n, len(extended_names))
    extended_names: tuple[str, ...] = ()
    horizon_ms: int = 24 * HOUR_MS
    interval: str = "1h"
    rows: I64 = field(default_factory=lambda: np.zeros(0, np.int64))  # index into the ScoredBars

    def matrix(self, which: str) -> tuple[F64, list[str]]:
        if which == "live":
            return self.live, list(LIVE)
        if which == "volatility":
            return self.live[:, [LIVE.index("log_vol")]], ["log_vol"]
        if self.extended is None:
            raise ValueError("no extended features")
        return np.column_stack([self.live, self.extended]), [*LIVE, *self.extended_names]


def calibration_data(scored: ScoredBars, labels: Labels, live: F64, *, horizon_h: float = 24.0,
                     extended: dict[str, F64] | None = None) -> CalibrationData:  # fmt: skip
    """The eligible rows of ``scored`` resolved at ``horizon_h``, with their features (``live``: one row per
    scored row, e.g. ``InputsRecorder.live_matrix``; ``extended``: ``features.history_features``)."""
    y = labels.outcome(horizon_h)
    rows = np.flatnonzero(scored.eligible & (y >= 0))
    names = tuple(extended) if extended is not None else ()
    ext = np.column_stack([extended[k][rows] for k in names]) if extended is not None else None
    return CalibrationData(time_ms=scored.time_ms[rows], y=y[rows].astype(np.float64),
                           heuristic=np.clip(scored.probability[rows] / 100.0, 0.0, 1.0), live=live[rows],
                           extended=ext, extended_names=names, horizon_ms=round(horizon_h * HOUR_MS),
                           interval=scored.interval, rows=rows)


Fitter = Callable[[CalibrationData, B], Spec]
FITTERS: dict[str, Fitter] = {
    "volatility": lambda d, tr: fit_logistic(d.matrix("volatility")[0][tr], d.y[tr], ["log_vol"]),
    "logistic": lambda d, tr: fit_logistic(d.live[tr], d.y[tr], list(LIVE)),
    "gbt": lambda d, tr: fit_gbt(d.live[tr], d.y[tr], d.time_ms[tr], list(LIVE), horizon_ms=d.horizon_ms),
    "logistic_extended": lambda d, tr: fit_logistic(d.matrix("extended")[0][tr], d.y[tr], d.matrix("extended")[1]),
}


def _features_of(d: CalibrationData, spec: Spec) -> F64:
    names = list(spec["features"])
    if names == ["log_vol"]:
        return d.matrix("volatility")[0]
    return d.matrix("live")[0] if names == list(LIVE) else d.matrix("extended")[0]


@dataclass(frozen=True, slots=True)
class WalkForward:
    folds: list[Fold]
    fold: I64  # per row of the data: its fold, -1 when in no test period
    predictions: dict[str, F64]  # model -> out-of-sample probability per row (NaN outside tests)
    specs: dict[str, list[Spec]]  # model -> its spec per fold


def walk_forward(d: CalibrationData, models: tuple[str, ...] = ("volatility", "logistic", "gbt"), *,
                 min_train_days: float = 30.0, test_days: float = 30.0) -> WalkForward:  # fmt: skip
    """Every model trained per fold on the purged past and evaluated on the fold's test rows."""
    folds = walk_forward_folds(d.time_ms, min_train_days=min_train_days, test_days=test_days)
    n = d.time_ms.shape[0]
    fold_of = np.full(n, -1, np.int64)
    pred = {m: np.full(n, np.nan) for m in ("base_rate", "heuristic", *models)}
    specs: dict[str, list[Spec]] = {m: [] for m in models}
    for k, f in enumerate(folds):
        tr, te = training_rows(d.time_ms, f, d.horizon_ms), test_rows(d.time_ms, f)
        if not te.any():
            continue
        fold_of[te] = k
        pred["heuristic"][te] = d.heuristic[te]
        pred["base_rate"][te] = float(d.y[tr].mean()) if tr.any() else np.nan
        for m in models:
            if not tr.any():
                continue
            spec = FITTERS[m](d, tr)
            specs[m].append(spec)
            pred[m][te] = Evaluator(spec).predict(_features_of(d, spec)[te])
    return WalkForward(folds, fold_of, pred, specs)


def evaluate(d: CalibrationData, wf: WalkForward, *, n_bins: int = 10) -> dict[str, Any]:
    """Out-of-sample Brier, Brier skill over the walk-forward base rate and over the heuristic, AUC, reliability."""
    rows = (wf.fold >= 0) & np.isfinite(wf.predictions["base_rate"])
    y, ref, heur = d.y[rows], wf.predictions["base_rate"][rows], wf.predictions["heuristic"][rows]
    out: dict[str, Any] = {"rows": int(rows.sum()), "hit_rate": float(y.mean()) if y.size else None,
                           "climatology_brier": stats.brier(np.full(y.shape, y.mean()), y) if y.size else None,
                           "folds": [{"test_start_ms": f.test_start_ms, "test_end_ms": f.test_end_ms,
                                      "rows": int((wf.fold[rows] == k).sum())} for k, f in enumerate(wf.folds)],
                           "models": {}}  # fmt: skip
    for name, p_all in wf.predictions.items():
        p = p_all[rows]
        rel = stats.reliability(p, y, n_bins)
        out["models"][name] = {
            "brier": stats.brier(p, y), "brier_skill": stats.brier_skill(p, y, ref),
            "brier_skill_vs_heuristic": stats.brier_skill(p, y, heur), "auc": stats.auc(p, y),
            "ece": stats.expected_calibration_error(rel), "reliability": rel.as_dict(),
            "brier_by_fold": [stats.brier(p[wf.fold[rows] == k], y[wf.fold[rows] == k]) for k in range(len(wf.folds))],
        }  # fmt: skip
    return out


@dataclass(frozen=True, slots=True)
class Calibration:
    evaluation: dict[str, Any]
    model: Spec  # the exported fitted model, refitted on every row, with its out-of-sample record
    default: str  # "fitted" where it beat the heuristic's Brier out of sample, else "heuristic"
    walk: WalkForward
    rows: I64  # the walk's rows as indices into the ScoredBars (CalibrationData.rows)


def fit_probability(d: CalibrationData, *, models: tuple[str, ...] | None = None, target_pct: float = 7.5,
                    min_train_days: float = 30.0, test_days: float = 30.0) -> Calibration:  # fmt: skip
    """Walk-forward evaluation, then the best exportable kind refitted on all rows (see the module docstring)."""
    if models is None:
        models = ("volatility", *EXPORTABLE) + (("logistic_extended",) if d.extended is not None else ())
    wf = walk_forward(d, models, min_train_days=min_train_days, test_days=test_days)
    ev = evaluate(d, wf)
    scores = {m: ev["models"][m]["brier"] for m in EXPORTABLE if m in ev["models"]}
    scores = {m: s for m, s in scores.items() if not math.isnan(s)}
    kind = min(scores, key=lambda m: scores[m]) if scores else "logistic"
    spec = FITTERS[kind](d, np.ones(d.time_ms.shape[0], np.bool_))
    heur = ev["models"]["heuristic"]["brier"]
    fitted = scores.get(kind, math.nan)
    default = "fitted" if fitted < heur else "heuristic"
    spec = spec | {
        "target_pct": target_pct, "horizon_h": d.horizon_ms / HOUR_MS, "interval": d.interval,
        "trained": {"rows": int(d.time_ms.size), "from_ms": int(d.time_ms.min()) if d.time_ms.size else None,
                    "until_ms": int(d.time_ms.max()) if d.time_ms.size else None},
        "out_of_sample": {"brier": fitted, "heuristic_brier": heur,
                          "base_rate_brier": ev["models"]["base_rate"]["brier"],
                          "brier_skill": ev["models"][kind]["brier_skill"], "auc": ev["models"][kind]["auc"],
                          "rows": ev["rows"], "folds": len(wf.folds)},
        "default": default,
    }  # fmt: skip
    return Calibration(ev, _finite(spec), default, wf, d.rows)


def _finite(x: Any) -> Any:
    """NaN -> None, recursively, so the spec is valid JSON."""
    if isinstance(x, float):
        return None if math.isnan(x) else x
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_finite(v) for v in x]
    return x
