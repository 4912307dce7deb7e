"""The ASGI app: pages, WebSockets, the REST API with its OpenAPI description, static files, the token gate.

``/openapi.json`` describes the API; there is no ``/docs`` page, because FastAPI's loads its scripts from a
CDN and these machines have no internet.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from cryptoscan import __version__
from cryptoscan.web.api import api_router
from cryptoscan.web.auth import TokenGate
from cryptoscan.web.pages import pages_router, static_files
from cryptoscan.web.service import DashboardService
from cryptoscan.web.ws import ws_router


def _one_line(exc: RequestValidationError) -> str:
    """``query.limit: Input should be less than or equal to 100 (got '1000')``, one error per clause."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()))
        got = err.get("input")
        shown = f" (got {got!r})" if isinstance(got, str | int | float) else ""
        parts.append(f"{where}: {err.get('msg', 'invalid')}{shown}")
    return "; ".join(parts) or "invalid request"


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse({"detail": _one_line(exc)}, status_code=422)


def create_app(service: DashboardService, *, token: str | None = None, lang: str = "en") -> FastAPI:
    app = FastAPI(
        title="cryptoscan dashboard",
        version=__version__,
        description="The momentum scanner's live view: ranked opportunities, per-pair detail, feed status and "
        "alerts. With a token set, pass it as `?token=` or `Authorization: Bearer`.",
        docs_url=None,
        redoc_url=None,
    )
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.include_router(api_router(service))
    app.include_router(ws_router(service))
    app.include_router(pages_router(service, lang))
    app.mount("/static", static_files(), name="static")
    app.add_middleware(TokenGate, token=token)
    return app
