"""The history commands end to end on real files: import into a store, backtest from it, status from outcomes."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from cryptoscan.cli import main
from cryptoscan.sinks.store.sink import StoreSink

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "binance" / "klines"
PAIRS = ("BTC_USDT-1h.json", "SOL_USDT-1h.json", "MATIC_USDT-1h.json", "DENT_USDT-1h.json", "LUNA_USDT-1h.json")


def test_import_then_backtest_from_the_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "h.duckdb"
    files = [str(DATA / "freqtrade_json_1h_2021H1" / name) for name in PAIRS]
    assert main(["import", *files, "--store", str(store)]) == 0
    assert "spot 1h: 5 symbols" in capsys.readouterr().out
    assert main(["import", *files, "--store", str(store)]) == 0  # again: nothing new
    assert "(0 new to" in capsys.readouterr().out

    out = tmp_path / "rep"
    code = main(["backtest", "--store", str(store), "--interval", "1h", "--report", str(out), "--no-fit",
                 "--bootstrap", "50"])  # fmt: skip
    text = capsys.readouterr().out
    assert code == 0, text
    report = json.loads((out / "report.json").read_text())
    assert report["meta"]["symbols"] == 5 and report["meta"]["interval"] == "1h"
    assert (out / "report.html").stat().st_size > 1000 and (out / "plotly.min.js").exists()
    assert "FUERTE" in text and "alerts" in text


def test_bad_input_is_one_line_and_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "X_USDT-1h.json"
    bad.write_text("[[1609459200000, 1, 2, 0.5, 1.5]]")  # a column short
    assert main(["import", str(bad), "--store", str(tmp_path / "s.duckdb")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("cryptoscan import: ") and "X_USDT-1h.json" in err and err.count("\n") == 1
    assert main(["download", "--symbols", "btc-usdt", "--since", "1d"]) == 2  # usage error from argparse


def test_status_shows_live_precision_next_to_the_backtest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "s.duckdb"
    now = 1_800_000_000_000
    day = 86_400_000

    async def write() -> None:
        async with StoreSink(store) as sink:
            for i, (age_d, hit) in enumerate(((1, 1), (2, 0), (3, 1), (20, 0))):
                ts = now - age_d * day
                sink.offer_outcome((ts, "spot", f"P{i}USDT", "FUERTE", 24, 1.0, hit, 9.0, -1.0, 3_600_000, now))
            assert await sink.flush(10)

    asyncio.run(write())
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"levels": {"FUERTE": {"24h": {"precision": {"value": 0.483, "lo": 0.4,
                                                                               "hi": 0.5}}}}}))  # fmt: skip
    from cryptoscan.backtest.live_status import live_status, status_lines

    status = live_status(store, report, now_ms=now)
    row = next(r for r in status["rows"] if r["level"] == "FUERTE" and r["horizon_h"] == 24)
    assert row["live_7d"] == {"alerts": 3, "hits": 2, "precision": pytest.approx(2 / 3)}
    assert row["live_30d"]["alerts"] == 4 and row["backtest"]["value"] == 0.483
    lines = "\n".join(status_lines(status))
    assert "67 % of 3" in lines and "48 %" in lines
    assert main(["status", "--store", str(store), "--report", str(report)]) == 0  # the command itself runs
    assert "live alert outcomes" in capsys.readouterr().out


def test_a_fitted_model_in_the_config_replaces_the_heuristic_only_when_it_won(tmp_path: Path) -> None:
    from cryptoscan.app import fitted_probability
    from cryptoscan.backtest.calibrate import calibration_data, fit_logistic
    from cryptoscan.backtest.features import LIVE, InputsRecorder
    from cryptoscan.backtest.fitted import FittedProbability, save_model
    from cryptoscan.backtest.history import History, freqtrade_json_bars, freqtrade_symbol
    from cryptoscan.backtest.labels import label
    from cryptoscan.backtest.replay import replay
    from cryptoscan.config import ConfigError
    from cryptoscan.config_scanner import ScannerConfig
    from cryptoscan.scanner.probability import HeuristicProbability

    cfg = ScannerConfig(interval="1h", max_price=1e6)
    files = [DATA / "freqtrade_json_1h_2021H1" / name for name in PAIRS[:3]]
    hist = History("spot", "1h", {freqtrade_symbol(f): freqtrade_json_bars(f) for f in files})
    rec = InputsRecorder(HeuristicProbability(cfg.probability))
    scored = replay(hist, cfg, probability=rec, warmup_bars=60)
    data = calibration_data(scored, label(hist, scored), rec.live_matrix(scored), horizon_h=24)
    spec = fit_logistic(data.live, data.y, list(LIVE)) | {"schema": "cryptoscan.probability/1", "interval": "1h"}
    path = tmp_path / "m.json"
    save_model(spec | {"default": "fitted"}, path)
    with_model = cfg.model_copy(update={"probability": cfg.probability.model_copy(update={"model": path})})
    assert isinstance(fitted_probability(with_model), FittedProbability)
    save_model(spec | {"default": "heuristic"}, path)  # it lost to the heuristic out of sample: not used
    assert fitted_probability(with_model) is None
    on_1m = with_model.model_copy(update={"interval": "1m"})
    with pytest.raises(ConfigError, match=r"scanner.probability.model: .*fitted on 1h bars, the scanner runs 1m"):
        fitted_probability(on_1m)
    assert fitted_probability(cfg) is None  # none configured
