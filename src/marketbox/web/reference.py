"""The API reference in the browser: `/docs` is Swagger UI over our /openapi.json.

Swagger UI's script and stylesheet come from the `fastapi-offline` package (a PyPI dependency
that ships them) and are served by us under `/docs/assets/` (`ASSETS_DIR`, under content-hashed
names: web/assets.py): the page loads nothing from another origin. Swagger UI is started by our
own `/static/api-reference.js`, so the page's Content-Security-Policy needs no inline script.
`/redoc` is not served (a 404).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

import jinja2
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import HTMLResponse

from marketbox.web import assets
from marketbox.web import headers as security
from marketbox.web.context import get_context

ASSETS_DIR = Path(str(resources.files("fastapi_offline").joinpath("static")))

router = APIRouter(include_in_schema=False)

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
    auto_reload=False,
)
assets.register(_env)


def page_policy(public_base: str) -> str:
    """Our scripts and styles only; Swagger UI's icons are `data:` images, and "Try it out"
    calls the documented server (`servers[0]`, the public URL) besides our own origin."""
    parts = urlsplit(public_base)
    return security.content_security_policy(
        image_sources=("data:",), connect_sources=(f"{parts.scheme}://{parts.netloc}",)
    )


@router.get("/docs")
async def api_reference(request: Request) -> HTMLResponse:
    settings = get_context(request).settings
    html = _env.get_template("api_reference.html").render(openapi_url=request.app.openapi_url)
    return HTMLResponse(html, headers=security.html_headers(page_policy(settings.public_base)))
