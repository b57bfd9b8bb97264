"""Static files over HTTP, and compressed HTML (docs/architecture.md, "Static files").

ASSETS          every directory served as static files, under its URL prefix
StaticAssets    the ASGI app mounted at each prefix (app.py): a hashed URL is cached for a year
                (`immutable`), a plain URL briefly and revalidated by ETag; br or gzip by the
                request's Accept-Encoding, compressed once per file (toolkit/assets.py)
router          /favicon.ico, for browsers and tools that ask for it without reading the page
CompressionMiddleware   brotli or gzip for HTML answers (pages are mostly markup)
send_uncompressed       for a page that shows a secret: the middleware leaves it as it is
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import jinja2
from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from marketbox.toolkit.assets import ENCODINGS, AssetRegistry, Found, compress, register_static_url

_SRC = Path(__file__).resolve().parents[1]
# (URL prefix, directory, rewrite the plain URLs our scripts name into hashed ones)
ASSETS = AssetRegistry(
    [
        ("/static/miniapp", _SRC / "miniapp_host" / "static", True),
        ("/static", _SRC / "web" / "static", True),
        ("/marketplace/static", _SRC / "marketplace" / "static", True),
        ("/playground/static", _SRC / "playground" / "static", True),
        # Swagger UI's files (web/reference.py), from the fastapi-offline package.
        ("/docs/assets", Path(str(resources.files("fastapi_offline").joinpath("static"))), False),
    ]
)

IMMUTABLE = "public, max-age=31536000, immutable"
# A plain URL (a third party's <script src>, an old link): kept ten minutes, then revalidated.
SHORT = "public, max-age=600"
FAVICON = "public, max-age=86400"

router = APIRouter(include_in_schema=False)


def register(env: jinja2.Environment) -> None:
    """Give a template environment `static_url("marketbox.css")`."""
    register_static_url(env, ASSETS)


def preferred_encoding(accept_encoding: str) -> str | None:
    """The encoding to answer in: "br" or "gzip" if the client takes it (q > 0), brotli
    first; None for none (identity)."""
    accepted: dict[str, float] = {}
    for part in accept_encoding.lower().split(","):
        name, _, params = part.strip().partition(";")
        quality = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                quality = 0.0
        accepted[name.strip()] = quality
    for encoding in ENCODINGS:
        if accepted.get(encoding, accepted.get("*", 0.0)) > 0:
            return encoding
    return None


def asset_response(found: Found, request_headers: Headers, *, cache_control: str) -> Response:
    asset = found.asset
    headers = {"Cache-Control": cache_control, "ETag": f'"{asset.digest}"'}
    body = asset.body
    if asset.compressible:
        headers["Vary"] = "Accept-Encoding"
        encoding = preferred_encoding(request_headers.get("accept-encoding", ""))
        if encoding is not None:
            body = asset.encoded(encoding)
            headers["Content-Encoding"] = encoding
            headers["ETag"] = f'"{asset.digest}-{encoding}"'
    if _matches(request_headers.get("if-none-match", ""), asset.digest):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=asset.media_type, headers=headers)


def _matches(if_none_match: str, digest: str) -> bool:
    """Weak comparison (RFC 9110 §13.1.2): any representation of this content matches."""
    for tag in if_none_match.split(","):
        tag = tag.strip().removeprefix("W/").strip('"')
        if tag == "*" or tag.partition("-")[0] == digest:
            return True
    return False


class StaticAssets:
    """The files under one prefix of ASSETS (app.py mounts one per prefix)."""

    def __init__(self, prefix: str, registry: AssetRegistry = ASSETS) -> None:
        self.prefix = prefix
        self.registry = registry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope)
        # Below a Mount, `root_path` ends with the mount's prefix and `path` is the full path.
        path, root_path = scope["path"], scope.get("root_path", "")
        below = path[len(root_path) :] if root_path and path.startswith(root_path) else path
        found = (
            self.registry.find(self.prefix + below) if request.method in ("GET", "HEAD") else None
        )
        if found is None:
            response = Response("Not Found", status_code=404, media_type="text/plain")
        else:
            encoding = preferred_encoding(request.headers.get("accept-encoding", ""))
            if found.asset.compressible and encoding and not found.asset.is_encoded(encoding):
                # The first request for this file in this encoding compresses it (up to a few
                # hundred ms for Swagger UI's bundle): off the event loop.
                await run_in_threadpool(found.asset.encoded, encoding)
            cache = IMMUTABLE if found.hashed else SHORT
            response = asset_response(found, request.headers, cache_control=cache)
        await response(scope, receive, send)


@router.get("/favicon.ico")
async def favicon(request: Request) -> Response:
    found = ASSETS.find("/static/favicon.ico")
    assert found is not None, "web/static/favicon.ico ships with the package"
    return asset_response(Found(found.asset, hashed=False), request.headers, cache_control=FAVICON)


# The request state's flag (Request.state lives in scope["state"]) that send_uncompressed sets.
_UNCOMPRESSED = "marketbox_uncompressed"


def send_uncompressed(request: Request) -> None:
    """Send this request's page as it is. For a page that shows a secret a person has to read
    (a launch secret, a new API token): compressed, a page that also echoes text from its URL
    (the language switch and paging links carry the query along) would tell the secret through
    its size, a guessed character at a time (BREACH). Form tokens need not: they are masked per
    render (toolkit/form_tokens.py)."""
    setattr(request.state, _UNCOMPRESSED, True)


class CompressionMiddleware:
    """Brotli (or gzip) for HTML answers the client accepts compressed; `Vary: Accept-Encoding`.

    Pages are rendered whole, so the body is collected and compressed in one go (brotli at a
    quick quality: a page costs well under a millisecond). Other answers pass untouched: the API's
    JSON is small, static files come compressed already (StaticAssets), and a stream (the
    gate's events) must not wait for its end.
    """

    MINIMUM_SIZE = 512
    # Quality 3: a 32 KB results page in ~0.1 ms (quality 5: ~0.25 ms, 9 % of a marketplace
    # search's server CPU in the search-sqlite benchmark) for ~15 % more bytes (~600 B).
    BROTLI_QUALITY = 3

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = self.app
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        encoding = preferred_encoding(Headers(scope=scope).get("accept-encoding", ""))
        if encoding is None:
            await app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def compress_html(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                headers = Headers(raw=message.get("headers", []))
                if (
                    headers.get("content-type", "").startswith("text/html")
                    and "content-encoding" not in headers
                    and not scope.get("state", {}).get(_UNCOMPRESSED)
                ):
                    start = message
                    return
                await send(message)
                return
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            await self._send_compressed(start, b"".join(chunks), encoding, send)

        await app(scope, receive, compress_html)

    async def _send_compressed(
        self, start: Message, body: bytes, encoding: str, send: Send
    ) -> None:
        headers = MutableHeaders(raw=list(start.get("headers", [])))
        headers.add_vary_header("Accept-Encoding")
        if len(body) >= self.MINIMUM_SIZE:
            body = compress(body, encoding, quality=self.BROTLI_QUALITY)
            headers["Content-Encoding"] = encoding
            headers["Content-Length"] = str(len(body))
        await send({**start, "headers": headers.raw})
        await send({"type": "http.response.body", "body": body, "more_body": False})
