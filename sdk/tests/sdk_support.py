"""Helpers for the SDK tests: a recording httpx MockTransport and sample payloads.

(Not named conftest so that it cannot clash with the server tests' conftest module.)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

FIXTURES = Path(__file__).parent / "fixtures"

TOKEN = "b37c4c689295904ed21eee5d9a48d42e"
MERCHANT_ID = "ffffffff-ffff-ffff-ffff-ffffffffffff"
ORDER_ID = "0190f0a1-0000-7000-8000-000000000001"
CONTAINER_ID = "0190f0a1-0000-7000-8000-0000000000c1"
BASE_URL = "https://marketbox.test"


def order_json(**overrides: Any) -> dict[str, Any]:
    """An OrderResponse as the API sends it (amounts already Decimal-safe as text below)."""
    data: dict[str, Any] = {
        "id": ORDER_ID,
        "orderContainerId": CONTAINER_ID,
        "merchantId": MERCHANT_ID,
        "merchantOrderId": "AX-2024-0001",
        "description": "Aeroexpress ticket, round trip",
        "currencyId": "RUB",
        "amount": Decimal("2100.00"),
        "vatAmount": 0,
        "basketItems": [
            {
                "sku": "tariff-2",
                "name": "Aeroexpress round-trip ticket",
                "measure": "шт.",
                "measureCode": "796",
                "quantity": 2,
                "amount": Decimal("1050.00"),
                "amountWoVat": Decimal("1050.00"),
                "totalAmount": Decimal("2100.00"),
                "totalVatAmount": 0,
                "vatCode": "VATNONE",
                "type": "service",
                "paymentType": "full_prepayment",
                "serviceDate": "2024-07-30",
            }
        ],
        "status": "created",
        "subtype": "order",
        "processingStatus": "",
        "createdAt": "2024-07-25T09:00:00+00:00",
        "expirationDate": "2024-07-26T00:00:00+00:00",
        "fileIds": [],
        "paymentUrl": f"https://pay.example/order/{CONTAINER_ID}",
        "customer": {"type": "private", "name": "Ivan"},
        "languageId": "ru",
        "processable": True,
        "shopId": 333,
    }
    data.update(overrides)
    return data


def dump(payload: Any) -> bytes:
    """Serialize a test payload with exact Decimals (via the SDK encoder)."""
    from marketbox_sdk import _json

    return _json.dumps(payload).encode()


def envelope(data: Any, **extra: Any) -> bytes:
    return dump({"data": data, "extendedData": [], **extra})


class Recorder:
    """An httpx MockTransport handler that records requests and answers with `respond`."""

    def __init__(self, respond: Callable[[httpx.Request], httpx.Response]) -> None:
        self.respond = respond
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.respond(request)

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]

    def last_json(self) -> Any:
        return json.loads(self.last.content, parse_float=Decimal)


def reply(
    status: int = 200, body: bytes | None = None, headers: dict[str, str] | None = None
) -> Callable[[httpx.Request], httpx.Response]:
    def respond(request: httpx.Request) -> httpx.Response:
        all_headers = {"Content-Type": "application/json", "X-Request-Id": "req-1"}
        all_headers.update(headers or {})
        return httpx.Response(status, content=body or b"", headers=all_headers)

    return respond
