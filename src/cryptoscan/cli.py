"""The ``cryptoscan`` command: parse flags, validate the configuration once, set up logging, dispatch.

Exit codes: 0 done (also after Ctrl-C / SIGTERM), 1 runtime failure (e.g. the port is taken),
2 usage or configuration error. Errors are one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

from cryptoscan import __version__
from cryptoscan.cli_history import COMMANDS as HISTORY_COMMANDS
from cryptoscan.cli_history import HistoryCommandError, add_history_commands, run_history_command
from cryptoscan.config import ConfigError, Settings, load_config
from cryptoscan.log import configure_logging
from cryptoscan.web.options import add_dashboard_arguments, dashboard_options

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class CommandError(Exception):
    """A runtime failure of a command, already phrased as one line (exit code 1)."""


N = TypeVar("N", int, float)


def _number(convert: Callable[[str], N], noun: str, *, positive: bool) -> Callable[[str], N]:
    """An argparse ``type``: ``convert`` the text, then require > 0 (``positive``) or >= 0."""

    def parse(text: str) -> N:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not {noun}: {text!r}") from None
        if value < 0 or (positive and value == 0):
            raise argparse.ArgumentTypeError(f"must be positive: {text!r}" if positive else
                                             f"must not be negative: {text!r}")
        return value

    return parse


_positive_float = _number(float, "a number", positive=True)
_non_negative_float = _number(float, "a number", positive=False)
_non_negative_int = _number(int, "an integer", positive=False)
_positive_int = _number(int, "an integer", positive=True)


def _port(text: str) -> int:
    value = _non_negative_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"not a port: {text!r}")
    return value


def _existing_path(text: str) -> Path:
    path = Path(text)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"no such file or directory: {text!r}")
    return path


def _fault(text: str) -> str:
    from cryptoscan.sim.faults import parse_flag

    try:
        parse_flag(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


class _DefaultsFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows real defaults only: not the None, [] and False of optional flags."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False or action.default == []:
            return action.help
        return super()._get_help_string(action)


def _global_options(parser: argparse.ArgumentParser, suppress: bool) -> None:
    """``--config``, ``--log-json`` and ``--log-level``, accepted before or after the subcommand."""
    default: Any = argparse.SUPPRESS if suppress else None
    parser.add_argument(
        "--config", metavar="PATH", default=default,
        help="YAML settings file (default: $CRYPTOSCAN_CONFIG, else ./config.yaml if present)",
    )  # fmt: skip
    parser.add_argument(
        "--log-json", action="store_true", default=argparse.SUPPRESS if suppress else False,
        help="log one JSON object per line (default: logging.json from the config)",
    )  # fmt: skip
    parser.add_argument(
        "--log-level", metavar="LEVEL", type=str.upper, choices=LOG_LEVELS, default=default,
        help=f"one of {', '.join(LOG_LEVELS)} (default: logging.level from the config)",
    )  # fmt: skip


def _exchange_url(p: argparse.ArgumentParser) -> None:
    p.add_argument("--exchange-url", metavar="URL", help="exchange base URL, e.g. a cryptoscan sim (default: "
                   "exchange.url, else live Binance)")  # fmt: skip


def _add_sim(sub: Any, common: argparse.ArgumentParser) -> None:
    from cryptoscan.sim.faults import KINDS
    from cryptoscan.sim.options import SimOptions

    d = SimOptions()
    p = sub.add_parser(
        "sim",
        parents=[common],
        formatter_class=_DefaultsFormatter,
        help="run the local Binance-compatible exchange",
        description="A local exchange on one port: spot REST /api/v3, futures REST /fapi/v1, spot WebSocket "
        "/ws and /stream, futures WebSocket /public /market /private, and the /sim control API. "
        "Prints its URL, then runs until Ctrl-C. Times are market time and scale with --speed.",
    )
    add = p.add_argument
    add("--host", default=d.host, help="interface to listen on")
    add("--port", type=_port, metavar="N", default=d.port, help="port; 0 picks a free one")
    add("--seed", type=int, metavar="N", default=d.seed, help="market generator seed")
    add("--speed", type=_positive_float, metavar="X", default=d.speed, help="market seconds per real second")
    add("--start-ms", type=_non_negative_int, metavar="MS", help="market start, epoch ms (default: now)")
    add("--spot-pairs", type=_non_negative_int, metavar="N", default=d.n_spot, help="USDT spot pairs")
    add("--futures-pairs", type=_non_negative_int, metavar="N", default=d.n_futures, help="USDT-M perpetuals")
    add("--truth", type=Path, metavar="FILE", help="write every closed kline and burst here (JSON lines)")
    add("--replay", type=_existing_path, metavar="FILE", help="serve this recording (JSON lines, .gz or a folder)")
    add("--replay-speed", type=_non_negative_float, metavar="X", default=d.replay_speed, help="0: fastest")
    n = d.streams_per_connection
    add("--streams-per-connection", type=_non_negative_int, metavar="N", default=n, help="limit per connection")
    n = d.connection_attempts_per_5m
    add("--connection-attempts-per-5m", type=_non_negative_int, metavar="N", default=n, help="limit per client")
    add("--lifetime-s", type=_positive_float, metavar="S", default=d.lifetime_ms / 1000, help="WebSocket lifetime")
    add("--spot-weight", type=_non_negative_int, metavar="N", default=d.spot_weight_per_minute, help="REST weight/min")
    add("--futures-weight", type=_non_negative_int, metavar="N", default=d.futures_weight_per_minute, help="same")
    add("--tick-ms", type=_positive_int, metavar="MS", default=d.tick_ms, help="real ms between publisher ticks")
    add(
        "--snapshot-min-real-ms",
        type=_positive_int,
        metavar="MS",
        default=d.snapshot_min_real_ms,
        help="at --speed > 1, send each snapshot stream (tickers, depth, open kline) at most this often (real ms)",
    )
    add(
        "--fault",
        type=_fault,
        action="append",
        default=[],
        metavar="KIND:EVERY_S[:DURATION_MS]",
        help=f"inject a fault on a schedule (repeatable); kinds: {', '.join(KINDS)}; e.g. --fault drop:30",
    )
    add("--fault-seed", type=int, metavar="N", default=d.fault_seed, help="fault schedule seed")


def _add_demo(sub: Any, common: argparse.ArgumentParser) -> None:
    demo = sub.add_parser(
        "demo", parents=[common], help="the scanner against the local exchange, in a live view",
        description="Starts the local exchange in-process at high speed and runs `cryptoscan scan` against it: "
        "the configured aggregator and momentum scanner, top pairs per confidence level, the feed's health. "
        "Runs until Ctrl-C / SIGTERM or --duration.",
    )  # fmt: skip
    add = demo.add_argument
    add("--speed", type=_positive_float, metavar="X", default=60.0, help="market speed (default 60)")
    add("--seed", type=int, metavar="N", default=7, help="market seed (default 7)")
    add("--duration", type=_positive_float, metavar="SECONDS", help="stop after this many seconds")
    add("--top", type=_positive_int, metavar="N", help="rows per level (default: scanner.top)")
    add("--history", type=_positive_int, metavar="BARS", default=300, help="history bars per pair (300)")
    add("--spot-pairs", type=_non_negative_int, metavar="N", default=400, help="USDT spot pairs in the sim (400)")
    add("--futures-pairs", type=_non_negative_int, metavar="N", default=200, help="USDT-M perpetuals (200)")
    add_dashboard_arguments(demo, standalone=False)


def _add_scan(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "scan", parents=[common], help="scan every USDT pair for momentum, in a live view or once as JSON",
        description="Discovers every USDT pair on Binance spot and USD-M futures, loads history, streams them and "
        "ranks momentum: score 0-100, confidence level, probability of +7.5%% within 4-24 h. Live Binance unless "
        "--exchange-url (or exchange.url) points elsewhere, e.g. at `cryptoscan sim`. Runs until Ctrl-C / "
        "SIGTERM or --duration; with --once, prints one ranked snapshot and exits.",
    )  # fmt: skip
    add = p.add_argument
    _exchange_url(p)
    add("--duration", type=_positive_float, metavar="SECONDS", help="stop after this many seconds")
    add("--once", action="store_true", help="one pass once history is loaded, printed, then exit")
    add("--json", action="store_true", help="with --once: print the snapshot as one JSON object")
    add("--top", type=_positive_int, metavar="N", help="rows per level (default: scanner.top)")


def _add_serve(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "serve", parents=[common], help="the market-data service: feed and scanner into Redis",
        description="Runs the aggregator and the scanner with the Redis sink on (redis.url, redis.prefix): "
        "mark prices, order books, tickers, klines, orders, positions and scanner results under the key "
        "contract in the README, for any number of consumers. Runs until Ctrl-C / SIGTERM or --duration.",
    )  # fmt: skip
    _exchange_url(p)
    p.add_argument("--duration", type=_positive_float, metavar="SECONDS", help="stop after this many seconds")
    add_dashboard_arguments(p, standalone=False)


def _add_dashboard(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "dashboard", parents=[common], help="scan every USDT pair and show the ranking in a live web dashboard",
        description="Runs the configured aggregator and momentum scanner (as `cryptoscan scan` does) with the web "
        "dashboard instead of the terminal view: ranked opportunities pushed live, a page per pair, a REST API "
        "described at /openapi.json. Prints its URL. Binds to 127.0.0.1 unless told otherwise; any other "
        "address needs a token. Runs until Ctrl-C / SIGTERM or --duration.",
    )  # fmt: skip
    _exchange_url(p)
    p.add_argument("--duration", type=_positive_float, metavar="SECONDS", help="stop after this many seconds")
    add_dashboard_arguments(p, standalone=True)


def _add_export(sub: Any, common: argparse.ArgumentParser) -> None:
    from cryptoscan.sinks.store.export import add_export_arguments

    p = sub.add_parser(
        "export", parents=[common], help="export stored klines or scan results to parquet or csv",
        description="Writes one symbol's closed klines (or, with --scans, the scanner's rows) from the store "
        "(store.url: a DuckDB file or PostgreSQL) to a parquet or csv file, for research. A DuckDB file can be "
        "read while no scan is writing it.",
    )  # fmt: skip
    add_export_arguments(p)


def _streams(text: str) -> list[str]:
    names = [s.strip() for s in text.split(",") if s.strip()]
    if not names:
        raise argparse.ArgumentTypeError("no stream names")
    for name in names:
        if not re.fullmatch(r"[a-z0-9]+@[A-Za-z0-9_@]+|![A-Za-z0-9_]+@[A-Za-z0-9_@]+", name):
            raise argparse.ArgumentTypeError(f"not a stream name (e.g. btcusdt@kline_1m): {name!r}")
    return names


def _add_record(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "record", parents=[common], formatter_class=_DefaultsFormatter,
        help="record raw stream frames to a replay file",
        description="Records every raw frame of the given streams with its receive time, one JSON line each "
        "(the format `cryptoscan sim --replay` and `cryptoscan replay` read). A name ending in .gz is "
        "gzipped. Stops after --seconds or on Ctrl-C / SIGTERM; the file is complete either way.",
    )  # fmt: skip
    add = p.add_argument
    add("--out", type=Path, metavar="FILE", required=True, help="where to write (FILE.part until done)")
    _exchange_url(p)
    add("--streams", type=_streams, metavar="A,B,...", default=["!miniTicker@arr"], help="stream names")
    add("--venue", choices=("spot", "futures"), default="spot", help="which venue the streams are on")
    add("--seconds", type=_positive_float, metavar="N", help="stop after N seconds (default: until Ctrl-C)")


def _add_replay(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "replay", parents=[common], help="run a recording through the parsers and print a summary",
        description="Runs a recording (a replay file, .gz, or a folder of them) through the frame parser of its "
        "venue into market state as fast as possible, and prints events by type and venue, symbols, parse "
        "errors by kind and the first and last event time.",
    )  # fmt: skip
    p.add_argument("file", type=_existing_path, metavar="FILE", help="the recording")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    _global_options(common, suppress=True)
    parser = argparse.ArgumentParser(
        prog="cryptoscan",
        description="Real-time momentum scanner for every USDT pair on Binance spot and USD-M futures.",
        epilog="More commands (backtest) arrive with the layers they need.",
    )
    _global_options(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_sim(sub, common)
    _add_demo(sub, common)
    _add_scan(sub, common)
    _add_serve(sub, common)
    _add_dashboard(sub, common)
    _add_export(sub, common)
    _add_record(sub, common)
    _add_replay(sub, common)
    add_history_commands(sub, common)
    sub.add_parser("version", parents=[common], help="print the version", description="Print the version.")
    return parser


async def _until_signal(work: Coroutine[Any, Any, None]) -> None:
    """Run ``work`` until it ends or SIGINT/SIGTERM arrives; a signal cancels it cleanly."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    task = asyncio.ensure_future(work)
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
        stopper.cancel()
        if not task.done():
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _run_sim(args: argparse.Namespace) -> None:
    from cryptoscan.sim.options import SimOptions
    from cryptoscan.sim.server import serve

    options = SimOptions(
        host=args.host,
        port=args.port,
        seed=args.seed,
        speed=args.speed,
        start_ms=args.start_ms,
        n_spot=args.spot_pairs,
        n_futures=args.futures_pairs,
        truth=args.truth,
        replay=args.replay,
        replay_speed=args.replay_speed,
        streams_per_connection=args.streams_per_connection,
        connection_attempts_per_5m=args.connection_attempts_per_5m,
        lifetime_ms=round(args.lifetime_s * 1000),
        spot_weight_per_minute=args.spot_weight,
        futures_weight_per_minute=args.futures_weight,
        tick_ms=args.tick_ms,
        snapshot_min_real_ms=args.snapshot_min_real_ms,
        faults=list(args.fault),
        fault_seed=args.fault_seed,
    )

    def ready(url: str) -> None:
        print(f"cryptoscan sim listening on {url}", flush=True)

    asyncio.run(_until_signal(serve(options, ready=ready)))


