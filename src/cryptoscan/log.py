"""Logging: structlog for our code, the standard library for third parties, one renderer for both.

Why one pipeline: library loggers (websockets, aiohttp, httpx) log URLs, and a Binance listenKey or an
apprise token in a URL is a credential. Every record, ours or theirs, passes :func:`mask_secrets` before
it is rendered: for people on a console, or as one JSON object per line with ``--log-json``.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping
from typing import Any, TextIO

import structlog
from pydantic import SecretStr
from structlog.typing import EventDict, Processor, WrappedLogger

MASK = "***"

# Keys whose values are credentials, whatever they hold.
_SECRET_KEY = re.compile(r"key|secret|token|passw|pwd|auth|credential|signature|cookie", re.IGNORECASE)
# user:password@ in any URL.
_URL_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@]+@")
# ?token=... &listenKey=... &signature=... in query strings.
_QUERY_SECRET = re.compile(
    r"(?P<name>[?&;](?:[^=&\s]*(?:key|secret|token|passw|pwd|auth|signature)[^=&\s]*))=[^&\s#]+", re.IGNORECASE
)
# Other URLs (apprise: tgram://bottoken/chat, discord://id/token, slack://A/B/C, mailto://u:p@host ...)
# carry their tokens in the path: keep only the scheme. Web and database URLs keep host and path.
_PLAIN_SCHEMES = "https?|wss?|file|redis|rediss|unix|tcp|sqlite|postgres|postgresql"
_OPAQUE_URL = re.compile(
    rf"\b(?!(?:{_PLAIN_SCHEMES})://)(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]{{1,20}}://)[^\s'\"]+", re.IGNORECASE
)
# A long opaque path segment in a web URL (webhook tokens: hooks.slack.com/services/T../B../XXXX).
_LONG_SEGMENT = re.compile(r"(?<=/)[A-Za-z0-9_\-]{32,}(?=[/?#\s'\"]|$)")
_MAX_DEPTH = 4


def mask_text(text: str) -> str:
    """``text`` with credentials in any URLs it contains replaced by ``***``."""
    text = _URL_USERINFO.sub(rf"\g<scheme>{MASK}@", text)
    text = _QUERY_SECRET.sub(rf"\g<name>={MASK}", text)
    text = _OPAQUE_URL.sub(rf"\g<scheme>{MASK}", text)
    return _LONG_SEGMENT.sub(MASK, text) if "://" in text else text


def mask_value(key: str | None, value: Any, depth: int = 0) -> Any:
    """A loggable copy of ``value``: secret keys masked whole, URLs inside strings scrubbed."""
    if key is not None and _SECRET_KEY.search(key) and value is not None:
        return MASK
    if isinstance(value, SecretStr):
        return MASK
    if isinstance(value, str):
        return mask_text(value)
    if depth >= _MAX_DEPTH:
        return value
    if isinstance(value, Mapping):
        return {k: mask_value(str(k), v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [mask_value(None, v, depth + 1) for v in value]
    return value


def mask_secrets(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor: no key named like a secret and no token in a URL reaches the output."""
    for key, value in list(event_dict.items()):
        if key in ("_record", "_from_structlog"):  # stdlib bridge internals, never rendered
            continue
        event_dict[key] = mask_value(None if key == "event" else key, value)
    return event_dict


def configure_logging(level: str = "INFO", json: bool = False, stream: TextIO | None = None) -> None:
    """Set up structlog and the standard library once, at start. Safe to call again (tests)."""
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level: {level!r}")
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,  # tracebacks become text first, so they are masked too
        mask_secrets,
    ]
    renderer: Processor = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=stream is None and sys.stderr.isatty())
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    for noisy in ("websockets", "picows", "aiohttp.access", "httpx", "httpcore", "asyncio", "uvicorn.error"):
        logging.getLogger(noisy).setLevel(max(numeric, logging.WARNING))
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        cache_logger_on_first_use=False,
    )


def get_logger(name: str, **context: Any) -> structlog.stdlib.BoundLogger:
    """A logger for a module; bind per-connection context with ``.bind(conn=...)``."""
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(name, **context)
    return logger


__all__ = ["MASK", "configure_logging", "get_logger", "mask_secrets", "mask_text", "mask_value"]
