"""The commands as a user runs them: ``cryptoscan dashboard`` and ``cryptoscan serve`` (child processes against
the local exchange) print the dashboard's URL and serve it; a public bind without a token is refused."""

from __future__ import annotations

import asyncio
import logging
import re
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cryptoscan.cli import main
from cryptoscan.sim.options import SimOptions
from simfakes import SimFactory
from test_scan_cli import small_universe


@pytest.fixture(autouse=True)
def _keep_root_logging() -> Iterator[None]:
    """``main()`` configures logging onto this test's captured stderr; the session's demo thread logs on after it."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


async def start(*argv: str, cwd: Path) -> asyncio.subprocess.Process:
    env = small_universe()
    env["CRYPTOSCAN_STORE__ENABLED"] = "false"
    env["CRYPTOSCAN_REDIS__URL"] = "redis://127.0.0.1:9/0"  # nothing listens: the sink buffers, serve runs on
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cryptoscan.cli", *argv, "--log-level", "WARNING", cwd=cwd, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def url_line(proc: asyncio.subprocess.Process, pattern: str) -> str:
    assert proc.stdout is not None
    while True:
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
        assert line, f"no URL printed; exit code {proc.returncode}"
        m = re.fullmatch(pattern, line.strip())
        if m:
            return m[1]


async def test_dashboard_and_serve_commands_print_their_url_and_serve(sim_factory: SimFactory, tmp_path: Path) -> None:
    sim = await sim_factory(SimOptions(n_spot=12, n_futures=4), fake=False)
    dash = await start("dashboard", "--exchange-url", sim.url, "--port", "0", "--lang", "es", cwd=tmp_path)
    serve = await start("serve", "--exchange-url", sim.url, "--dashboard-port", "0", cwd=tmp_path)
    try:
        urls = await asyncio.gather(url_line(dash, r"cryptoscan dashboard on (http://127\.0\.0\.1:\d+)"),
                                    url_line(serve, r"dashboard: (http://127\.0\.0\.1:\d+)"))  # fmt: skip
        async with httpx.AsyncClient(timeout=10) as client:
            for url in urls:
                status = (await client.get(url + "/api/status")).json()
                assert status["dashboard"]["clients"] == 0 and "feed" in status
            page = await client.get(urls[0] + "/")
            assert page.status_code == 200 and "Oportunidades" in page.text  # --lang es
    finally:
        for proc in (dash, serve):
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
        outs = [await asyncio.wait_for(p.communicate(), 60) for p in (dash, serve)]
    assert dash.returncode == 0 and serve.returncode == 0, [o[1].decode()[-500:] for o in outs]
    assert all(b"Traceback" not in err for _, err in outs)


@pytest.mark.parametrize("argv", [["dashboard", "--host", "0.0.0.0"], ["dashboard", "--host", "192.168.7.7"]])
def test_a_public_bind_without_a_token_is_refused(argv: list[str], capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.delenv("CRYPTOSCAN_DASHBOARD__TOKEN", raising=False)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("config error: the dashboard binds to ") and "needs a token" in err
    assert len(err.splitlines()) == 1


def test_dashboard_flags_are_checked(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dashboard", "--lang", "fr"]) == 2
    assert "invalid choice: 'fr'" in capsys.readouterr().err
    assert main(["demo", "--dashboard-port", "70000"]) == 2
    assert main(["serve", "--dashboard-port", "http"]) == 2
    assert main(["dashboard", "--help"]) == 0
    out = capsys.readouterr().out
    for flag in ("--host", "--port", "--token", "--lang", "--exchange-url", "--duration"):
        assert flag in out, flag