def _with_top(settings: Settings, top: int | None) -> Settings:
    """``--top`` over ``scanner.top`` (scan and demo)."""
    if top is None:
        return settings
    return settings.model_copy(update={"scanner": settings.scanner.model_copy(update={"top": top})})


def _run_demo(args: argparse.Namespace, settings: Settings) -> None:
    from cryptoscan.demo import run_demo
    from cryptoscan.feed.rest import RestFailure
    from cryptoscan.sim.options import SimOptions

    options = SimOptions(n_spot=args.spot_pairs, n_futures=args.futures_pairs)
    settings = _with_top(settings, args.top)
    web = dashboard_options(args, settings.dashboard, top=settings.scanner.top, standalone=False, fallback_port=True)
    try:
        asyncio.run(
            run_demo(
                settings, speed=args.speed, seed=args.seed, duration=args.duration, history_bars=args.history,
                sim_options=options, dashboard=web,
            )
        )  # fmt: skip
    except RestFailure as exc:
        raise CommandError(str(exc)) from None


def _run_scan(args: argparse.Namespace, settings: Settings) -> None:
    import msgspec
    from rich.console import Console

    from cryptoscan.feed.rest import RestFailure
    from cryptoscan.scan import run_scan
    from cryptoscan.terminal import level_table

    settings = _with_top(settings, args.top)
    try:
        snap = asyncio.run(run_scan(settings, exchange_url=args.exchange_url, duration=args.duration, once=args.once))
    except RestFailure as exc:
        raise CommandError(str(exc)) from None
    if not args.once:
        return
    if snap is None:
        raise CommandError("stopped before the first scan")
    if args.json:
        print(msgspec.json.encode(snap).decode(), flush=True)
        return
    console = Console()
    for level, rows in snap.levels.items():
        if rows:
            console.print(level_table(level, rows, snap.counts[level]))


