"""The SDK's company lookup and guarantee calls against the real app (ASGI, both databases)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

import marketbox_sdk as mb
from marketbox.merchants.service import DEMO_TOKEN
from tests.conftest import TEST_PUBLIC_URL, body, read
from tests.support.builders import basket_item, order_payload

ORDERS = "/v3/billing/api/order/order"
PAYER = mb.Customer(type="legal", name="Кедровый причал", vat_number="0001047185")
THRIFTY = mb.Customer(type="legal", name="Лавка у пруда", vat_number="0004088341")


@pytest.fixture
async def sdk(app: Any) -> AsyncIterator[mb.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with mb.AsyncClient(DEMO_TOKEN, base_url=TEST_PUBLIC_URL, transport=transport) as c:
        yield c


async def create(api: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    response = await api.post(ORDERS, content=body(order_payload(**overrides)))
    assert response.status_code == 200, response.text
    return read(response)["data"]  # type: ignore[no-any-return]


async def test_lookup_company(sdk: mb.AsyncClient) -> None:
    found = await sdk.lookup_company("0001047185")
    unknown = await sdk.lookup_company("0008001535")

    assert found.total_count == 2
    assert [c.tax_registration_reason_code for c in found] == ["000101001", "000243001"]
    assert found.items[0].registration_date is not None
    assert unknown.items == []
    with pytest.raises(mb.ValidationError) as caught:
        await sdk.lookup_company("0001047186")
    assert [f.name for f in caught.value.fields] == ["vatNumber"]


async def test_the_guarantee_flow(sdk: mb.AsyncClient, api: httpx.AsyncClient) -> None:
    order = await create(api)

    check = await sdk.validate_payment_method(
        order["id"], payment_method_id="39363265", customer=PAYER
    )
    sent = await sdk.send_payment_code(order["id"], payment_method_id="39363265", customer=PAYER)
    assert sent.public_code is not None
    wrong = await sdk.pay_with_code(
        order["id"],
        payment_method_id="39363265",
        customer=PAYER,
        public_code=sent.public_code,
        code="123456",
        language_id="en",
    )
    paid = await sdk.pay_with_code(
        order["id"],
        payment_method_id="39363265",
        customer=PAYER,
        public_code=sent.public_code,
        code="000000",
    )

    assert check.available
    assert sent.sent and sent.left_attempt == 2
    assert wrong.result == "wrongCode" and not wrong.paid
    assert wrong.title == "Wrong code"
    assert paid.result == "success" and paid.paid
    assert (await sdk.get_order(order["id"])).status == "completed"
    with pytest.raises(mb.WrongOrderStatus):
        await sdk.send_payment_code(order["id"], payment_method_id="39363265", customer=PAYER)


async def test_not_enough_money(sdk: mb.AsyncClient, api: httpx.AsyncClient) -> None:
    order = await create(api, items=[basket_item(amount=Decimal("1500.00"))])

    check = await sdk.validate_payment_method(
        order["id"], payment_method_id="39363266", customer=THRIFTY
    )

    assert check.result == "notEnoughMoney"
    assert check.result_note
