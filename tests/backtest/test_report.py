"""The report end to end on real klines: files written, the page offline (plotly copied, no CDN), its figures
agreeing with the labels counted by hand, and the fitted model file loadable by the live path."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cryptoscan.backtest.fitted import load_model
from cryptoscan.backtest.history import History, freqtrade_json_bars
from cryptoscan.backtest.labels import label
from cryptoscan.backtest.report import ReportOptions, backtest_report, horizons_arg, write_report
from cryptoscan.backtest.report_html import PLOTLY_JS
from cryptoscan.backtest.run import run_backtest
from cryptoscan.config_scanner import LevelRules, ScannerConfig

DATA = Path("/work/shared/data/binance/klines/freqtrade_json_1h_2021H1")
CFG = ScannerConfig(interval="1h", max_price=1e6, levels=LevelRules(fuerte=65, alta=45, media=35, baja=20))
OPTS = ReportOptions(n_boot=200)


@pytest.fixture(scope="module")
def history() -> History:
    names = ("BTC_USDT", "ETH_USDT", "CHZ_USDT", "ADA_USDT", "LUNA_USDT", "DENT_USDT", "SOL_USDT")
    return History("spot", "1h", {s.replace("_", ""): freqtrade_json_bars(DATA / f"{s}-1h.json")[:, :700]
                                  for s in names})  # fmt: skip


def test_full_report_with_a_fitted_model(history: History, tmp_path: Path) -> None:
    rep = backtest_report(history, CFG, tmp_path, options=OPTS, min_train_days=8, test_days=5)
    for name in ("report.json", "report.html", "plotly.min.js", "probability_model.json"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert json.loads((tmp_path / "report.json").read_text()) == rep
    assert (tmp_path / "plotly.min.js").read_bytes() == PLOTLY_JS.read_bytes()
    page = (tmp_path / "report.html").read_text()
    assert '<script src="plotly.min.js"></script>' in page
    assert "cdn" not in page.lower() and 'src="http' not in page
    assert page.count("Plotly.newPlot") == 5  # alerts, levels, lift, weekly, reliability
    prob = rep["probability"]
    assert prob["walk_forward"] and len(prob["folds"]) >= 2
    assert set(prob["models"]) >= {"base_rate", "heuristic", "volatility", "logistic", "gbt", "logistic_extended"}
    assert prob["default"] in ("fitted", "heuristic")
    top = rep["top_probability"]["groups"]
    assert {"heuristic", "logistic"} <= set(top) and top["logistic"]["count"] >= 10
    weights = prob["feature_weights"]["logistic"]
    assert sorted(w["feature"] for w in weights) == sorted(rep["live_features"])
    model = load_model(tmp_path / "probability_model.json", CFG.probability)
    oos = model.spec["out_of_sample"]
    assert oos["heuristic_brier"] == pytest.approx(prob["models"]["heuristic"]["brier"], abs=1e-6)


def test_figures_agree_with_the_labels(history: History, tmp_path: Path) -> None:
    run = run_backtest(history, CFG)
    lab = label(history, run.scored)
    rep = write_report(history, run.scored, run.alerts, tmp_path, labels=lab, options=OPTS)
    s = run.scored
    assert rep["meta"]["eligible_rows"] == int(s.eligible.sum())
    assert sum(g["count"] for g in rep["levels"].values()) == int(s.eligible.sum())
    for h, o in (("4h", lab.hit_4h), ("24h", lab.hit_24h)):
        u = s.eligible & (o >= 0)
        assert rep["levels"]["FUERTE"][h]["base_rate"]["value"] == pytest.approx(o[u].mean(), abs=1e-6)
        fu = u & (s.level == 4)
        assert rep["levels"]["FUERTE"][h]["resolved"] == int(fu.sum())
        assert rep["levels"]["FUERTE"][h]["precision"]["value"] == pytest.approx(o[fu].mean(), abs=1e-6)
        a = run.alerts.rows[o[run.alerts.rows] >= 0]
        assert len(run.alerts) > 0
        assert rep["alerts"]["all"][h]["precision"]["value"] == pytest.approx(o[a].mean(), abs=1e-6)
        lo, hi = (rep["alerts"]["all"][h]["precision"][k] for k in ("lo", "hi"))
        assert lo <= o[a].mean() <= hi
    prob = rep["probability"]
    assert not prob["walk_forward"] and set(prob["models"]) == {"heuristic", "base_rate"}
    assert prob["models"]["base_rate"]["brier_skill"] == 0.0
    assert not (tmp_path / "probability_model.json").exists()
    assert np.isfinite(prob["models"]["heuristic"]["brier"])


def test_horizons_argument() -> None:
    assert horizons_arg("4,24") == (4.0, 24.0)
    with pytest.raises(ValueError, match="positive"):
        horizons_arg("0,4")
    with pytest.raises(ValueError, match="commas"):
        horizons_arg("4h")
