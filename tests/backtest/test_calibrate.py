"""Walk-forward fitting: it never trains on the future (corrupting everything a fold may not see leaves its
predictions bit for bit unchanged, while corrupting its past changes them), the exported numbers evaluate like
scikit-learn, and the fitted model behind ``ProbabilityModel`` gives the live scanner exactly the offline figures."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from threadpoolctl import threadpool_limits

from cryptoscan.backtest.calibrate import (
    CalibrationData,
    Fold,
    _export_trees,
    calibration_data,
    fit_gbt,
    fit_logistic,
    fit_probability,
    training_rows,
    walk_forward,
)
from cryptoscan.backtest.features import EXTENDED, LIVE, InputsRecorder, history_features
from cryptoscan.backtest.fitted import Evaluator, FittedProbability, ModelError, load_model, save_model
from cryptoscan.backtest.history import History, freqtrade_json_bars
from cryptoscan.backtest.labels import label
from cryptoscan.backtest.replay import replay
from cryptoscan.config_scanner import ScannerConfig
from cryptoscan.scanner.probability import HeuristicProbability, ProbabilityInputs

H = 3_600_000
DAY = 24 * H
DATA = Path("/work/shared/data/binance/klines/freqtrade_json_1h_2021H1")
VOL = LIVE.index("log_vol")


def synthetic(days: int = 100, per_hour: int = 6, seed: int = 0) -> CalibrationData:
    """Rows whose 24 h outcome depends on log volatility (and a little on momentum); a useless heuristic."""
    rng = np.random.default_rng(seed)
    t = np.repeat(np.arange(days * 24) * H, per_hour).astype(np.int64) + 1_600_000_000_000
    live = rng.normal(0, 1, (t.size, len(LIVE)))
    z = -0.4 + 1.3 * live[:, VOL] + 0.3 * live[:, 0]
    y = (rng.random(t.size) < 1 / (1 + np.exp(-z))).astype(np.float64)
    return CalibrationData(time_ms=t, y=y, heuristic=rng.random(t.size), live=live, horizon_ms=DAY)


def test_training_rows_are_purged_by_the_horizon() -> None:
    t = np.array([0, 10 * H, 23 * H, 24 * H, 30 * H], np.int64)
    f = Fold(test_start_ms=48 * H, test_end_ms=72 * H)
    assert training_rows(t, f, DAY).tolist() == [True, True, True, True, False]  # 24 h + 24 h <= 48 h
    assert training_rows(t, f, 4 * H).tolist() == [True] * 5


def test_walk_forward_never_trains_on_the_future() -> None:
    d = synthetic(days=75, per_hour=5)
    models = ("volatility", "logistic", "gbt")
    wf = walk_forward(d, models, min_train_days=30, test_days=15)
    assert len(wf.folds) == 3
    rng = np.random.default_rng(9)
    for k, f in enumerate(wf.folds):
        test = wf.fold == k
        unknown = d.time_ms + d.horizon_ms > f.test_start_ms  # outcomes not known at the test start
        y = d.y.copy()
        y[unknown] = 1.0 - y[unknown]
        live = d.live.copy()
        hidden = unknown & ~test  # features of rows purged or after the test period
        live[hidden] = rng.normal(5, 3, (int(hidden.sum()), len(LIVE)))
        heuristic = np.where(test, d.heuristic, rng.random(d.y.size))
        wf2 = walk_forward(dataclasses.replace(d, y=y, live=live, heuristic=heuristic), models,
                           min_train_days=30, test_days=15)  # fmt: skip
        for m in ("base_rate", *models):
            assert np.array_equal(wf.predictions[m][test], wf2.predictions[m][test]), (k, m)
        # the control: the same corruption of the known past does change the fold's predictions
        y3 = d.y.copy()
        y3[~unknown] = 1.0 - y3[~unknown]
        wf3 = walk_forward(dataclasses.replace(d, y=y3), models, min_train_days=30, test_days=15)
        for m in models:
            assert not np.allclose(wf.predictions[m][test], wf3.predictions[m][test]), (k, m)


def test_fit_probability_prefers_the_fitted_model_only_where_it_beats_the_heuristic() -> None:
    d = synthetic(days=80)
    cal = fit_probability(d, models=("volatility", "logistic"), min_train_days=30, test_days=25)
    m = cal.evaluation["models"]
    assert m["logistic"]["brier"] < m["heuristic"]["brier"]
    assert m["logistic"]["brier_skill"] > 0.05 and m["logistic"]["auc"] > 0.7
    assert cal.default == "fitted" and cal.model["default"] == "fitted"
    oos = cal.model["out_of_sample"]
    assert oos["brier"] == pytest.approx(m["logistic"]["brier"])
    assert oos["heuristic_brier"] == pytest.approx(m["heuristic"]["brier"])
    coef = dict(zip(cal.model["features"], cal.model["coef"], strict=True))
    assert max(coef, key=lambda f: abs(coef[f])) == "log_vol"
    json.dumps(cal.model, allow_nan=False)  # valid JSON as is
    oracle = dataclasses.replace(d, heuristic=d.y.copy())  # a heuristic that knows the outcome
    assert fit_probability(oracle, models=("logistic",), min_train_days=30, test_days=25).default == "heuristic"


def test_exported_trees_evaluate_like_scikit_learn() -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(0, 1, (3000, 4))
    x[rng.random(x.shape) < 0.1] = np.nan
    y = (np.nan_to_num(x[:, 0]) + 0.5 * np.nan_to_num(x[:, 1]) + rng.normal(0, 1, 3000) > 0).astype(int)
    with threadpool_limits(1):
        m = HistGradientBoostingClassifier(max_iter=25, max_leaf_nodes=8, random_state=0).fit(x, y)
    spec = {"kind": "gbt", "features": ["a", "b", "c", "d"], **_export_trees(m)}
    xt = rng.normal(0, 1.5, (500, 4))
    xt[rng.random(xt.shape) < 0.2] = np.nan
    np.testing.assert_allclose(Evaluator(spec).raw(xt), m.decision_function(xt), rtol=0, atol=1e-9)
    np.testing.assert_allclose(Evaluator(spec).predict(xt), m.predict_proba(xt)[:, 1], rtol=0, atol=1e-9)


def test_gbt_with_isotonic_is_monotone_in_the_raw_score() -> None:
    d = synthetic(days=40, per_hour=8)
    spec = fit_gbt(d.live, d.y, d.time_ms, list(LIVE), horizon_ms=DAY)
    assert spec["kind"] == "gbt" and spec["isotonic"]["x"]
    ev = Evaluator(spec)
    raw = ev.raw(d.live[:2000])
    p = ev.predict(d.live[:2000])
    order = np.argsort(raw)
    assert (np.diff(p[order]) >= -1e-12).all() and p.min() >= 0 and p.max() <= 1


def test_logistic_imputes_missing_values_with_the_training_median() -> None:
    x = np.array([[1.0, 0.0], [2.0, np.nan], [3.0, 1.0], [4.0, 1.0]])
    spec = fit_logistic(x, np.array([0.0, 0.0, 1.0, 1.0]), ["a", "b"])
    assert spec["impute"] == [2.5, 1.0]
    ev = Evaluator(spec)
    assert ev.predict(np.array([[np.nan, np.nan]]))[0] == pytest.approx(ev.predict(np.array([[2.5, 1.0]]))[0])
    one_class = fit_logistic(x, np.ones(4), ["a", "b"])
    assert Evaluator(one_class).predict(x) == pytest.approx(np.full(4, 1.0), abs=1e-5)


def real_history(n: int = 460) -> History:
    names = ("BTC_USDT", "ETH_USDT", "CHZ_USDT", "ADA_USDT", "LUNA_USDT")
    return History("spot", "1h", {s.replace("_", ""): freqtrade_json_bars(DATA / f"{s}-1h.json")[:, :n]
                                  for s in names})  # fmt: skip


def test_the_live_scanner_gets_exactly_the_offline_probability(tmp_path: Path) -> None:
    cfg = ScannerConfig(interval="1h", max_price=1e6)
    hist = real_history()
    rec = InputsRecorder(HeuristicProbability(cfg.probability))
    scored = replay(hist, cfg, probability=rec, warmup_bars=60)
    live = rec.live_matrix(scored)
    assert np.isfinite(live[:, VOL]).mean() > 0.9
    data = calibration_data(scored, label(hist, scored), live, horizon_h=24)
    spec = fit_logistic(data.live, data.y, list(LIVE)) | {"schema": "cryptoscan.probability/1"}
    save_model(spec, tmp_path / "m.json")
    model = load_model(tmp_path / "m.json", cfg.probability, interval="1h")
    again = replay(hist, cfg, probability=model, warmup_bars=60)
    assert np.array_equal(again.time_ms, scored.time_ms) and np.array_equal(again.symbol_idx, scored.symbol_idx)
    offline = Evaluator(spec).predict(live) * 100.0
    np.testing.assert_allclose(again.probability, offline, rtol=0, atol=1e-9)
    assert np.ptp(offline) > 5.0  # it is not a constant
    np.testing.assert_array_equal(again.factors["volatility"], scored.factors["volatility"])  # the "why" is kept


def test_bad_model_files_are_one_clear_error(tmp_path: Path) -> None:
    p = tmp_path / "m.json"
    p.write_text("{not json")
    with pytest.raises(ModelError, match="not a model file"):
        load_model(p)
    p.write_text(json.dumps({"schema": "cryptoscan.probability/1", "kind": "logistic", "features": ["rsi"],
                             "impute": [0], "mean": [0], "scale": [1], "coef": [1], "intercept": 0}))  # fmt: skip
    with pytest.raises(ModelError, match="not computable from ProbabilityInputs"):
        load_model(p)
    p.write_text(json.dumps({"schema": "other", "kind": "logistic"}))
    with pytest.raises(ModelError, match="schema"):
        load_model(p)
    with pytest.raises(ModelError, match="one entry per feature"):
        FittedProbability({"schema": "cryptoscan.probability/1", "kind": "logistic", "features": ["log_vol"],
                           "impute": [0, 1], "mean": [0], "scale": [1], "coef": [1]})  # fmt: skip


def test_spare_scanner_rows_do_not_change_the_probability_of_real_rows() -> None:
    """The live scanner hands every row of its capacity, most of them empty (no price, score 0)."""
    rng = np.random.default_rng(5)
    n = 40
    x = ProbabilityInputs(momentum=rng.uniform(0, 90, n), volatility_24h=rng.uniform(2, 20, n),
                          close=rng.uniform(1, 10, n), resistance=rng.uniform(1, 12, n),
                          btc_correlation=rng.uniform(-1, 1, n), btc_velocity_1h=np.full(n, 0.4),
                          quote_volume_24h=rng.uniform(1e6, 1e8, n))  # fmt: skip
    spare = 200
    pad = ProbabilityInputs(*(np.r_[getattr(x, f.name), np.full(spare, 0.0 if f.name == "momentum" else np.nan)]
                              for f in dataclasses.fields(ProbabilityInputs)))  # fmt: skip
    d = synthetic(days=10)
    model = FittedProbability(fit_logistic(d.live, d.y, list(LIVE)) | {"schema": "cryptoscan.probability/1"})
    np.testing.assert_allclose(model(pad).probability[:n], model(x).probability, rtol=0, atol=1e-12)
    assert set(model(x).factors) == {"volatility", "momentum", "resistance", "btc", "liquidity"}


def test_a_model_for_another_interval_or_target_is_refused(tmp_path: Path) -> None:
    d = synthetic(days=10)
    spec = fit_logistic(d.live, d.y, list(LIVE)) | {"schema": "cryptoscan.probability/1", "interval": "1h",
                                                     "target_pct": 7.5}  # fmt: skip
    save_model(spec, tmp_path / "m.json")
    with pytest.raises(ModelError, match="fitted on 1h bars, the scanner runs 1m"):
        load_model(tmp_path / "m.json", interval="1m")
    with pytest.raises(ModelError, match=r"\+5.0 %"):
        load_model(tmp_path / "m.json", ScannerConfig(probability={"target_pct": 5.0}).probability)
    assert load_model(tmp_path / "m.json", ScannerConfig().probability, interval="1h").spec["interval"] == "1h"


def test_extended_features_use_only_the_past() -> None:
    """Cutting the history at any bar leaves every feature of the rows before the cut unchanged."""
    cfg = ScannerConfig(interval="1h", max_price=1e6)
    full = real_history(460)
    scored = replay(full, cfg, warmup_bars=60)
    cut = 330
    short = History("spot", "1h", {s: b[:, :cut] for s, b in full.bars.items()})
    before = scored.take(scored.bar_index < cut)
    a, b = history_features(full, before, H), history_features(short, before, H)
    assert set(a) == set(EXTENDED)
    for name in EXTENDED:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    assert np.isfinite(a["ret_72h"]).mean() > 0.9 and np.isfinite(a["btc_ret_24h"]).all()
