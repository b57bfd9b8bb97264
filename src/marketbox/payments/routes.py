"""Payment-instrument endpoints (spec/api.md §13.1, §13.2): Bearer token of an instrument;
the confirmation is also signed (`X-Signature` over the exact body bytes)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from marketbox.payments import instruments
from marketbox.payments.errors import SignatureError
from marketbox.payments.schemas import (
    CreateInvoicePaymentRequest,
    InvoicePaymentResponse,
    InvoiceResponse,
)
from marketbox.security import signing
from marketbox.web import envelope, filters
from marketbox.web.context import get_context, read_model
from marketbox.web.openapi import envelope_of, json_body, list_query

router = APIRouter(tags=["payment instruments"])

INVOICES = "/v3/payment/api/invoice"
SIGNATURE_HEADER = {
    "name": "X-Signature",
    "in": "header",
    "required": True,
    "description": "Lowercase hex HMAC of the exact body bytes with the instrument's signing key",
    "schema": {"type": "string"},
}
# How each invoice filter is read from the query string (api.md §6, §13.1).
INVOICE_FILTERS: dict[str, filters.Parser] = {
    "id": str.lower,
    "number": filters.parse_str,
    "status": instruments.parse_invoice_status,
    "createdAt": filters.parse_datetime,
    "currencyId": filters.parse_str,
    **{f"customer.{name}": filters.parse_str for name in instruments.CUSTOMER_FILTERS},
}
assert set(INVOICE_FILTERS) == set(instruments.FILTER_NAMES)


@router.get(
    INVOICES,
    summary="List invoices (filters, sorting and paging of api.md §6)",
    openapi_extra=list_query(INVOICE_FILTERS),
    responses=envelope_of(InvoiceResponse, many=True),
)
async def list_invoices(request: Request) -> Response:
    ctx = get_context(request)
    async with ctx.db.transaction() as conn:
        await ctx.instrument(conn, request)
        query = filters.parse_list_query(
            request.scope["query_string"].decode("latin-1"),
            INVOICE_FILTERS,
            set(instruments.SORT_COLUMNS),
        )
        items, total = await instruments.list_invoices(conn, query=query)
    return envelope.page(items, total=total, page=query.page, page_size=query.page_size)


@router.get(
    f"{INVOICES}/{{invoice_id}}",
    summary="Get one invoice",
    responses=envelope_of(InvoiceResponse),
)
async def get_invoice(request: Request, invoice_id: str) -> Response:
    ctx = get_context(request)
    async with ctx.db.transaction() as conn:
        await ctx.instrument(conn, request)
        invoice = await instruments.get_invoice(conn, invoice_id=invoice_id)
    return envelope.data(invoice)


@router.post(
    f"{INVOICES}/confirm",
    summary="Confirm an invoice payment (signed; idempotent per paymentOperationId)",
    openapi_extra={**json_body(CreateInvoicePaymentRequest), "parameters": [SIGNATURE_HEADER]},
    responses=envelope_of(InvoicePaymentResponse),
)
async def confirm_payment(request: Request) -> Response:
    ctx = get_context(request)
    # No transaction block on PostgreSQL: the payment reads, then writes in one guarded
    # statement, and opens a transaction only if the invoice changed in between
    # (payments/service.pay_container_at_once).
    async with ctx.db.statement() as conn:
        instrument = await ctx.instrument(conn, request)
        raw = await request.body()
        signature = request.headers.get("x-signature")
        # During a key rotation's overlap the bank may still sign with its previous key.
        if not any(
            signing.verify(raw, signature, key, instrument.sign_algorithm)
            for key in instrument.signing_keys()
        ):
            raise SignatureError()
        body = await read_model(request, CreateInvoicePaymentRequest)
        payment = await instruments.confirm_payment(conn, instrument=instrument, request=body)
    return envelope.data(payment)