def _run_serve(args: argparse.Namespace, settings: Settings) -> None:
    from cryptoscan.feed.rest import RestFailure
    from cryptoscan.serve import run_serve

    web = dashboard_options(args, settings.dashboard, top=settings.scanner.top, standalone=False)
    try:
        asyncio.run(run_serve(settings, exchange_url=args.exchange_url, duration=args.duration, dashboard=web,
                              announce=lambda url: print(f"dashboard: {url}", flush=True)))  # fmt: skip
    except RestFailure as exc:
        raise CommandError(str(exc)) from None


def _run_dashboard(args: argparse.Namespace, settings: Settings) -> None:
    from cryptoscan.feed.rest import RestFailure
    from cryptoscan.scan import run_scan

    web = dashboard_options(args, settings.dashboard, top=settings.scanner.top, standalone=True)

    def announce(url: str) -> None:
        print(f"cryptoscan dashboard on {url}", flush=True)

    try:
        asyncio.run(run_scan(settings, exchange_url=args.exchange_url, duration=args.duration, dashboard=web,
                             terminal=False, announce=announce))  # fmt: skip
    except RestFailure as exc:
        raise CommandError(str(exc)) from None


def _run_export(args: argparse.Namespace, settings: Settings) -> None:
    from cryptoscan.clock import LiveClock
    from cryptoscan.sinks.store.export import ExportError, run_export

    try:
        result = run_export(args, default_store=settings.store.url.get_secret_value(), now_ms=LiveClock().now_ms(),
                            pg_schema=settings.store.pg_schema)  # fmt: skip
    except ExportError as exc:
        raise CommandError(str(exc)) from None
    print(f"cryptoscan export: {result.rows} rows to {result.path}", flush=True)


