"""Static files: hashed names cached for a year, compressed by Accept-Encoding, plain names
revalidated by ETag, a favicon, and every page naming its assets by hashed URL."""

from __future__ import annotations

import gzip
import re
from pathlib import Path
from typing import Any

import brotli
import httpx
import pytest

from marketbox.storage.db import Database
from marketbox.toolkit.assets import strip_comments
from marketbox.web.assets import ASSETS
from tests.conftest import body, read
from tests.integration.test_security_headers import urls
from tests.support.builders import order_payload

SRC = Path(__file__).resolve().parents[2] / "src" / "marketbox"
ORDERS = "/v3/billing/api/order/order"
IMMUTABLE = "public, max-age=31536000, immutable"
HASHED = re.compile(r"\.[0-9a-f]{8}\.(css|js|svg|ico)$")
ASSET_TAG = re.compile(r'<(?:link|script)\b[^>]*?\b(?:href|src)="([^"]+)"')


def hashed(name: str) -> str:
    return ASSETS.url(name)


def served_css() -> bytes:
    """marketbox.css as served: the file without its comments (toolkit/assets.py)."""
    return strip_comments((SRC / "web" / "static" / "marketbox.css").read_bytes(), css=True)


async def test_a_hashed_url_is_cached_for_a_year_and_names_its_content(
    client: httpx.AsyncClient,
) -> None:
    url = hashed("marketbox.css")
    assert HASHED.search(url), url
    answer = await client.get(url, headers={"Accept-Encoding": "identity"})
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == IMMUTABLE
    assert answer.headers["content-type"] == "text/css; charset=utf-8"
    assert "content-encoding" not in answer.headers
    assert answer.content == served_css()


@pytest.mark.parametrize(
    ("accept", "encoding"),
    [("gzip, deflate, br", "br"), ("gzip, deflate", "gzip"), ("br;q=0, gzip", "gzip")],
)
async def test_static_files_come_compressed_as_the_client_accepts(
    client: httpx.AsyncClient, accept: str, encoding: str
) -> None:
    plain = served_css()
    async with client.stream(
        "GET", hashed("marketbox.css"), headers={"Accept-Encoding": accept}
    ) as answer:
        raw = b"".join([chunk async for chunk in answer.aiter_raw()])
    assert answer.headers["content-encoding"] == encoding
    assert answer.headers["vary"] == "Accept-Encoding"
    decoded = brotli.decompress(raw) if encoding == "br" else gzip.decompress(raw)
    assert decoded == plain
    assert len(raw) < len(plain) / 4


async def test_the_plain_url_keeps_working_briefly_cached_and_revalidated(
    client: httpx.AsyncClient,
) -> None:
    first = await client.get("/static/marketbox.css")
    assert first.status_code == 200
    assert first.headers["cache-control"] == "public, max-age=600"
    etag = first.headers["etag"]
    again = await client.get("/static/marketbox.css", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    other = await client.get("/static/marketbox.css", headers={"If-None-Match": '"0000000"'})
    assert other.status_code == 200


async def test_a_hashed_url_of_an_old_version_serves_the_current_file_briefly(
    client: httpx.AsyncClient,
) -> None:
    answer = await client.get("/static/marketbox.00000000.css")
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "public, max-age=600"
    missing = await client.get("/static/nothing.00000000.css")
    assert missing.status_code == 404


async def test_scripts_import_their_modules_by_hashed_url(client: httpx.AsyncClient) -> None:
    bridge = hashed("/static/miniapp/bridge.js")
    # pos-page.js imports the bridge statically; addons.js only on the buyer's first move
    # towards a card (a dynamic import(), kept off the payment page's first visit).
    for script, reference in (
        ("/marketplace/static/pos-page.js", f"from '{bridge}'"),
        ("addons.js", f"import('{bridge}')"),
    ):
        answer = await client.get(hashed(script))
        assert reference in answer.text
        assert "/static/miniapp/bridge.js'" not in answer.text
    module = await client.get(bridge)
    assert module.status_code == 200
    assert module.headers["content-type"] == "text/javascript; charset=utf-8"


async def test_third_parties_keep_their_plain_urls(client: httpx.AsyncClient) -> None:
    for url in ("/static/miniapp/minapp-client.js", "/static/miniapp/bridge.js"):
        answer = await client.get(url)
        assert answer.status_code == 200
        assert answer.headers["cache-control"] == "public, max-age=600"
        assert answer.headers["content-type"] == "text/javascript; charset=utf-8"


async def test_the_favicon(client: httpx.AsyncClient) -> None:
    ico = await client.get("/favicon.ico")
    assert ico.status_code == 200
    assert ico.headers["content-type"] == "image/x-icon"
    assert ico.content[:4] == b"\x00\x00\x01\x00"  # an ICO directory
    svg = await client.get(hashed("favicon.svg"))
    assert svg.headers["content-type"] == "image/svg+xml; charset=utf-8"
    assert svg.text.startswith("<svg")


async def test_html_pages_come_compressed(client: httpx.AsyncClient) -> None:
    async with client.stream("GET", "/help", headers={"Accept-Encoding": "br"}) as answer:
        raw = b"".join([chunk async for chunk in answer.aiter_raw()])
    assert answer.headers["content-encoding"] == "br"
    assert "Accept-Encoding" in answer.headers["vary"]
    assert int(answer.headers["content-length"]) == len(raw)
    assert b"<!doctype html>" in brotli.decompress(raw)
    plain = await client.get("/help", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    head = await client.head("/help", headers={"Accept-Encoding": "gzip"})
    assert head.headers["content-encoding"] == "gzip"
    assert head.content == b""


async def test_every_page_names_its_assets_by_hashed_urls_that_resolve(
    app: Any, api: httpx.AsyncClient, db: Database
) -> None:
    walk = await urls(api, db)
    seen: set[str] = set()
    pages = 0
    for examples in walk.values():
        for url in examples:
            answer = await api.get(url)
            if not answer.headers.get("content-type", "").startswith("text/html"):
                continue
            if "<head>" not in answer.text:
                continue  # a fragment (orders.html), not a page
            pages += 1
            assets = ASSET_TAG.findall(answer.text)
            assert any(a.endswith(".svg") for a in assets), f"{url}: no favicon"
            for asset in assets:
                assert HASHED.search(asset), f"{url} names {asset}"
                seen.add(asset)
    assert pages > 20
    for asset in sorted(seen):
        answer = await api.get(asset)
        assert answer.status_code == 200, asset
        assert answer.headers["cache-control"] == IMMUTABLE


async def test_the_payment_page_comes_compressed_with_its_own_headers(
    api: httpx.AsyncClient,
) -> None:
    order = read(await api.post(ORDERS, content=body(order_payload())))["data"]
    path = httpx.URL(order["paymentUrl"]).path
    async with api.stream("GET", path, headers={"Accept-Encoding": "br, gzip"}) as answer:
        raw = b"".join([chunk async for chunk in answer.aiter_raw()])
    assert answer.status_code == 200
    assert answer.headers["content-encoding"] == "br"
    assert answer.headers["cache-control"] == "no-store"
    assert "script-src 'self'" in answer.headers["content-security-policy"]
    html = brotli.decompress(raw).decode()
    assert 'name="csrf_token"' in html
    assert len(raw) < len(html.encode()) / 3
