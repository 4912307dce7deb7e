"""The dashboard server: uvicorn inside the running asyncio loop, next to the feed and the scanner.

Why programmatic and in-loop: the dashboard reads the scanner's live objects, so it must run on their loop
(one loop per process, DESIGN.md). The listening socket is bound here first, so a taken port fails at
once with a clear error, and ``port=0`` gives a free port whose number is known before anything starts.
uvicorn's own signal handling is off: the command that runs the pipeline owns SIGINT and SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
from collections.abc import Iterator

import uvicorn

from cryptoscan.log import get_logger
from cryptoscan.web.asgi import create_app
from cryptoscan.web.i18n import strings
from cryptoscan.web.options import DashboardConfigError, DashboardOptions, check_bind
from cryptoscan.web.service import DashboardService
from cryptoscan.web.source import Source

log = get_logger(__name__)


class _InLoopServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the command owns SIGINT/SIGTERM


def bind(host: str, port: int) -> socket.socket:
    """A listening-ready TCP socket on ``host:port``; OSError (phrased with the address) when it cannot bind."""
    try:
        family, kind, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise OSError(f"dashboard: cannot resolve host {host!r}: {exc.strerror}") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
    except OSError as exc:
        sock.close()
        err = OSError(f"dashboard: cannot listen on {host}:{port}: {exc.strerror}")  # one line, no [Errno]
        err.errno = exc.errno
        raise err from None
    return sock


class Dashboard:
    """The web UI over a :class:`Source`: ``await start()`` binds and serves, ``await stop()`` ends it."""

    def __init__(self, source: Source, options: DashboardOptions | None = None) -> None:
        self.options = o = options or DashboardOptions()
        check_bind(o.host, o.token)
        try:
            strings(o.lang)
        except ValueError as exc:
            raise DashboardConfigError(str(exc)) from None
        self.service = DashboardService(source, top=o.top, queue_size=o.queue_size, tick_s=o.tick_s)
        self.app = create_app(self.service, token=o.token, lang=o.lang)
        self.port: int | None = None
        self._sock: socket.socket | None = None
        self._server: _InLoopServer | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def url(self) -> str:
        """The base URL (``http://127.0.0.1:8000``); valid once started."""
        host = self.options.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        o = self.options
        try:
            self._sock = bind(o.host, o.port)
        except OSError as exc:
            if not (o.fallback_port and o.port and exc.errno == errno.EADDRINUSE):
                raise
            log.warning("dashboard port taken, using a free one", port=o.port)
            self._sock = bind(o.host, 0)
        self.port = int(self._sock.getsockname()[1])
        config = uvicorn.Config(
            self.app, log_config=None, access_log=False, lifespan="off", ws="websockets-sansio",
            ws_max_size=64 * 1024, timeout_graceful_shutdown=3, server_header=False,
        )  # fmt: skip
        config.load()
        server = self._server = _InLoopServer(config)
        server.lifespan = config.lifespan_class(config)
        await server.startup(sockets=[self._sock])
        self._tasks = [asyncio.create_task(server.main_loop(), name="dashboard server"),
                       asyncio.create_task(self.service.run(), name="dashboard ticks")]  # fmt: skip
        log.info("dashboard listening", url=self.url)

    async def stop(self) -> None:
        """Close every WebSocket (1012, server restart), stop accepting, end the tick task."""
        server, self._server = self._server, None
        if server is None:
            return
        server.should_exit = True
        ticks = self._tasks[1:]
        for task in ticks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        await server.shutdown(sockets=[self._sock] if self._sock is not None else None)
        self._sock = None

    async def __aenter__(self) -> Dashboard:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
