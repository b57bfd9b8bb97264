"""Every footer link of every page leads to a real page, in both languages."""

from __future__ import annotations

import re

import httpx
import pytest


@pytest.mark.parametrize("lang", ["ru", "en"])
async def test_footer_links_resolve_to_html_pages(client: httpx.AsyncClient, lang: str) -> None:
    home = await client.get(f"/?lang={lang}")
    links = re.findall(r"<footer.*?</footer>", home.text, re.S)[0]
    paths = re.findall(r'href="(/[^"]*)"', links)

    assert paths  # the footer has links
    for path in paths:
        response = await client.get(f"{path}?lang={lang}")
        assert response.status_code == 200, path
        assert response.headers["content-type"].startswith("text/html")
        assert f'<html lang="{lang}">' in response.text
