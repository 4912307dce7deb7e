"""The history commands of ``cryptoscan``: ``download``, ``import``, ``backtest`` and ``status``.

Apart from ``cli.py`` (which stays the one dispatcher) because they share flags and helpers of their own, and so
the live commands never import scikit-learn or pyarrow. Each runner raises :class:`HistoryCommandError` with one
line to show; the dispatcher turns it into exit code 1.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

from cryptoscan.config import Settings

COMMANDS = ("download", "import", "backtest", "status")
INTERVALS = ("1m", "3m", "5m", "15m", "1h", "4h", "1d")
TIME_HELP = "epoch ms, a UTC date/time such as 2021-01-01 or 2021-01-01T12:00, or an age such as 6h or 7d"


class HistoryCommandError(Exception):
    """A history command failed; the message is one line."""


def _symbols(text: str) -> list[str]:
    out = [s.strip().upper() for s in text.split(",") if s.strip()]
    if not out or any(not re.fullmatch(r"[A-Z0-9]{2,30}", s) for s in out):
        raise argparse.ArgumentTypeError(f"symbols must be like BTCUSDT,ETHUSDT, got {text!r}")
    return out


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def add_history_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("download", parents=[common], help="klines from the exchange's REST API into the store",
                       description="Downloads closed klines into the store, within the REST weight budget, with a "
                       "progress bar. Resumable: a second run fetches only what the store lacks in the range.")
    p.add_argument("--symbols", type=_symbols, required=True, metavar="A,B", help="e.g. BTCUSDT,ETHUSDT")
    p.add_argument("--interval", choices=INTERVALS, default="1h", help="kline interval (default 1h)")
    p.add_argument("--since", required=True, metavar="TIME", help=TIME_HELP)
    p.add_argument("--until", metavar="TIME", help=f"{TIME_HELP} (default: now)")
    p.add_argument("--venue", choices=("spot", "futures"), default="spot")
    p.add_argument("--exchange-url", metavar="URL", help="exchange base URL, e.g. a cryptoscan sim")
    p.add_argument("--store", metavar="PATH|URL", help="DuckDB file or postgresql:// URL (default: store.url)")

    p = sub.add_parser("import", parents=[common], help="kline files (Binance CSV, freqtrade json/feather) into "
                       "the store", description="Imports Binance public-data kline CSV files (zipped or not, "
                       "with or without header, ms or µs times) and freqtrade json/feather files, or folders of "
                       "them. Symbol, interval and venue come from the file names unless given.")
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    p.add_argument("--symbol", help="where a file name does not say it; in a folder, import only this")
    p.add_argument("--interval", choices=INTERVALS, help="same")
    p.add_argument("--venue", choices=("spot", "futures"), help="same")
    p.add_argument("--skip-bad-rows", action="store_true", help="skip and count bad rows instead of stopping")
    p.add_argument("--store", metavar="PATH|URL", help="DuckDB file or postgresql:// URL (default: store.url)")

    p = sub.add_parser("backtest", parents=[common], help="replay history through the scanner; outcomes, report",
                       description="Replays stored (or given) klines bar by bar through the live scanner and "
                       "alert rules, labels every row and alert (+target within each horizon), fits the "
                       "probability walk-forward and writes report.json, report.html and probability_model.json.")
    p.add_argument("source", nargs="*", type=Path, metavar="PATH",
                   help="kline files or folders (default: the store)")
    p.add_argument("--interval", choices=INTERVALS, help="kline interval (default: scanner.interval)")
    p.add_argument("--venue", choices=("spot", "futures"), default="spot")
    p.add_argument("--symbols", type=_symbols, metavar="A,B", help="only these")
    p.add_argument("--store", metavar="PATH|URL", help="read the store here (default: store.url)")
    p.add_argument("--report", type=Path, metavar="DIR", default=Path("reports/backtest"),
                   help="output folder (default reports/backtest)")
    p.add_argument("--no-fit", action="store_true", help="skip the walk-forward probability fit")
    p.add_argument("--horizons", default="4,24", metavar="H,H", help="outcome horizons in hours (default 4,24)")
    p.add_argument("--bootstrap", type=int, default=2000, metavar="N", help="bootstrap resamples (default 2000)")
    p.add_argument("--test-days", type=_positive, default=30.0, metavar="D", help="walk-forward test period")
    p.add_argument("--min-train-days", type=_positive, default=30.0, metavar="D", help="first training span")

    p = sub.add_parser("status", parents=[common], help="live precision of alerts per level, next to the backtest",
                       description="Reads the alert outcomes live tracking stored (table outcomes) and prints "
                       "precision per level over the last 7 and 30 days, next to the last backtest report's.")
    p.add_argument("--store", metavar="PATH|URL", help="DuckDB file or postgresql:// URL (default: store.url)")
    p.add_argument("--report", type=Path, metavar="FILE", default=Path("reports/backtest/report.json"),
                   help="backtest report to compare with (default reports/backtest/report.json)")
    p.add_argument("--json", action="store_true", help="print JSON")


def run_history_command(args: argparse.Namespace, settings: Settings) -> None:
    try:
        {"download": _download, "import": _import, "backtest": _backtest, "status": _status}[args.command](
            args, settings)
    except (ValueError, OSError) as exc:  # HistoryError and ModelError are ValueErrors with one line
        raise HistoryCommandError(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from exc


def _store(args: argparse.Namespace, settings: Settings) -> str:
    return str(args.store or settings.store.url.get_secret_value())


def _download(args: argparse.Namespace, settings: Settings) -> None:
    from rich.console import Console

    from cryptoscan.backtest.download import DownloadError, run_download
    from cryptoscan.clock import LiveClock
    from cryptoscan.sinks.store.export import parse_time

    now = LiveClock().now_ms()
    since = parse_time(args.since, now)
    until = parse_time(args.until, now) if args.until else None
    try:
        summary = run_download(settings, args.symbols, args.interval, since, until, args.venue, args.exchange_url,
                               _store(args, settings), Console(stderr=True))  # fmt: skip
    except DownloadError as exc:
        raise HistoryCommandError(str(exc)) from exc
    except KeyboardInterrupt:
        print("stopped; run the same command again to resume")
        return
    print("\n".join(summary.lines()))


def _import(args: argparse.Namespace, settings: Settings) -> None:
    from cryptoscan.backtest.load import run_import

    summary = run_import(args.paths, _store(args, settings), args.venue, args.interval, args.symbol,
                         on_error="skip" if args.skip_bad_rows else "raise", pg_schema=settings.store.pg_schema)
    print("\n".join(summary.lines()))


def _backtest(args: argparse.Namespace, settings: Settings) -> None:
    from cryptoscan.backtest.history import History
    from cryptoscan.backtest.importers import import_history
    from cryptoscan.backtest.report import ReportOptions, backtest_report, horizons_arg

    cfg = settings.scanner if args.interval is None else settings.scanner.model_copy(update={"interval": args.interval})
    source: History | Path
    if args.source:
        source = import_history(args.source, venue=args.venue, interval=cfg.interval).history
    else:
        source = Path(_store(args, settings))
    options = ReportOptions(target_pct=cfg.probability.target_pct, horizons_h=tuple(horizons_arg(args.horizons)),
                            n_boot=args.bootstrap)  # fmt: skip
    report = backtest_report(source, cfg, args.report, fit=not args.no_fit, alerts=settings.alerts, options=options,
                             min_train_days=args.min_train_days, test_days=args.test_days, venue=args.venue,
                             symbols=args.symbols)  # fmt: skip
    print(f"report: {args.report / 'report.html'} and report.json")
    for line in summary_lines(report):
        print(line)


def _pct(ci: dict[str, float] | None) -> str:
    if not ci or ci.get("value") is None:
        return "-"
    return f"{ci['value'] * 100:.1f} % [{ci['lo'] * 100:.1f}-{ci['hi'] * 100:.1f}]"


def summary_lines(report: dict[str, Any]) -> list[str]:
    """The headline figures of a report: precision and lift per level and horizon, the probability's skill."""
    out = []
    groups = {**report.get("levels", {}), "alerts": report.get("alerts", {}).get("all", {})}
    horizons = [f"{h:g}h" for h in report.get("meta", {}).get("horizons_h", [])]
    for name in ("FUERTE", "ALTA", "MEDIA", "alerts"):
        g = groups.get(name) or {}
        parts = []
        for h in horizons:
            x = g.get(h) or {}
            lift = (x.get("lift_matched") or {}).get("value")
            parts.append(f"{h} {_pct(x.get('precision'))} vs matched {_pct(x.get('matched_base_rate'))}"
                         + (f", lift {lift:.2f}" if lift is not None else ""))  # fmt: skip
        out.append(f"  {name:<7} n={g.get('count', 0):<6} " + "; ".join(parts))
    prob = report.get("probability") or {}
    models = prob.get("models") or {}
    if models:
        skills = ", ".join(f"{m} {v['brier']:.4f} ({v['brier_skill']:+.3f})" for m, v in models.items())
        out.append(f"  probability +{report.get('meta', {}).get('target_pct', 7.5):g} % within "
                   f"{prob.get('horizon_h', 0):g} h, out of sample Brier (skill): {skills}; default: "
                   f"{prob.get('default', 'heuristic')}")  # fmt: skip
    return out


def _status(args: argparse.Namespace, settings: Settings) -> None:
    from cryptoscan.backtest.live_status import live_status, status_lines

    status = live_status(_store(args, settings), args.report, pg_schema=settings.store.pg_schema)
    if args.json:
        print(json.dumps(status, indent=2, default=str))
    else:
        print("\n".join(status_lines(status)))
