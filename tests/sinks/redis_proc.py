"""A throwaway ``redis-server`` process on a free loopback port (see ``conftest.py`` for the fixtures)."""

from __future__ import annotations

import asyncio
import shutil
import signal
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path

import redis.asyncio as aioredis
from redis.exceptions import RedisError

REDIS_SERVER = shutil.which("redis-server")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class RedisProcess:
    def __init__(self, workdir: Path, durable: bool = False) -> None:
        self.port = _free_port()
        self.workdir = workdir
        self.durable = durable
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        assert REDIS_SERVER is not None
        persistence = ["--appendonly", "yes", "--appendfsync", "always"] if self.durable else ["--appendonly", "no"]
        self.proc = await asyncio.create_subprocess_exec(
            REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", *persistence,
            "--dir", str(self.workdir), "--daemonize", "no", "--loglevel", "warning",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        await self._ready()

    async def _ready(self, limit_s: float = 10.0) -> None:
        """Poll PING until the server answers (it also refuses with LOADING while reading its AOF)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit_s
        client = aioredis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.5)
        try:
            while True:
                try:
                    if await client.ping():
                        return
                except (RedisError, OSError):
                    pass
                assert self.proc is not None and self.proc.returncode is None, "redis-server exited at start"
                if loop.time() > deadline:
                    raise AssertionError(f"redis-server on port {self.port} not ready after {limit_s} s")
                await asyncio.sleep(0.01)
        finally:
            await client.aclose()

    async def kill(self) -> None:
        """SIGKILL: an outage without any goodbye."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()

    def freeze(self, frozen: bool = True) -> None:
        """SIGSTOP / SIGCONT: a server that accepts bytes and never answers (a hung host)."""
        assert self.proc is not None and self.proc.returncode is None
        self.proc.send_signal(signal.SIGSTOP if frozen else signal.SIGCONT)

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 5)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()

    def client(self) -> aioredis.Redis:
        return aioredis.Redis.from_url(self.url)


RedisFactory = Callable[..., Awaitable[RedisProcess]]
