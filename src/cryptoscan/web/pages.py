"""The HTML pages (jinja2 templates) and the static files, plotly.js included, served from disk.

Pages are thin shells: the data arrives over the WebSocket right after load, so a page never shows a
second copy of the state that could disagree with the first push. plotly.js comes from the installed
``plotly`` package (``plotly/package_data/plotly.min.js``): these machines have no internet, and no CDN
is ever referenced.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from cryptoscan.web.auth import presented
from cryptoscan.web.i18n import strings
from cryptoscan.web.service import DashboardService
from cryptoscan.web.views import valid_pair

HERE = Path(__file__).parent
STATIC = HERE / "static"
PLOTLY_MISSING = "plotly.js not found in the installed plotly package (plotly/package_data/plotly.min.js)"


def plotly_js() -> Path | None:
    """plotly.min.js inside the installed plotly package, found without importing plotly."""
    spec = importlib.util.find_spec("plotly")
    for base in (spec.submodule_search_locations or []) if spec else []:
        path = Path(base) / "package_data" / "plotly.min.js"
        if path.is_file():
            return path
    return None


def script_json(value: Any) -> str:
    """JSON safe inside a ``<script>`` element: no ``</script>`` or ``<!--`` can close it early."""
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def static_files() -> StaticFiles:
    return StaticFiles(directory=STATIC)


def pages_router(service: DashboardService, lang: str) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    templates = Jinja2Templates(directory=HERE / "templates")
    for name in ("index.html", "pair.html", "missing.html"):
        templates.get_template(name)  # compiled now, not on a first request
    words = strings(lang, service.source.target_pct)
    plotly = plotly_js()

    def context(request: Request, **extra: Any) -> dict[str, Any]:
        token = presented(request.scope)
        qs = f"?token={quote(token)}" if token else ""
        client = {"lang": lang, "t": words, "token": token, "target": service.source.target_pct, **extra}
        return {"t": words, "lang": lang, "qs": qs, "client_json": script_json(client), **extra}

    @router.get("/", response_class=HTMLResponse)
    async def index(request: Request) -> Response:
        return templates.TemplateResponse(request, "index.html", context(request, page="table"))

    @router.get("/pairs/{venue}/{symbol}", response_class=HTMLResponse)
    async def pair(request: Request, venue: str, symbol: str) -> Response:
        symbol = symbol.upper()
        if not valid_pair(venue, symbol) or service.source.ring(venue, symbol) is None:
            return templates.TemplateResponse(request, "missing.html", context(request, page="missing", venue=venue,
                                              symbol=symbol), status_code=404)  # fmt: skip
        return templates.TemplateResponse(request, "pair.html", context(request, page="pair", venue=venue,
                                                                        symbol=symbol))  # fmt: skip

    @router.get("/static/vendor/plotly.min.js")
    async def plotly_min_js() -> Response:
        if plotly is None:
            return Response(PLOTLY_MISSING, status_code=404, media_type="text/plain")
        return FileResponse(plotly, media_type="text/javascript", headers={"Cache-Control": "max-age=86400"})

    return router
