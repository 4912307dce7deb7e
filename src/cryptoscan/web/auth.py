"""The dashboard's token: where it is required, and the ASGI gate that checks it on every request.

Why: the dashboard shows what the scanner sees and is meant for the machine it runs on. Bound to loopback it
may run without a token; bound anywhere else it refuses to start without one. With a token set, every
page, API call and WebSocket must carry it, as ``?token=`` or ``Authorization: Bearer``; anything else gets
401 (a WebSocket is refused with a 401 response, before the handshake). Static files (CSS, JS, plotly.js)
hold no data and are served without it, so pages can load them with plain ``<script src>`` tags.
"""

from __future__ import annotations

import hmac
from urllib.parse import parse_qs

import msgspec
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cryptoscan.web.options import DashboardConfigError, check_bind, is_loopback

__all__ = ["CHALLENGE", "DashboardConfigError", "TokenGate", "check_bind", "is_loopback", "presented"]

OPEN_PREFIXES = ("/static/",)
CHALLENGE = "missing or wrong token: pass ?token=... or the header Authorization: Bearer ..."


def presented(scope: Scope) -> str | None:
    """The token a request carries: the ``token`` query parameter, else an ``Authorization: Bearer`` header."""
    raw: bytes = scope.get("query_string", b"")
    query = parse_qs(raw.decode("latin-1"))
    if "token" in query:
        return query["token"][-1]
    headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
    for name, value in headers:
        if name == b"authorization":
            scheme, _, credential = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer":
                return credential.strip()
    return None


class TokenGate:
    """ASGI middleware: 401 for HTTP and WebSocket requests without the token (when one is set)."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self._token = token.encode() if token else None

    def allowed(self, scope: Scope) -> bool:
        if self._token is None or scope["path"].startswith(OPEN_PREFIXES):
            return True
        given = presented(scope)
        return given is not None and hmac.compare_digest(given.encode(), self._token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or self.allowed(scope):
            await self.app(scope, receive, send)
            return
        body = msgspec.json.encode({"detail": CHALLENGE})
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                   (b"www-authenticate", b"Bearer")]  # fmt: skip
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 401, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        if "websocket.http.response" in scope.get("extensions", {}):
            start: Message = {"type": "websocket.http.response.start", "status": 401, "headers": headers}
            await send(start)
            await send({"type": "websocket.http.response.body", "body": body})
        else:  # a server without the denial-response extension: refuse the handshake
            await send({"type": "websocket.close", "code": 1008})
