"""The mini-app playground (docs/miniapps.md "The playground"): a real pending sandbox invoice
for suborder mode, the verdict of a run (rules.py), and saved runs anyone with the link can
read."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy.ext.asyncio import AsyncConnection

from marketbox import clock, ids
from marketbox.config import Settings
from marketbox.marketplace import addons
from marketbox.marketplace import service as marketplace_service
from marketbox.merchants.service import DEMO_MERCHANT_ID, get_merchant
from marketbox.miniapp_host import launch
from marketbox.orders import service as orders_service
from marketbox.orders.schemas import CreateOrderRequest
from marketbox.playground import repository, rules
from marketbox.playground.errors import BadRun

MAX_LOG_ENTRIES = 2000
INVOICE_AMOUNT = Decimal("1000.00")
INVOICE_HOURS = 24
PROBE_TIMEOUT_SECONDS = 5.0


async def open_container(
    conn: AsyncConnection, *, settings: Settings, meta_data: Any, locale: str
) -> str:
    """A pending invoice of the demo merchant carrying `meta_data`; its container id.

    The mini-app's backend may add its suborder to it with the demo merchant's token (the
    invoice's own merchant) or as an approved add-on, exactly as on a real payment page.
    """
    merchant = await get_merchant(conn, DEMO_MERCHANT_ID)
    if merchant is None:
        raise RuntimeError("the demo merchant is missing: run `marketbox migrate` in sandbox mode")
    now = clock.now()
    request = CreateOrderRequest.model_validate(
        {
            "merchantId": DEMO_MERCHANT_ID,
            "merchantOrderId": f"PLAYGROUND-{ids.new_id()}",
            "description": "Playground invoice" if locale == "en" else "Счёт из песочницы",
            "amount": INVOICE_AMOUNT,
            "vatAmount": Decimal(0),
            "currencyId": "RUB",
            "languageId": locale,
            "expirationDate": (now + timedelta(hours=INVOICE_HOURS)).isoformat(),
            "metaData": meta_data,
            "customer": {"type": "private", "name": "Anna Smirnova"},
            "basketItems": [
                {
                    "sku": "PLAYGROUND",
                    "name": "Playground order" if locale == "en" else "Заказ из песочницы",
                    "measure": "шт.",
                    "measureCode": "796",
                    "quantity": 1,
                    "amount": INVOICE_AMOUNT,
                    "amountWoVat": INVOICE_AMOUNT,
                    "totalAmount": INVOICE_AMOUNT,
                    "totalVatAmount": Decimal(0),
                    "vatCode": "VATNONE",
                    "type": "service",
                    "paymentType": "full_prepayment",
                }
            ],
        }
    )
    order = await orders_service.create_order(
        conn, merchant=merchant, request=request, settings=settings
    )
    return str(order["orderContainerId"])


async def probe(
    url: str, *, our_origin: str, timeout: float = PROBE_TIMEOUT_SECONDS
) -> dict[str, Any]:
    """Fetch the mini-app URL once, as the browser will: does it answer, and may we frame it?

    The verdict uses it to say why a mini-app never sent init (rules.py, the init rule):
    ``{"ok", "status", "error", "frameBlock"}``. Sandbox only (the playground is): production
    never fetches a URL a visitor typed.
    """
    try:
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=True) as client:
            response = await client.get(url, headers={"Accept": "text/html"})
    except httpx.HTTPError as exc:
        return {"ok": False, "status": None, "error": _error_text(exc), "frameBlock": None}
    block = frame_block(
        response.headers.get("x-frame-options"),
        response.headers.get("content-security-policy"),
        our_origin,
    )
    ok = response.status_code < 400 and block is None
    return {"ok": ok, "status": response.status_code, "error": None, "frameBlock": block}


def _error_text(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def frame_block(x_frame_options: str | None, csp: str | None, our_origin: str) -> str | None:
    """Why the browser will refuse to frame the page for `our_origin`, or None."""
    if x_frame_options and x_frame_options.strip().lower() in ("deny", "sameorigin"):
        return f"X-Frame-Options: {x_frame_options.strip()}"
    for directive in (csp or "").split(";"):
        parts = directive.split()
        if not parts or parts[0].lower() != "frame-ancestors":
            continue
        sources = parts[1:]
        host = urlsplit(our_origin).hostname or ""
        allowed = any(
            source == "*"
            or source.rstrip("/") == our_origin
            or (source.startswith("*.") and host.endswith(source[1:]))
            or source.lower() in (urlsplit(our_origin).scheme + ":",)
            for source in sources
        )
        if not allowed:
            return f"Content-Security-Policy: {directive.strip()}"
    return None


async def launch_keys_for(conn: AsyncConnection, shop_id: int) -> launch.LaunchKeys | None:
    """The point of sale's launch keys when `shop_id` is one of ours: the app then gets the same
    signed launch data as on the marketplace (docs/miniapps.md "Signed launch data")."""
    pos = await marketplace_service.public_point_of_sale(conn, shop_id)
    return pos.launch_keys if pos is not None else None


async def container_meta_data(conn: AsyncConnection, container_id: str) -> list[Any]:
    """What the payment page would hand a suborder mini-app for this invoice."""
    return await addons.container_meta_data(conn, container_id)


def parse_run(body: Any) -> tuple[rules.Context, list[Any]]:
    if not isinstance(body, Mapping):
        raise BadRun("body", "not an object")
    context = body.get("context")
    log = body.get("log")
    if not isinstance(context, Mapping):
        raise BadRun("context", "not an object")
    if not isinstance(log, list):
        raise BadRun("log", "not a list")
    if len(log) > MAX_LOG_ENTRIES:
        raise BadRun("log", f"more than {MAX_LOG_ENTRIES} entries")
    return rules.Context.from_json(context), log


def verdict_of(context: rules.Context, log: Sequence[Any], locale: str = "en") -> dict[str, Any]:
    return rules.evaluate(context, log).to_json(locale)


async def save_run(
    conn: AsyncConnection, *, context: rules.Context, log: list[Any]
) -> tuple[str, dict[str, Any]]:
    """Store a run with its verdict; (run id, the stored document)."""
    verdict = rules.evaluate(context, log)
    run_id = ids.new_id()
    created_at = clock.now()
    document = {
        "id": run_id,
        "createdAt": created_at.isoformat(),
        "context": context.to_json(),
        "verdict": verdict.to_json(),
        "log": log,
    }
    await repository.insert_run(
        conn,
        run_id=run_id,
        created_at=created_at,
        url=context.url,
        mode=context.mode,
        passed=verdict.passed,
        body=json.dumps(document, ensure_ascii=False),
    )
    return run_id, document


async def load_run(conn: AsyncConnection, run_id: str) -> dict[str, Any] | None:
    if not ids.is_uuid(run_id):
        return None
    row = await repository.get_run(conn, run_id.lower())
    if row is None:
        return None
    document: dict[str, Any] = json.loads(row.body)
    return document
