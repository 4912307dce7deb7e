"""The ``cryptoscan`` command: help everywhere, usage errors, and ``sim`` as a real process."""

from __future__ import annotations

import os
import re
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cryptoscan import __version__
from cryptoscan.cli import build_parser, main

SUBCOMMANDS = ("sim", "demo", "scan", "serve", "dashboard", "export", "record", "replay", "download", "import",
               "backtest", "status", "version")


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("CRYPTOSCAN_")}
    env["COLUMNS"] = "160"
    return env


@pytest.mark.parametrize("argv", [["--help"], *([cmd, "--help"] for cmd in SUBCOMMANDS)])
def test_help_exits_0(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: cryptoscan")
    assert "--config" in out and "--log-json" in out and "--log-level" in out


def test_every_subcommand_has_help() -> None:
    parser = build_parser()
    actions = [a for a in parser._actions if a.dest == "command"]
    assert set(actions[0].choices) == set(SUBCOMMANDS)  # type: ignore[arg-type]


def test_record_and_replay_help_list_their_options(capsys: pytest.CaptureFixture[str]) -> None:
    main(["record", "--help"])
    out = capsys.readouterr().out
    for flag in ("--out", "--exchange-url", "--streams", "--venue", "--seconds"):
        assert flag in out, flag
    main(["replay", "--help"])
    assert "--json" in capsys.readouterr().out


def test_stream_names_are_checked_for_shape() -> None:
    parser = build_parser()
    args = parser.parse_args(["record", "--out", "x", "--streams", "btcusdt@depth@100ms, !markPrice@arr@1s"])
    assert args.streams == ["btcusdt@depth@100ms", "!markPrice@arr@1s"]
    assert parser.parse_args(["record", "--out", "x"]).streams == ["!miniTicker@arr"]


def test_sim_help_lists_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    main(["sim", "--help"])
    out = capsys.readouterr().out
    for flag in (
        "--host", "--port", "--seed", "--speed", "--start-ms", "--spot-pairs", "--futures-pairs", "--truth",
        "--replay", "--replay-speed", "--streams-per-connection", "--connection-attempts-per-5m",
        "--lifetime-s", "--spot-weight", "--futures-weight", "--fault", "--fault-seed",
    ):  # fmt: skip
        assert flag in out, flag


@pytest.mark.parametrize(
    "argv",
    [
        ["--no-such-flag"],
        ["backtest", "--bootstrap", "many"],
        ["scan", "--top", "0"],
        ["scan", "--duration", "-3"],
        ["sim", "--port", "http"],
        ["sim", "--port", "70000"],
        ["sim", "--speed", "0"],
        ["sim", "--fault", "meteor:10"],
        ["sim", "--fault", "drop:-1"],
        ["sim", "--replay", "/no/such/recording.jsonl"],
        ["demo", "--duration", "soon"],
        ["demo", "--history", "0"],
        ["record"],  # --out is required
        ["record", "--out", "f.jsonl", "--venue", "options"],
        ["record", "--out", "f.jsonl", "--streams", "not a stream"],
        ["record", "--out", "f.jsonl", "--seconds", "-1"],
        ["replay"],
        ["replay", "/no/such/recording.jsonl"],
        ["--log-level", "LOUD", "version"],
    ],
)
def test_bad_flags_are_usage_errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: cryptoscan") and "error:" in err


def test_no_command_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["version"]) == 0
    assert capsys.readouterr().out.strip() == f"cryptoscan {__version__}"


@pytest.fixture
def sim_process(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "cryptoscan.cli", "sim", "--port", "0", "--spot-pairs", "20", "--futures-pairs", "10"],
        cwd=tmp_path,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def read_line(proc: subprocess.Popen[str], timeout: float) -> str:
    """The first stdout line, waiting at most ``timeout`` seconds (no sleeping)."""
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if sel.select(timeout=deadline - time.monotonic()):
                return proc.stdout.readline()
            if proc.poll() is not None:
                break
    raise AssertionError(f"no URL within {timeout}s; exit code {proc.poll()}")


def test_sim_process_serves_and_stops_on_sigint(sim_process: subprocess.Popen[str]) -> None:
    line = read_line(sim_process, timeout=60)
    m = re.fullmatch(r"cryptoscan sim listening on (http://127\.0\.0\.1:(\d+))\n", line)
    assert m is not None, line
    assert int(m[2]) > 0
    response = httpx.get(f"{m[1]}/api/v3/ping", timeout=10)
    assert response.status_code == 200
    assert response.json() == {}
    sim_process.send_signal(signal.SIGINT)
    assert sim_process.wait(timeout=30) == 0
    assert sim_process.stderr is not None
    assert "Traceback" not in sim_process.stderr.read()


def test_sim_process_stops_on_sigterm(sim_process: subprocess.Popen[str]) -> None:
    assert read_line(sim_process, timeout=60).startswith("cryptoscan sim listening on http://")
    sim_process.send_signal(signal.SIGTERM)
    assert sim_process.wait(timeout=30) == 0


def test_sim_port_in_use_is_one_line_exit_1(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "cryptoscan.cli", "sim", "--port", str(port), "--spot-pairs", "5"],
            cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert proc.returncode == 1
    assert proc.stderr.startswith("cryptoscan sim: ") and len(proc.stderr.splitlines()) == 1
