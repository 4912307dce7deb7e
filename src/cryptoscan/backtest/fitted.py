"""A fitted probability model as plain numbers, evaluated with numpy: what the live scanner loads.

Why no pickle: a pickled scikit-learn object ties the live process to one library version and runs code on
load. The fit (:mod:`~cryptoscan.backtest.calibrate`) exports its model as a small JSON document instead, and
this module evaluates it:

- ``logistic``: NaN imputed by the training median, standardized, ``sigmoid(intercept + coef . z)``;
- ``gbt``: gradient-boosted trees (scikit-learn's HistGradientBoosting), every tree's nodes in flat arrays
  (feature, threshold, children, where NaN goes, leaf values), all trees walked at once, ``sigmoid(baseline +
  sum of leaves)``;
- either may end in an isotonic map (``x`` and ``y`` thresholds, linear in between, clipped at the ends).

:class:`FittedProbability` implements ``scanner.probability.ProbabilityModel``: it computes the live feature
set (:func:`~cryptoscan.backtest.features.live_features`) from the scan's ``ProbabilityInputs``, evaluates the
model, and keeps the heuristic's five factors in the output, so a user still sees the same "why" columns.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from cryptoscan.backtest.features import LIVE, inputs_dict, live_features
from cryptoscan.config_scanner import ProbabilityRules
from cryptoscan.scanner.probability import HeuristicProbability, ProbabilityInputs, ProbabilityOutput

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
SCHEMA = "cryptoscan.probability/1"
KINDS = ("logistic", "gbt")


class ModelError(ValueError):
    """A model file that cannot be used (unreadable, wrong schema, features the live inputs cannot give)."""


def sigmoid(z: F64) -> F64:
    out: F64 = 1.0 / (1.0 + np.exp(-np.clip(z, -50.0, 50.0)))
    return out


def _arr(spec: dict[str, Any], key: str, dtype: type = np.float64) -> NDArray[Any]:
    try:
        return np.asarray(spec[key], dtype=dtype)
    except (KeyError, TypeError, ValueError) as e:
        raise ModelError(f"model: bad or missing {key!r}: {e}") from e


class Evaluator:
    """The numpy evaluation of one exported model (see the module docstring)."""

    def __init__(self, spec: dict[str, Any]) -> None:
        kind = spec.get("kind")
        if kind not in KINDS:
            raise ModelError(f"model: kind must be one of {KINDS}, got {kind!r}")
        self.kind = str(kind)
        self.features = [str(f) for f in spec.get("features", [])]
        if not self.features:
            raise ModelError("model: no features")
        nf = len(self.features)
        if kind == "logistic":
            self.impute, self.mean, self.scale, self.coef = (_arr(spec, k) for k in ("impute", "mean", "scale", "coef"))
            self.intercept = float(spec.get("intercept", 0.0))
            if not all(a.shape == (nf,) for a in (self.impute, self.mean, self.scale, self.coef)):
                raise ModelError("model: logistic arrays must have one entry per feature")
        else:
            t = spec.get("trees")
            if not isinstance(t, dict):
                raise ModelError("model: gbt needs 'trees'")
            self.baseline = float(spec.get("baseline", 0.0))
            self.feature = _arr(t, "feature", np.int64)
            self.threshold = _arr(t, "threshold")
            self.left, self.right, self.roots = (_arr(t, k, np.int64) for k in ("left", "right", "roots"))
            self.missing_left = _arr(t, "missing_left", np.bool_)
            self.leaf = _arr(t, "leaf", np.bool_)
            self.value = _arr(t, "value")
            m = self.feature.shape[0]
            parts = (self.threshold, self.left, self.right, self.missing_left, self.leaf, self.value)
            if any(a.shape != (m,) for a in parts):
                raise ModelError("model: tree arrays differ in length")
            inner = ~self.leaf
            if m and (np.any(self.feature[inner] >= nf) or np.any(self.feature[inner] < 0)
                      or np.any((self.left[inner] >= m) | (self.right[inner] >= m)) or np.any(self.roots >= m)):
                raise ModelError("model: tree indices out of range")  # fmt: skip
            self.depth = int(spec.get("max_depth") or m)
        iso = spec.get("isotonic")
        self.iso_x = _arr(iso, "x") if iso else None
        self.iso_y = _arr(iso, "y") if iso else None

    def raw(self, x: F64) -> F64:
        """The score before the link (log-odds); ``x`` is (n, len(features))."""
        if x.ndim != 2 or x.shape[1] != len(self.features):
            raise ValueError(f"expected (n, {len(self.features)}) features, got {x.shape}")
        if self.kind == "logistic":
            z = (np.where(np.isnan(x), self.impute, x) - self.mean) / self.scale
            out: F64 = self.intercept + z @ self.coef
            return out
        n = x.shape[0]
        node = np.repeat(self.roots[:, None], n, axis=1)  # (trees, rows)
        cols = np.arange(n)[None, :]
        for _ in range(self.depth + 1):
            leaf = self.leaf[node]
            if leaf.all():
                break
            v = x[cols, self.feature[node]]
            go_left = np.where(np.isnan(v), self.missing_left[node], v <= self.threshold[node])
            node = np.where(leaf, node, np.where(go_left, self.left[node], self.right[node]))
        total: F64 = self.baseline + self.value[node].sum(axis=0)
        return total

    def predict(self, x: F64) -> F64:
        """Probability in [0, 1] of each row."""
        p = sigmoid(self.raw(x))
        if self.iso_x is not None and self.iso_y is not None and self.iso_x.size:
            p = np.interp(p, self.iso_x, self.iso_y)
        return np.clip(p, 0.0, 1.0)


class FittedProbability:
    """A fitted model behind ``ProbabilityModel``: live features in, percent out, heuristic factors kept."""

    def __init__(self, spec: dict[str, Any], rules: ProbabilityRules | None = None, *,
                 interval: str | None = None) -> None:  # fmt: skip
        if spec.get("schema") != SCHEMA:
            raise ModelError(f"model: schema must be {SCHEMA!r}, got {spec.get('schema')!r}")
        if interval is not None and spec.get("interval", interval) != interval:
            raise ModelError(f"model: fitted on {spec.get('interval')} bars, the scanner runs {interval}")
        if rules is not None and spec.get("target_pct", rules.target_pct) != rules.target_pct:
            raise ModelError(f"model: fitted for +{spec.get('target_pct')} %, the scanner's target is "
                             f"+{rules.target_pct} %")  # fmt: skip
        self.spec = spec
        self.evaluator = Evaluator(spec)
        missing = [f for f in self.evaluator.features if f not in LIVE]
        if missing:
            raise ModelError(f"model: features {missing} are not computable from ProbabilityInputs")
        self.heuristic = HeuristicProbability(rules or ProbabilityRules())

    def predict(self, x: ProbabilityInputs) -> F64:
        f = live_features(inputs_dict(x))
        return self.evaluator.predict(np.column_stack([f[name] for name in self.evaluator.features]))

    def __call__(self, x: ProbabilityInputs) -> ProbabilityOutput:
        return ProbabilityOutput(probability=self.predict(x) * 100.0, factors=self.heuristic.factors(x))


def save_model(spec: dict[str, Any], path: Path) -> None:
    """Write ``spec`` as JSON (floats round-trip exactly)."""
    path.write_text(json.dumps(spec, indent=1, allow_nan=False) + "\n")


def load_model(path: Path, rules: ProbabilityRules | None = None, *, interval: str | None = None
               ) -> FittedProbability:  # fmt: skip
    """A model file as a ProbabilityModel; ModelError (one clear line) when it cannot be used, including a model
    fitted on another kline interval or for another target than the scanner's (when those are given)."""
    try:
        spec = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ModelError(f"{path}: not a model file: {e}") from e
    if not isinstance(spec, dict):
        raise ModelError(f"{path}: not a model file: expected a JSON object")
    try:
        return FittedProbability(spec, rules, interval=interval)
    except ModelError as e:
        raise ModelError(f"{path}: {e}") from e
