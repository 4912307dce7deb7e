"""The dashboard's command-line flags and how they combine with the ``dashboard`` config section.

Here rather than in ``cli.py`` (as ``sinks/store/export.py`` does for ``export``): three commands share them.
Importing this module loads neither FastAPI nor uvicorn.
"""

from __future__ import annotations

import argparse
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptoscan.config import ConfigError, DashboardConfig
from cryptoscan.web.i18n import LANGS


@dataclass(frozen=True, slots=True)
class DashboardOptions:
    host: str = "127.0.0.1"
    port: int = 8000  # 0: a free port
    token: str | None = None  # required when ``host`` is not loopback
    lang: str = "en"
    top: int = 10  # rows per level on the main page
    queue_size: int = 64  # frames a client may fall behind before it is dropped
    tick_s: float = 0.5  # status bar and pair candles cadence (real seconds)
    fallback_port: bool = False  # a taken ``port`` falls back to a free one (the demo) instead of failing
    backtest_report: Path = Path("reports/backtest/report.json")  # the live panel's backtest column (missing: none)


class DashboardConfigError(ConfigError):
    """A dashboard setting that cannot work (a public bind without a token, an unknown language)."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """Refuse a non-loopback bind without a token (one clear line)."""
    if not is_loopback(host) and not token:
        raise DashboardConfigError(
            f"the dashboard binds to {host}, which is not loopback: it needs a token "
            "(--token, dashboard.token or CRYPTOSCAN_DASHBOARD__TOKEN)"
        )


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"not a port: {text!r}")
    return value


def add_dashboard_arguments(p: argparse.ArgumentParser, *, standalone: bool) -> None:
    """``dashboard``: --host --port --token --lang; ``demo`` and ``serve``: --dashboard-port --no-dashboard --lang."""
    add = p.add_argument
    if standalone:
        add("--host", metavar="HOST", help="interface to listen on (default: dashboard.host, 127.0.0.1); "
            "any address that is not loopback needs a token")  # fmt: skip
        add("--port", type=_port, metavar="N", help="port (default: dashboard.port, 8000); 0 picks a free one")
        add("--token", metavar="TOKEN", help="require this token as ?token= or Authorization: Bearer (default: "
            "dashboard.token; better set CRYPTOSCAN_DASHBOARD__TOKEN than pass it here)")  # fmt: skip
    else:
        add("--dashboard-port", type=_port, metavar="N", help="web dashboard port (default: dashboard.port, 8000; "
            "0 picks a free one)")  # fmt: skip
        add("--no-dashboard", action="store_true", help="do not serve the web dashboard")
    add("--lang", choices=tuple(LANGS), help="dashboard language (default: dashboard.lang, en)")


def dashboard_options(
    args: argparse.Namespace, cfg: DashboardConfig, *, top: int, standalone: bool, fallback_port: bool = False
) -> DashboardOptions | None:
    """Flags over config, checked (DashboardConfigError for a public bind without a token, or a language we
    do not have); None with ``--no-dashboard``. ``fallback_port`` applies only to a port not given on the
    command line (a port the user asked for is theirs: taken, it is an error)."""
    if not standalone and args.no_dashboard:
        return None
    port = args.port if standalone else args.dashboard_port
    token = args.token if standalone and args.token else (cfg.token.get_secret_value() if cfg.token else None)
    options = DashboardOptions(
        host=(args.host if standalone and args.host else cfg.host), port=cfg.port if port is None else port,
        token=token or None, lang=args.lang or cfg.lang, top=top, fallback_port=fallback_port and port is None,
    )  # fmt: skip
    check_bind(options.host, options.token)
    if options.lang not in LANGS:
        raise DashboardConfigError(f"dashboard.lang: {options.lang!r} is not available (one of {', '.join(LANGS)})")
    return options
