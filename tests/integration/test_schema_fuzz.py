"""Schema fuzzing: schemathesis generates requests from our own /openapi.json.

Every API operation gets valid and invalid requests (types, ranges, formats, NUL bytes,
huge numbers, odd Unicode), sent in-process over ASGI with real credentials: the demo shop's
merchant token, and a payment instrument's token whose confirmations are signed as a bank
signs them. No answer may be a 5xx, and every answer must match the documented status codes,
content type and schema. Hypothesis is derandomized and bounded by count, so each run sends
the same requests (about 2,100 per database), in a minute or two each.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from marketbox.merchants import service as merchants_service
from marketbox.merchants.service import DEMO_MERCHANT_ID
from marketbox.security import signing
from marketbox.storage.db import Database
from tests.conftest import DEMO_AUTH, TEST_PUBLIC_URL, body, read
from tests.support.builders import order_payload

ORDERS = "/v3/billing/api/order/order"
CONFIRM = "/v3/payment/api/invoice/confirm"
EXAMPLES_PER_OPERATION_AND_MODE = 70
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


class Sender:
    """Sends a generated case through the app on the test's event loop, from Hypothesis's
    worker thread, with the credentials its path needs.

    Valid-mode bodies are steered past the first checks so that generation reaches the
    deeper rules: the merchant is the demo shop, the invoice is a real one.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        loop: asyncio.AbstractEventLoop,
        instrument: merchants_service.Credentials,
        known: dict[str, str],
    ) -> None:
        self.client = client
        self.loop = loop
        self.instrument = instrument
        self.known = known
        self.sent = 0

    def steer(self, case: schemathesis.Case, document: dict[str, Any]) -> None:
        if "merchantId" in document:
            document["merchantId"] = DEMO_MERCHANT_ID
        if case.method == "POST" and case.path == ORDERS:
            # Past the currency, deadline and amount rules, to the storage of every field.
            tomorrow = datetime.now(UTC) + timedelta(days=1)
            document.update(
                merchantOrderId=f"fuzz-{self.sent}",
                currencyId="RUB",
                expirationDate=tomorrow.isoformat(),
                orderSetting={"disableValidate": True},
            )
        if "/payment-method-action" in case.path and isinstance(document.get("customer"), dict):
            # A sandbox instrument and payer, so the actions reach their codes and counters.
            document["paymentMethodId"] = "39363265"
            document["customer"]["vatNumber"] = "0001047185"
        if case.path == CONFIRM:
            document.update(
                invoiceId=self.known["invoice_id"], amount=self.known["amount"], currencyId="RUB"
            )

    def send(self, case: schemathesis.Case, mode: GenerationMode) -> httpx.Response:
        kwargs = case.as_transport_kwargs(base_url=TEST_PUBLIC_URL)
        headers = {k: str(v) for k, v in (kwargs.get("headers") or {}).items()}
        content: bytes | None = None
        if "json" in kwargs:
            document = kwargs["json"]
            if mode is GenerationMode.POSITIVE and isinstance(document, dict):
                self.steer(case, document)
            content = json.dumps(document).encode()
            headers["Content-Type"] = "application/json"
        elif kwargs.get("data") is not None:
            data = kwargs["data"]
            content = data if isinstance(data, bytes) else str(data).encode()
        if mode is GenerationMode.POSITIVE and "Idempotency-Key" in headers:
            # Generated keys repeat ("0", "a"): unique ones keep the call from being answered
            # as a reuse (422) instead of reaching the route. Invalid keys stay as generated.
            unique = f"{headers['Idempotency-Key']}-{self.sent}"
            headers["Idempotency-Key"] = unique[-255:]
        if case.path.startswith("/v3/payment/"):
            headers["Authorization"] = f"Bearer {self.instrument.token}"
            if content is not None:
                key = self.instrument.signing_key
                headers["X-Signature"] = signing.sign(content, key, signing.DEFAULT_ALGORITHM)
        else:
            headers.update(DEMO_AUTH)
        request = self.client.request(
            kwargs["method"],
            kwargs["url"],
            headers=headers,
            params=kwargs.get("params"),
            content=content,
        )
        self.sent += 1
        return asyncio.run_coroutine_threadsafe(request, self.loop).result(timeout=60)


def fuzz_operation(
    operation: Any, mode: GenerationMode, sender: Sender, failures: list[str]
) -> None:
    # Valid requests address the objects that exist; invalid ones get generated ids too.
    names = {p.name for p in operation.path_parameters}
    fixed = {k: v for k, v in sender.known.items() if k in names}
    if operation.path.endswith("/status"):  # only a non-processable order takes a status
        fixed["order_id"] = sender.known["manual_order_id"]
    strategy = operation.as_strategy(
        generation_mode=mode,
        path_parameters=fixed if mode is GenerationMode.POSITIVE and fixed else None,
    )

    @settings(
        max_examples=EXAMPLES_PER_OPERATION_AND_MODE,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: the run stays bounded
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: schemathesis.Case) -> None:
        # Collected, not raised: the run goes on and one report names every failure.
        try:
            case.validate_response(sender.send(case, mode), checks=CHECKS)
        except Exception as exc:  # an app exception (the 500) or a failed check
            failures.append(f"{case.method} {case.formatted_path} ({mode.value}): {exc!r}")

    run()


async def test_no_generated_request_gets_a_5xx_or_breaks_the_schema(
    client: httpx.AsyncClient, api: httpx.AsyncClient, db: Database
) -> None:
    spec = (await client.get("/openapi.json")).json()
    schema = schemathesis.openapi.from_dict(spec)
    async with db.transaction() as conn:
        instrument = await merchants_service.create_instrument(conn, name="Fuzz bank")
    # Objects for valid requests to address: orders (so an invoice) and a shop.
    created = await api.post(ORDERS, content=body(order_payload()))
    manual = await api.post(
        ORDERS, content=body(order_payload(merchant_order_id="MANUAL", processable=False))
    )
    shop = await api.post("/v3/marketplace/api/shop", content=body({"title": "Кофейня"}))
    for response in (created, manual, shop):
        assert response.status_code == 200, response.text
    order = read(created)["data"]
    known = {
        "order_id": order["id"],
        "manual_order_id": read(manual)["data"]["id"],
        "invoice_id": order["orderContainerId"],
        "amount": str(order["amount"]),
        "shop_id": str(read(shop)["data"]["id"]),
    }

    sender = Sender(client, asyncio.get_running_loop(), instrument, known)
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15
    # Paying and canceling come last, so that the operations before find an open invoice.
    operations.sort(key=lambda op: (op.method.upper() == "DELETE", op.path == CONFIRM))

    def fuzz_all() -> None:
        for operation in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                fuzz_operation(operation, mode, sender, failures)

    await asyncio.to_thread(fuzz_all)

    assert not failures, "\n\n".join(failures[:20])
    assert sender.sent >= 2000
