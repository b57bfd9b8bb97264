"""Rows a phase needs before timing, written through marketbox's own services (untimed)."""

from __future__ import annotations

from typing import Any

from bench import payloads
from marketbox import jsonutil
from marketbox.config import Settings
from marketbox.merchants import service as merchants_service
from marketbox.orders import service as orders_service
from marketbox.orders.schemas import CreateOrderRequest
from marketbox.payments import sandbox
from marketbox.payments import service as payments_service
from marketbox.storage.db import Database

# Issues the seeded orders' paymentUrl (nothing here serves it).
SETTINGS = Settings(public_url="http://127.0.0.1:8000", mode="sandbox")
PAY_BATCH = 500  # containers paid per transaction


async def create_orders(
    db: Database, count: int, prefix: str, *, notification_url: str | None = None
) -> list[dict[str, Any]]:
    """`count` orders of the demo shop, as the API would create them; their responses."""
    created = []
    async with db.transaction() as conn:
        merchant = await merchants_service.get_merchant(conn, merchants_service.DEMO_MERCHANT_ID)
        assert merchant is not None, "the demo shop is seeded by databases.prepare_marketbox"
        for i in range(count):
            body = payloads.order(f"{prefix}-{i}", notification_url=notification_url)
            request = CreateOrderRequest.model_validate(jsonutil.loads(jsonutil.dumps(body)))
            created.append(
                await orders_service.create_order(
                    conn, merchant=merchant, request=request, settings=SETTINGS
                )
            )
    return created


async def create_instrument(db: Database, name: str) -> merchants_service.Credentials:
    async with db.transaction() as conn:
        return await merchants_service.create_instrument(conn, name=name)


async def pay_orders(db: Database, orders: list[dict[str, Any]], *, hold: bool = False) -> None:
    """Pay every order's invoice with a sandbox card, as the payment page records it: captured
    (`completed`), or with `hold` pre-authorised (`hold`, the test card 4000 0000 0000 0309)."""
    method = sandbox.METHOD_CARD_HOLD if hold else sandbox.METHOD_CARD
    for start in range(0, len(orders), PAY_BATCH):
        async with db.transaction() as conn:
            for order in orders[start : start + PAY_BATCH]:
                await payments_service.pay_container(
                    conn,
                    container_id=order["orderContainerId"],
                    method=method,
                    hold=hold,
                    card_last4="0309" if hold else "4242",
                )
