"""Settings: a valid file, environment overrides, and one clear line + exit 2 for every kind of error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cryptoscan.cli import main
from cryptoscan.config import ConfigError, Settings, load_config

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No stray CRYPTOSCAN_* variable or ./config.yaml may leak into these tests."""
    import os

    for name in list(os.environ):
        if name.upper().startswith("CRYPTOSCAN_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_defaults_without_a_file() -> None:
    s = load_config(None, {})
    assert s.data_aggregator.chunk_size == 200
    assert s.data_aggregator.max_pairs == 600
    assert s.exchange.url is None
    assert s.dashboard.port == 8000 and s.dashboard.token is None
    assert s.scanner.interval == "1m"
    assert s.logging.level == "INFO" and s.logging.json_output is False


def test_valid_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
exchange: {url: "http://127.0.0.1:9999/", api_key: abc123}
data_aggregator: {chunk_size: 50, use_websockets: false}
bot: {analyze_all_usdt_pairs: false, trading_pairs: [btcusdt, SOLUSDT]}
scanner:
  {interval: 5m, max_price: 100000, velocity: [[5, 15], [2, 5]],
   probability: {weights: {volatility: 0.2, momentum: 0.35, resistance: 0.2, btc: 0.15, liquidity: 0.1}}}
alerts: {enabled: true, urls: ["tgram://123:TOKEN/456"]}
logging: {level: debug, json: true}
""",
    )
    s = load_config(path, {})
    assert s.exchange.url == "http://127.0.0.1:9999"
    assert s.exchange.api_key is not None and s.exchange.api_key.get_secret_value() == "abc123"
    assert "abc123" not in repr(s) and "TOKEN" not in repr(s)
    assert s.data_aggregator.chunk_size == 50 and s.data_aggregator.use_websockets is False
    assert s.bot.trading_pairs == ["BTCUSDT", "SOLUSDT"]
    assert s.scanner.interval == "5m" and s.scanner.max_price == 100000
    assert s.scanner.velocity == [(5, 15), (2, 5)] and s.scanner.probability.weights.momentum == 0.35
    assert [u.get_secret_value() for u in s.alerts.urls] == ["tgram://123:TOKEN/456"]
    assert s.logging.level == "DEBUG" and s.logging.json_output is True


def test_sample_file_is_valid_and_equals_the_defaults() -> None:
    sample = load_config(ROOT / "config.example.yaml", {})
    assert sample.model_dump() == load_config(None, {}).model_dump()


def test_config_yaml_in_the_working_directory_is_read(tmp_path: Path) -> None:
    write(tmp_path, "data_aggregator: {max_pairs: 7}\n")
    assert load_config(None, {}).data_aggregator.max_pairs == 7


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "data_aggregator: {chunk_size: 100, max_pairs: 10}\n")
    env = {
        "CRYPTOSCAN_DATA_AGGREGATOR__CHUNK_SIZE": "25",
        "CRYPTOSCAN_BOT__TRADING_PAIRS": '["ETHUSDT"]',
        "CRYPTOSCAN_DASHBOARD__TOKEN": "s3cret",
        "cryptoscan_logging__json": "true",
        "UNRELATED": "x",
    }
    s = load_config(path, env)
    assert s.data_aggregator.chunk_size == 25  # from the environment
    assert s.data_aggregator.max_pairs == 10  # from the file
    assert s.bot.trading_pairs == ["ETHUSDT"]
    assert s.dashboard.token is not None and s.dashboard.token.get_secret_value() == "s3cret"
    assert s.logging.json_output is True


def test_config_path_from_the_environment(tmp_path: Path) -> None:
    path = write(tmp_path, "store: {enabled: false}\n", name="other.yaml")
    assert load_config(None, {"CRYPTOSCAN_CONFIG": str(path)}).store.enabled is False


def test_settings_are_frozen() -> None:
    s = load_config(None, {})
    with pytest.raises(Exception, match="frozen"):
        s.data_aggregator.chunk_size = 1  # type: ignore[misc]
    assert isinstance(s, Settings)


def test_load_config_raises_config_error(tmp_path: Path) -> None:
    path = write(tmp_path, "data_aggregator: {chunk_size: abc}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, {})
    assert str(info.value).startswith(f"{path}: data_aggregator.chunk_size: Input should be a valid integer")
    assert "(got 'abc')" in str(info.value)


# --- every error kind through the real CLI entry: one line on stderr, exit code 2 -------------------------

FILE_ERRORS = [
    (
        "data_aggregator:\n  chunk_size: abc\n",
        "config.yaml: data_aggregator.chunk_size: Input should be a valid integer",
    ),
    (
        "data_aggregator: {chunksize: 5}\n",
        "config.yaml: data_aggregator.chunksize: unknown key (did you mean 'chunk_size'?)",
    ),
    ("bogus: {}\n", "config.yaml: bogus: unknown key"),
    ("scanner: {interval: 2m}\n", "config.yaml: scanner.interval: Input should be '1m'"),
    ("scanner: {min_price: 5000}\n", "config.yaml: scanner: min_price (5000.0) must be below max_price (1000.0)"),
    ("scanner: {levels: {alta: 90}}\n", "config.yaml: scanner.levels: levels must satisfy fuerte > alta > media"),
    ("scanner: {velocity: [[1.5, 10], [3, 15]]}\n", "config.yaml: scanner.velocity: rows must be ordered by threshold"),
    ("scanner: {probability: {weights: {btc: 0.5}}}\n",
     "config.yaml: scanner.probability.weights: weights must sum to 1 (they sum to 1.35)"),
    ("scanner: {venues: []}\n", "config.yaml: scanner.venues: scan at least one venue"),
    ("bot: {trading_pairs: [BTC-USDT]}\n", "config.yaml: bot.trading_pairs: not a Binance symbol: 'BTC-USDT'"),
    ("dashboard: {port: 70000}\n", "config.yaml: dashboard.port: Input should be less than or equal to 65535"),
    ("exchange: {url: 'ftp://x'}\n", "config.yaml: exchange.url: must be an http:// or https:// base URL"),
    ("data_aggregator: [1, 2\n", "config.yaml: line 2, column 1: malformed YAML"),
    ("- a\n- b\n", "config.yaml: the top level must be a mapping of sections, not list"),
    ("a: b: c\n", "config.yaml: line 1, column 5: malformed YAML: mapping values are not allowed here"),
]


def run_main(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    rc = main(argv)
    out, err = capsys.readouterr()
    return rc, out, err


def assert_one_line(err: str, expected: str) -> None:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"config error: {expected}"), lines[0]
    assert "Traceback" not in err


@pytest.mark.parametrize(("text", "expected"), FILE_ERRORS)
def test_file_errors_give_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str
) -> None:
    write(tmp_path, text)
    rc, out, err = run_main(capsys, ["--config", "config.yaml", "sim", "--port", "0"])
    assert rc == 2
    assert out == ""
    assert_one_line(err, expected)


ENV_ERRORS = [
    (
        {"CRYPTOSCAN_DATA_AGGREGATOR__CHUNK_SIZE": "abc"},
        "environment CRYPTOSCAN_DATA_AGGREGATOR__CHUNK_SIZE: "
        "data_aggregator.chunk_size: Input should be a valid integer",
    ),
    (
        {"CRYPTOSCAN_DATA_AGGREGATOR__CHUNKSIZE": "5"},
        "environment CRYPTOSCAN_DATA_AGGREGATOR__CHUNKSIZE: data_aggregator.chunksize: unknown key",
    ),
    ({"CRYPTOSCAN_BOTT__TRADING_PAIRS": "[]"}, "environment CRYPTOSCAN_BOTT__TRADING_PAIRS: unknown section 'bott'"),
    ({"CRYPTOSCAN_BOT__TRADING_PAIRS": "[oops"}, "environment CRYPTOSCAN_BOT__TRADING_PAIRS: not valid JSON"),
    ({"CRYPTOSCAN_CONFIG": "missing.yaml"}, "missing.yaml: no such file"),
]


@pytest.mark.parametrize(("env", "expected"), ENV_ERRORS)
def test_environment_errors_give_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], env: dict[str, str], expected: str
) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    rc, _, err = run_main(capsys, ["demo", "--duration", "1"])
    assert rc == 2
    assert_one_line(err, expected)


def test_missing_named_file(capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = run_main(capsys, ["--config", "nope.yaml", "sim"])
    assert rc == 2
    assert_one_line(err, "nope.yaml: no such file")


def test_many_errors_still_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, "data_aggregator: {chunk_size: x, max_pairs: y, max_workers: z}\n")
    rc, _, err = run_main(capsys, ["sim", "--config", "config.yaml"])  # --config also after the subcommand
    assert rc == 2
    assert_one_line(err, "config.yaml: data_aggregator.max_pairs")  # the first in the model's order
    assert err.rstrip().endswith("(and 2 more)")


def test_secret_values_never_appear_in_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, "dashboard: {token: [hunter2-secret]}\nexchange: {api_key: {nested: hunter2-key}}\n")
    rc, _, err = run_main(capsys, ["sim"])
    assert rc == 2
    assert "hunter2" not in err
    assert err.startswith("config error: config.yaml: ")


def test_real_console_entry_exits_2_without_traceback(tmp_path: Path) -> None:
    write(tmp_path, "logging: {level: LOUD}\n")
    proc = subprocess.run(
        [sys.executable, "-m", "cryptoscan.cli", "sim"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.startswith("config error: config.yaml: logging.level: Input should be 'DEBUG'")
    assert len(proc.stderr.splitlines()) == 1
