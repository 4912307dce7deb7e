"""Control API of the simulator, under ``/sim/``: watch it, break it, drive the futures account.

- ``GET /sim/status``: market time, speed, every connection (id, path, venue, streams, combined,
  state, messages sent), all counters, violation counts and the first violations in full.
- ``POST /sim/faults`` ``{"kind", "target": "all"|"random"|<conn id>, "count", "duration_ms"}``:
  inject a fault now. Kinds: drop, stall, malformed, duplicate, reorder, delay, shutdown (connection
  faults; ``target`` picks connections) and rest_429, rest_418, rest_5xx (the next ``count`` REST
  answers). Returns the connection ids hit and the market time it took effect (``at_ms``).
- ``POST /sim/burst`` ``{"venue", "symbol", "pct", "duration_ms"}``: a price burst in the generator.
- ``POST /sim/symbols/status`` ``{"venue", "symbol", "status"}``: e.g. BREAK or TRADING.
- ``POST /sim/account/orders`` ``{"symbol", "side", "quantity", "price"}``: a filled futures order,
  announced on every attached ``/private`` stream.
- ``POST /sim/account/margin_call``, ``POST /sim/account/expire_listen_keys``: the matching events.
- ``POST /sim/account/config`` ``{"symbol", "leverage"}``: ACCOUNT_CONFIG_UPDATE.

A bad body gets HTTP 400 ``{"error": "<what is wrong>"}``; success is HTTP 200 with JSON.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from cryptoscan.sim.context import SimContext
from cryptoscan.sim.faults import FaultInjector
from cryptoscan.sim.hub import Hub
from cryptoscan.venues.binance.spec import Venue

FIRST_VIOLATIONS = 50
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class BadBody(Exception):
    pass


async def _body(request: web.Request) -> dict[str, Any]:
    text = await request.text()
    if not text.strip():
        return {}
    try:
        body = json.loads(text)
    except ValueError as exc:
        raise BadBody(f"body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise BadBody("body must be a JSON object")
    return body


def _field(body: dict[str, Any], name: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
    if name not in body:
        if default is ...:
            raise BadBody(f"missing field {name!r}")
        return default
    value = body[name]
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise BadBody(f"field {name!r} has the wrong type")
    if not isinstance(value, kind):
        raise BadBody(f"field {name!r} has the wrong type")
    return value


def _venue(body: dict[str, Any]) -> Venue:
    text = _field(body, "venue", str)
    try:
        return Venue(text.lower())
    except ValueError:
        raise BadBody("venue must be 'spot' or 'futures'") from None


def _number(body: dict[str, Any], name: str) -> float:
    return float(_field(body, name, (int, float)))


def _guard(fn: Handler) -> Handler:
    """Turn a bad body or a rejected value into a 400 with a readable message."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await fn(request)
        except (BadBody, ValueError, KeyError) as exc:
            msg = str(exc) if not isinstance(exc, KeyError) else f"unknown {exc}"
            return web.json_response({"error": msg}, status=400)

    return wrapped


def add_routes(app: web.Application, ctx: SimContext, hub: Hub) -> None:
    """Register every ``/sim/`` endpoint."""

    async def status(request: web.Request) -> web.StreamResponse:
        conns = [
            {
                "id": c.id,
                "path": c.path,
                "venue": c.venue.value,
                "streams": c.session.subscriptions,
                "combined": c.session.combined,
                "state": c.session.state.value,
                "messages_sent": c.sent,
            }
            for c in hub.conns.values()
        ]
        return web.json_response(
            {
                "market_ms": ctx.clock.now_ms(),
                "speed": ctx.clock.speed,
                "mode": "replay" if ctx.options.replay is not None else "generator",
                "connections": conns,
                "counters": dict(ctx.stats.counters),
                "violations": ctx.stats.violation_counts(),
                "first_violations": [
                    {"kind": v.kind, "detail": v.detail, "market_ms": v.market_ms}
                    for v in ctx.stats.violations[:FIRST_VIOLATIONS]
                ],
                "rest_faults_pending": ctx.faults.rest_pending(),
            }
        )

    async def faults(request: web.Request) -> web.StreamResponse:
        body = await _body(request)
        order = FaultInjector.make_order(
            _field(body, "kind", str),
            _field(body, "target", str, "random"),
            _field(body, "count", int, 1),
            _field(body, "duration_ms", int, 0),
        )
        if order.kind.startswith("rest_"):
            ctx.faults.request(order)
            return web.json_response({"kind": order.kind, "armed": order.count})
        if order.target not in ("all", "random") and order.target not in hub.conns:
            raise BadBody(f"no connection {order.target!r}")
        now = ctx.clock.now_ms()
        hit = hub.apply_fault(order, now)
        return web.json_response({"kind": order.kind, "connections": hit, "at_ms": now})

    async def burst(request: web.Request) -> web.StreamResponse:
        body = await _body(request)
        venue, symbol = _venue(body), _field(body, "symbol", str).upper()
        pct, duration = _number(body, "pct"), int(_number(body, "duration_ms"))
        if duration <= 0:
            raise BadBody("duration_ms must be positive")
        ctx.market.inject_burst(venue, symbol, pct, duration, ctx.clock.now_ms())
        return web.json_response({"ok": True})

    async def symbol_status(request: web.Request) -> web.StreamResponse:
        body = await _body(request)
        venue, symbol = _venue(body), _field(body, "symbol", str).upper()
        ctx.market.set_status(venue, symbol, _field(body, "status", str).upper())
        return web.json_response({"ok": True})

    async def orders(request: web.Request) -> web.StreamResponse:
        body = await _body(request)
        result = ctx.account.place_order(
            _field(body, "symbol", str),
            _field(body, "side", str),
            _number(body, "quantity"),
            _number(body, "price"),
            ctx.clock.now_ms(),
        )
        return web.json_response(result)

    async def margin_call(request: web.Request) -> web.StreamResponse:
        ctx.account.margin_call(ctx.clock.now_ms())
        return web.json_response({"ok": True})

    async def expire(request: web.Request) -> web.StreamResponse:
        ctx.account.expire_now(ctx.clock.now_ms())
        return web.json_response({"ok": True})

    async def config(request: web.Request) -> web.StreamResponse:
        body = await _body(request)
        ctx.account.config_update(_field(body, "symbol", str), _field(body, "leverage", int), ctx.clock.now_ms())
        return web.json_response({"ok": True})

    r = app.router
    r.add_get("/sim/status", _guard(status))
    r.add_post("/sim/faults", _guard(faults))
    r.add_post("/sim/burst", _guard(burst))
    r.add_post("/sim/symbols/status", _guard(symbol_status))
    r.add_post("/sim/account/orders", _guard(orders))
    r.add_post("/sim/account/margin_call", _guard(margin_call))
    r.add_post("/sim/account/expire_listen_keys", _guard(expire))
    r.add_post("/sim/account/config", _guard(config))
