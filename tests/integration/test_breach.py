"""What a compressed page must not tell through its size (BREACH; docs/security.md): the
office's and the payment page's form tokens get a new mask on every render, so a page that
echoes text from the URL (a search query) never repeats a token's bytes, and every render's
value submits the form while a forged one does not; a page that shows a secret a person must
read (the launch secrets) is sent uncompressed."""

from __future__ import annotations

import re
from typing import Any

import httpx

from marketbox.merchants.service import DEMO_MERCHANT_ID
from marketbox.storage.db import Database
from marketbox.toolkit import form_tokens
from tests.conftest import body, read
from tests.integration.test_launch_secret import create_shop
from tests.support.builders import order_payload
from tests.support.office import PASSWORD, csrf_of, log_in, office_user

EMAIL = "tokens@shop.test"


async def test_an_office_page_masks_its_token_anew_on_every_render(
    client: httpx.AsyncClient, db: Database
) -> None:
    await office_user(db, DEMO_MERCHANT_ID, EMAIL)
    assert (await log_in(client, EMAIL)).status_code == 303
    # A search echoes the query next to the token: what an attacker would vary.
    pages = [(await client.get("/office/orders", params={"q": "csrf="})).text for _ in range(3)]
    shown = [csrf_of(page) for page in pages]

    assert len(set(shown)) == 3
    tokens = {form_tokens.unmask(value) for value in shown}
    assert len(tokens) == 1 and None not in tokens
    token = tokens.pop()
    assert token is not None and all(token not in page for page in pages)
    for value in shown:  # each render's form submits
        saved = await client.post("/office/settings/email", data={"csrf": value, "email": ""})
        assert saved.status_code == 303
    forged = form_tokens.mask("x" * len(token))
    refused = await client.post("/office/settings/email", data={"csrf": forged, "email": ""})
    assert refused.status_code == 403


def _hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, name
    return match.group(1)


async def _order(api: httpx.AsyncClient) -> dict[str, Any]:
    response = await api.post("/v3/billing/api/order/order", content=body(order_payload()))
    assert response.status_code == 200, response.text
    data: dict[str, Any] = read(response)["data"]
    return data


async def test_the_payment_page_masks_its_token_anew_on_every_render(
    api: httpx.AsyncClient,
) -> None:
    path = httpx.URL((await _order(api))["paymentUrl"]).path
    first = (await api.get(path)).text
    second = (await api.get(path)).text
    cookie = api.cookies.get("mb_pay_token")

    assert cookie is not None
    shown = [_hidden(first, "csrf_token"), _hidden(second, "csrf_token")]
    assert shown[0] != shown[1]
    assert [form_tokens.unmask(value) for value in shown] == [cookie, cookie]
    assert cookie not in first and cookie not in second
    forged = form_tokens.mask("x" * len(cookie))
    form = {
        "expected_amount": _hidden(second, "expected_amount"),
        "customer_type": "private",
        "name": "Иван",
        "email": "ivan@example.com",
        "phone": "+7 999 000 11 22",
        "card_number": "4242 4242 4242 4242",
        "card_expiry": "12/39",
        "card_cvc": "123",
    }
    refused = await api.post(f"{path}/pay", data={**form, "csrf_token": forged})
    # A token that does not match is taken for a used one: back to the invoice, nothing tried.
    assert refused.status_code == 303 and refused.headers["location"].endswith(path)
    paid = await api.post(f"{path}/pay", data={**form, "csrf_token": shown[0]})
    assert paid.status_code == 303, paid.text
    assert "/success" in paid.headers["location"] or "/confirming" in paid.headers["location"]


async def test_the_page_with_the_launch_secrets_is_sent_uncompressed(
    api: httpx.AsyncClient, db: Database
) -> None:
    shop = await create_shop(api)
    await office_user(db, DEMO_MERCHANT_ID, EMAIL)
    api.headers.pop("Authorization")
    assert (await log_in(api, EMAIL)).status_code == 303
    brotli = {"Accept-Encoding": "br"}

    # Its paging and language links carry the query along: an attacker's text would sit there.
    secrets_page = await api.get("/office/points-of-sale", params={"x": "guess"}, headers=brotli)
    other_page = await api.get("/office/orders", params={"q": "guess"}, headers=brotli)

    assert secrets_page.status_code == other_page.status_code == 200
    assert shop["launchSecret"] in secrets_page.text
    assert "content-encoding" not in secrets_page.headers
    assert other_page.headers["content-encoding"] == "br"  # the other pages still are


async def test_the_answer_with_new_credentials_is_sent_uncompressed(
    client: httpx.AsyncClient, db: Database
) -> None:
    await office_user(db, DEMO_MERCHANT_ID, EMAIL)
    assert (await log_in(client, EMAIL)).status_code == 303
    csrf = csrf_of((await client.get("/office/settings")).text)
    form = {"csrf": csrf, "credential": "token", "overlap": "0", "password": PASSWORD}

    rotated = await client.post(
        "/office/settings/rotate", data=form, headers={"Accept-Encoding": "br"}
    )

    assert rotated.status_code == 200
    assert 'data-new-secret="token"' in rotated.text
    assert "content-encoding" not in rotated.headers