def _run_record(args: argparse.Namespace, settings: Settings) -> None:
    from cryptoscan.feed.recorder import record
    from cryptoscan.venues.binance.spec import FUTURES_WS, SPOT_WS, Venue

    venue = Venue(args.venue)
    url = args.exchange_url or settings.exchange.url or (SPOT_WS if venue is Venue.SPOT else FUTURES_WS)

    async def work() -> None:
        await record(url, venue, args.streams, args.out, duration_s=args.seconds)

    try:
        asyncio.run(_until_signal(work()))
    except ValueError as exc:  # an unknown stream name
        raise CommandError(str(exc)) from None
    print(f"cryptoscan record: wrote {args.out}", flush=True)


def _run_replay(args: argparse.Namespace) -> None:
    import msgspec

    from cryptoscan.recording_replay import replay_lines, replay_recording

    try:
        summary = replay_recording(args.file)
    except ValueError as exc:  # a line that is not a replay line
        raise CommandError(str(exc)) from None
    if args.json:
        print(msgspec.json.encode(summary).decode())
        return
    for line in replay_lines(summary):
        print(line)


def _settings(args: argparse.Namespace) -> Settings:
    settings = load_config(args.config)
    level = args.log_level or settings.logging.level
    configure_logging(level, json=args.log_json or settings.logging.json_output)
    return settings


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2), already printed by argparse
        return exc.code if isinstance(exc.code, int) else 2
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    if args.command == "scan" and args.json and not args.once:
        print("cryptoscan scan: --json needs --once (the live view is for a terminal)", file=sys.stderr)
        return 2
    if args.command == "version":
        print(f"cryptoscan {__version__}")
        return 0
    try:
        settings = _settings(args)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    try:
        if args.command == "sim":
            _run_sim(args)
        elif args.command == "demo":
            _run_demo(args, settings)
        elif args.command == "scan":
            _run_scan(args, settings)
        elif args.command == "serve":
            _run_serve(args, settings)
        elif args.command == "dashboard":
            _run_dashboard(args, settings)
        elif args.command == "export":
            _run_export(args, settings)
        elif args.command == "record":
            _run_record(args, settings)
        elif args.command == "replay":
            _run_replay(args)
        elif args.command in HISTORY_COMMANDS:
            run_history_command(args, settings)
    except KeyboardInterrupt:  # a signal before the loop's handlers were in place
        return 0
    except ConfigError as exc:  # found while building a layer (e.g. an alert URL apprise rejects)
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    except (OSError, CommandError, HistoryCommandError) as exc:
        print(f"cryptoscan {args.command}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
