"""Test helpers for the merchant office: an office user, a logged-in HTTP client."""

from __future__ import annotations

import re

import httpx

from marketbox.office import service as office_service
from marketbox.storage.db import Database

PASSWORD = "correct horse battery"
_CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = _CSRF_RE.search(html)
    assert found, "the page has no CSRF field"
    return found.group(1)


async def office_user(db: Database, merchant_id: str, email: str) -> office_service.OfficeUser:
    async with db.transaction() as conn:
        return await office_service.create_user(
            conn, email=email, merchant_id=merchant_id, password=PASSWORD
        )


async def log_in(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    page = await client.get("/office/login")
    return await client.post(
        "/office/login",
        data={"csrf": csrf_of(page.text), "email": email, "password": password},
    )
