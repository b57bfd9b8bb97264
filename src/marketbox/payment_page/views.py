"""Routes of the hosted payment page (spec/payments.md §2, spec/design.md §3).

    GET  /order/{id}               the invoice and the payer + card form; a paid, canceled or
                                   expired invoice gets its status page instead (no form)
    GET  /order/{id}/summary.json  status and totals for scripts (the add-on strip), and the
                                   `paymentResult` the marketplace shell follows after a
                                   mini-app's `checkout` (with the latest decline)
    POST /order/{id}/addons.json   the add-on cards offered now (HTML) and their frames' fresh
                                   configuration, for the buyer data typed so far (JSON body
                                   {name?, email?, phone?}); the strip re-matches without reload
    GET  /order/{id}/orders.html   the order list alone (an HTML fragment), re-drawn by the
                                   add-on strip after a suborder joined
    POST /order/{id}/pay           payer form + card -> a card attempt (payments/attempts.py:
                                   the gateway is asked outside any transaction), then 303 to
                                   successUrl / failUrl or our own pages
    POST /order/{id}/remove        the buyer removes an add-on order (`order_id`) before paying
    GET  /order/{id}/success       after a payment, when the shop gave no successUrl
    GET  /order/{id}/fail          after a decline without a failUrl («Попробовать снова»)
    GET  /order/{id}/receipt       printable payment confirmation of a paid invoice, with the
                                   54-FZ fiscal receipts issued for it
    GET  /order/{id}/confirming    shipping control after the payment (docs/miniapps.md): the
                                   loader while the shop is asked, then its answer; reloads
                                   itself without JavaScript
    GET  /order/{id}/confirmation.json  the same state for static/shipping-control.js

Every page works without JavaScript (plain form POST); static/payment-page.js only prevents a
double submit and shows the loading state. The add-on services strip (addons.py, static/addons.js)
needs JavaScript: it stays hidden without it. No inline scripts or styles: the pages carry a
strict Content-Security-Policy, whose frame-src lists the add-ons' mini-app origins.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from fastapi import APIRouter
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from marketbox import clock, ids, parsing
from marketbox.config import Settings
from marketbox.errors import BadRequest
from marketbox.mail import service as mail_service
from marketbox.marketplace import host, miniapp, session
from marketbox.marketplace import service as marketplace_service
from marketbox.orders import service as orders_service
from marketbox.payment_page import addons, declines, forms, repository
from marketbox.payment_page import invoice as invoice_model
from marketbox.payment_page.invoice import Invoice
from marketbox.payments import attempts, sandbox, throttle
from marketbox.payments.errors import AmountChanged, ContainerNotFound, ContainerNotPayable
from marketbox.receipts import service as receipts_service
from marketbox.shipping_control import service as shipping_control
from marketbox.toolkit import form_tokens
from marketbox.toolkit.formatting import format_money, register_filters
from marketbox.toolkit.i18n import N_, register_i18n, t
from marketbox.web import assets
from marketbox.web import headers as web_headers
from marketbox.web.context import AppContext, get_context
from marketbox.web.envelope import JSONResponse

router = APIRouter(include_in_schema=False)

TEMPLATE_DIRS = [
    Path(__file__).parent / "templates",
    Path(__file__).parents[1] / "web" / "templates",
]
env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATE_DIRS),
    autoescape=jinja2.select_autoescape(["html"]),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    auto_reload=False,  # no stat() per render: templates change with the code (a restart)
)
register_filters(env)
register_i18n(env)
env.globals["script_json"] = host.script_json
assets.register(env)

LANGS = ("ru", "en")
# Tag 1212 codes the receipt page names; others print as their number ("fiscal.subject.other").
FISCAL_SUBJECTS = frozenset(
    (
        N_("fiscal.subject.1"),
        N_("fiscal.subject.2"),
        N_("fiscal.subject.3"),
        N_("fiscal.subject.4"),
        N_("fiscal.subject.10"),
    )
)
# What the success page says about the buyer's letter (docs/mail.md "Truthful text"): «sent»
# only once the SMTP server took it; «will be sent» only while a pending letter can still
# leave (SMTP configured); the sandbox says its letter is stored, not sent; a pending letter
# with no way out (production without SMTP) is not mentioned at all.
RECEIPT_MAIL_TEXTS = {
    ("sent", "smtp"): N_("receipt.sent_to"),
    ("sent", "capture"): N_("receipt.sent_to"),
    ("sent", "none"): N_("receipt.sent_to"),
    ("pending", "smtp"): N_("receipt.will_be_sent_to"),
    ("pending", "capture"): N_("receipt.sandbox_captured"),
    ("captured", "smtp"): N_("receipt.sandbox_captured"),
    ("captured", "capture"): N_("receipt.sandbox_captured"),
    ("captured", "none"): N_("receipt.sandbox_captured"),
    ("failed", "smtp"): N_("receipt.not_sent_to"),
    ("failed", "capture"): N_("receipt.not_sent_to"),
    ("failed", "none"): N_("receipt.not_sent_to"),
}
# The payer form's e-mail hint by Settings.mail_delivery: a promise only where a letter leaves.
EMAIL_HINTS = {
    "smtp": N_("payer.email_hint"),
    "capture": N_("payer.email_hint_sandbox"),
    "none": N_("payer.email_hint_no_mail"),
}

# The card fields a re-rendered form keeps (a field error elsewhere must not make the buyer
# type the card again): number and expiry, from the request, never stored. The CVC is typed
# again, as every payment page does.
KEPT_CARD_FIELDS = ("card_number", "card_expiry")
KEPT_CARD_MAX_LENGTH = 23
CARD_ERRORS = {
    ("card_number", "invalid"): N_("error.card_number"),
    ("card_expiry", "invalid"): N_("error.card_expiry"),
    ("card_expiry", "expired"): N_("error.card_expired"),
    ("card_cvc", "invalid"): N_("error.card_cvc"),
}
_NOT_ASCII_DIGIT = re.compile(r"[^0-9]")
# While another attempt of the same invoice is with the gateway, look again after this long
# (growing to the maximum), up to `payment_gateway_timeout_seconds`.
BUSY_POLL_SECONDS = 0.02
BUSY_POLL_MAX_SECONDS = 0.25
# Shipping control: the waiting page reloads itself this often without JavaScript, and the
# «confirmation pending» page moves on to the shop after this long.
CONFIRM_REFRESH_SECONDS = 2
PENDING_REDIRECT_SECONDS = 5
# Origins every payment page may frame besides its add-ons (whose origins each page adds to
# its own frame-src).
FRAME_SOURCES: tuple[str, ...] = ()


# --- routes ----------------------------------------------------------------------------------


@router.get("/order/{container_id}")
async def payment_page(request: Request, container_id: str) -> Response:
    ctx = get_context(request)
    try:
        async with ctx.db.transaction() as conn:
            invoice = await invoice_model.load(conn, container_id)
            page = _Page(request, ctx, invoice)
            await page.load_way_back(conn)
            await page.load_addons(conn)
            if invoice.is_payable:
                page.decline_reason = await declines.last_decline_reason(conn, invoice.id)
    except ContainerNotFound:
        return _not_found(request, ctx)
    if not invoice.is_payable:
        return page.status_page()
    form = forms.build(invoice.customer, invoice.invoice_setting, payer=invoice.payer)
    return page.form_page(form)


@router.post("/order/{container_id}/pay")
async def pay(request: Request, container_id: str) -> Response:
    """Pay with a card, never holding a transaction while the gateway works (docs/payments.md):
    (1) check the form and record the attempt, (2) ask the gateway, (3) record its answer and
    pay the invoice, or void an authorization the invoice can no longer take."""
    ctx = get_context(request)
    submitted = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    client = request.client.host if request.client else "unknown"
    try:
        started = await _begin_attempt(request, ctx, container_id, submitted, client)
        if isinstance(started, Response):
            return started
        attempt, card, controlled = started
        attempt = await attempts.run(
            ctx.db, ctx.gateway, ctx.settings, attempt, card, capture=not controlled
        )
        if attempt.status in (attempts.VOIDED, attempts.VOIDING):
            # The bank approved, but the invoice could no longer take it (another payment won,
            # an add-on joined, the deadline passed): the authorization is being released.
            if attempt.release_reason == attempts.AMOUNT_CHANGED:
                raise AmountChanged()
            raise ContainerNotPayable(attempt.release_reason or "")
        async with ctx.db.transaction() as conn:
            invoice = await invoice_model.load(conn, container_id)
            page = _Page(request, ctx, invoice)
            if attempt.status == attempts.PAID and controlled:
                # Shipping control: the shop is asked now; the buyer waits on the loader.
                shipping_control.start(ctx.db, ctx.settings, container_id)
                return _redirect(page.url("confirming"), new_token=True, settings=ctx.settings)
            if attempt.status == attempts.PAID:
                target = await _back_to_shop(conn, invoice, invoice.success_url, lang=page.lang)
                return _redirect(
                    target or page.url("success"), new_token=True, settings=ctx.settings
                )
            if attempt.status == attempts.DECLINED:
                # Always a redirect (PRG): a reload of what the buyer sees next is a GET.
                target = await _back_to_shop(conn, invoice, invoice.fail_url, lang=page.lang)
                return _redirect(target or page.url("fail"), new_token=True, settings=ctx.settings)
            # No answer from the gateway in time: the worker's recovery will finish it.
            await page.load_way_back(conn)
            await page.load_addons(conn)
        form = forms.build(invoice.customer, invoice.invoice_setting, submitted=submitted)
        if not invoice.is_payable:
            return page.status_page(status_code=409)
        return page.form_page(form, banner="gateway_unavailable", status_code=503)
    except ContainerNotFound:
        return _not_found(request, ctx)
    except (AmountChanged, ContainerNotPayable) as exc:
        # Another payment won the race, an add-on joined or the deadline passed: nothing was
        # paid (an approved authorization was voided). Show the invoice as it is now.
        async with ctx.db.transaction() as conn:
            invoice = await invoice_model.load(conn, container_id)
            page = _Page(request, ctx, invoice)
            await page.load_way_back(conn)
            await page.load_addons(conn)
        if not invoice.is_payable or not isinstance(exc, AmountChanged):
            return page.status_page(status_code=409)
        form = forms.build(invoice.customer, invoice.invoice_setting, submitted=submitted)
        return page.form_page(
            form,
            card_values=_kept_card_values(submitted),
            banner="amount_changed",
            status_code=409,
        )


async def _begin_attempt(
    request: Request, ctx: AppContext, container_id: str, submitted: dict[str, str], client: str
) -> Response | tuple[attempts.Attempt, sandbox.Card, bool]:
    """Step 1 in one short transaction: check the form, the card and the total, throttle,
    save the payer and record the attempt, and whether an order is under shipping control
    (then the card is only held). While another attempt of the invoice is with the
    gateway, wait (outside any transaction) and check again: it may pay the invoice."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ctx.settings.payment_gateway_timeout_seconds
    delay = BUSY_POLL_SECONDS
    while True:
        async with ctx.db.transaction() as conn:
            invoice = await invoice_model.load(conn, container_id, record=True)
            page = _Page(request, ctx, invoice)
            if not invoice.is_payable:
                await page.load_way_back(conn)
                return page.status_page(status_code=409)
            cookie = request.cookies.get(forms.CSRF_COOKIE)
            if not forms.token_matches(cookie, submitted.get(forms.CSRF_FIELD)):
                if cookie and submitted.get(forms.CSRF_FIELD):
                    # A token already used: a reload (or Back) of an answered POST. Nothing is
                    # tried again; the buyer sees the invoice as it is now.
                    return _redirect(page.url())
                form = forms.build(invoice.customer, invoice.invoice_setting, submitted=submitted)
                await page.load_way_back(conn)
                await page.load_addons(conn)
                return page.form_page(form, banner="stale_form", status_code=403)
            # From here on every answer carries a new token (forms.py "one use").
            request.state.pay_token_used = True
            form, payer = forms.clean(invoice.customer, invoice.invoice_setting, submitted)
            card, card_errors = sandbox.check_card(
                submitted.get("card_number", ""),
                submitted.get("card_expiry", ""),
                submitted.get("card_cvc", ""),
                now=clock.now(),
            )
            if payer is None or card is None:
                await page.load_way_back(conn)
                await page.load_addons(conn)
                return page.form_page(
                    form,
                    card_errors=card_errors.fields,
                    card_values=_kept_card_values(submitted),
                    banner="form",
                    status_code=422,
                )
            expected = _parse_amount(submitted.get("expected_amount"))
            if expected != invoice.amount:
                # Decided below from a fresh read: under READ COMMITTED this one may have seen
                # a racing payment half-committed (container pending, orders already paid).
                raise AmountChanged()
            begun = await attempts.begin(
                conn,
                ctx.settings,
                gateway=ctx.gateway.name,
                container_id=invoice.id,
                client=client,
                amount=invoice.amount,
                currency=invoice.currency,
                card_last4=card.last4,
            )
            if isinstance(begun, throttle.Throttled):  # too many declines: the bank is not asked
                await page.load_way_back(conn)
                await page.load_addons(conn)
                response = page.form_page(form, banner="throttled", status_code=429)
                response.headers["Retry-After"] = str(begun.retry_after)
                return response
            if isinstance(begun, attempts.Attempt):
                await repository.save_payer(conn, invoice.id, payer)
                control = await shipping_control.controlled(conn, invoice.id)
                return begun, card, control is not None
            if loop.time() >= deadline:
                await page.load_way_back(conn)
                await page.load_addons(conn)
                return page.form_page(form, banner="in_progress", status_code=409)
        # Busy: nothing was written; wait outside the transaction, then look again.
        await asyncio.sleep(delay)
        delay = min(delay * 1.5, BUSY_POLL_MAX_SECONDS)


@router.post("/order/{container_id}/remove")
async def remove_addon(request: Request, container_id: str) -> Response:
    """The buyer removes an add-on order (`order_id`) before paying; back to the invoice.

    Only orders that joined as add-ons of other merchants, only while the invoice is unpaid
    (orders_service.remove_addon); anything else changes nothing and shows the invoice as it is.
    """
    ctx = get_context(request)
    if not ids.is_uuid(container_id):
        return _not_found(request, ctx)
    submitted = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    if forms.token_matches(request.cookies.get(forms.CSRF_COOKIE), submitted.get(forms.CSRF_FIELD)):
        try:
            async with ctx.db.transaction() as conn:
                await invoice_model.load(conn, container_id, record=True)
                await orders_service.remove_addon(
                    conn,
                    container_id=container_id,
                    order_id=submitted.get("order_id", ""),
                )
        except ContainerNotFound:
            return _not_found(request, ctx)
    return RedirectResponse(_page_path(container_id, request), status_code=303)


def _page_path(container_id: str, request: Request) -> str:
    lang = request.query_params.get("lang")
    path = f"/order/{ids.normalize_uuid(container_id)}"
    return f"{path}?lang={lang}" if lang in LANGS else path


async def _back_to_shop(
    conn: AsyncConnection, invoice: Invoice, url: str | None, *, lang: str, always: bool = False
) -> str | None:
    """Where the buyer returns to the shop (after paying, or by «Вернуться в магазин»).

    When the main order's point of sale has an order-mode mini-app, that is the point of sale's
    page in the marketplace shell, in the page's language, with the shop's URL opened inside
    the frame when it belongs to the mini-app (miniapps.md §6.1) and `payment=<invoice>` so the
    shell tells the mini-app, and shows the buyer, how the payment ended
    (docs/marketplace.md "After the payment"). A shop URL elsewhere is the shop's own choice and
    is kept. `always`: without any shop URL, still go back to the shell (the way back);
    otherwise None (the redirects after paying then use our own pages).
    """
    if invoice.shop_id is None:
        return url
    point = await marketplace_service.public_point_of_sale(conn, invoice.shop_id)
    if point is None or not point.has_order_app or point.mini_app is None:
        return url
    query = {"lang": lang, "payment": invoice.id}
    if url is not None:
        if not miniapp.frame_url_allowed(url, point.mini_app):
            return url
        query = {"path": url, **query}
    elif not always:
        return None
    return f"/marketplace/shop/{point.id}?{urlencode(query)}"


@router.get("/order/{container_id}/summary.json")
async def summary(request: Request, container_id: str) -> Response:
    """Status and totals without a reload; the add-on strip calls it after a suborder joins.

    An unknown id answers the API's 404 envelope.
    """
    ctx = get_context(request)
    async with ctx.db.transaction() as conn:
        invoice = await invoice_model.load(conn, container_id)
        declined = await repository.latest_declined(conn, invoice.id)
    lang = _lang(request, invoice)[0]
    result = declines.payment_result(invoice)
    # The latest decline of a still payable invoice: the shell around a mini-app that asked
    # for `checkout` tells it `pending` once per new decline and shows why.
    decline = None
    if declined is not None and result == "pending":
        reason = declines.reason_key(declined._mapping["failure_code"])
        decline = {"id": declined._mapping["id"], "text": t(reason, lang)}
    body = {
        "id": invoice.id,
        "number": invoice.number,
        "status": invoice.status,
        "paymentResult": result,
        "final": result != "pending",
        "decline": decline,
        "amount": invoice.amount,
        "currency": invoice.currency,
        "formattedAmount": format_money(invoice.amount, invoice.currency, lang),
        "orders": [
            {
                "id": order.id,
                "merchantName": order.merchant_name,
                "merchantOrderId": order.number,
                "amount": order.amount,
                "isMain": order.is_main,
            }
            for order in invoice.orders
        ],
    }
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


@router.get("/order/{container_id}/orders.html")
async def orders_fragment(request: Request, container_id: str) -> Response:
    """The invoice's order list alone (the `order_list` macro of the page), so the add-on
    strip can show a suborder that just joined without reloading the page. The fragment's
    root is the page's `[data-order-list]`; the invoice's status is in summary.json.
    """
    ctx = get_context(request)
    try:
        async with ctx.db.transaction() as conn:
            invoice = await invoice_model.load(conn, container_id)
    except ContainerNotFound:
        return _not_found(request, ctx)
    page = _Page(request, ctx, invoice)
    return page.render("orders.html")


@router.post("/order/{container_id}/addons.json")
async def addons_now(request: Request, container_id: str) -> Response:
    """The add-on strip as it stands now: the cards the invoice offers after it changed
    (`marketplace.addons`' one rule over the new metaData) as the strip's HTML, each card's
    frame configuration with fresh init data (`host.frame_config`) and the invoice's status.

    Read-only; the optional JSON body carries what the buyer typed into the payer form
    (``{"name", "email", "phone"}``, strings), which the frames' init data then hand on. An
    unknown id answers the API's 404 envelope; a body that is not such an object, 400.
    """
    ctx = get_context(request)
    entered = _entered_buyer(await request.body())
    if entered is None:
        raise BadRequest("The body must be a JSON object of strings: name, email, phone")
    async with ctx.db.transaction() as conn:
        invoice = await invoice_model.load(conn, container_id)
        page = _Page(request, ctx, invoice)
        await page.load_addons(conn, entered=entered)
    cards = page.addons
    html = env.get_template("payment_page/addons.html").render(
        lang=page.lang, invoice=invoice, addons=cards
    )
    body = {
        "status": invoice.status,
        "html": html,
        "frames": [card.frame for card in cards],
        "shopIds": [card.shop_id for card in cards],
    }
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


def _entered_buyer(raw: bytes) -> session.Buyer | None:
    """The buyer data a script sent (an empty body is no data), None when malformed."""
    if not raw.strip():
        return session.Buyer()
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    fields = ("name", "email", "phone")
    if not isinstance(data, dict) or not all(isinstance(data.get(k, ""), str) for k in fields):
        return None
    return session.Buyer(
        name=" ".join(data.get("name", "").split())[: session.MAX_NAME],
        email=data.get("email", "").strip()[: session.MAX_EMAIL],
        phone=data.get("phone", "").strip()[:20],
    )


@router.get("/order/{container_id}/success")
async def success_page(request: Request, container_id: str) -> Response:
    return await _render_paid(
        request, container_id, "success.html", "page page--narrow", receipt_mail=True
    )


@router.get("/order/{container_id}/confirming")
async def confirming_page(request: Request, container_id: str) -> Response:
    """Shipping control after the payment (docs/miniapps.md "Shipping control"): the loader
    while the shop is being asked (the page reloads itself, or static/shipping-control.js
    polls confirmation.json), then the shop's answer: its success page, «the service cannot
    be provided» with the hold's release, or «payment received, confirmation pending»."""
    ctx = get_context(request)
    try:
        async with ctx.db.read() as conn:
            invoice = await invoice_model.load(conn, container_id)
            page = _Page(request, ctx, invoice)
            found = await shipping_control.confirmation(conn, invoice.id, now=clock.now())
            success = await _back_to_shop(conn, invoice, invoice.success_url, lang=page.lang)
            fail = await _back_to_shop(
                conn, invoice, invoice.fail_url or invoice.return_url, lang=page.lang, always=True
            )
            await page.load_way_back(conn)
    except ContainerNotFound:
        return _not_found(request, ctx)
    if invoice.status != "paid":
        return RedirectResponse(page.url(), status_code=303)
    next_url = success or page.url("success")
    if found is None or found.state == shipping_control.CONFIRMED:
        return RedirectResponse(next_url, status_code=303)
    unavailable = [o for o in invoice.orders if o.id in found.unavailable]
    if unavailable:
        page.back_url = fail  # the navbar's way back too: the shop's failUrl
    return page.render(
        "confirming.html",
        main_class="page page--narrow",
        state=found.state,
        next_url=next_url,
        fail_url=fail or page.url(),
        unavailable=unavailable,
        only_unavailable=len(unavailable) == len(invoice.orders),
        refresh_seconds=CONFIRM_REFRESH_SECONDS,
        redirect_seconds=PENDING_REDIRECT_SECONDS,
        wait_seconds=max(0, int((found.deadline - clock.now()).total_seconds()) + 1),
        status_url=page.url("confirmation.json"),
        confirming_url=page.url("confirming"),
    )


@router.get("/order/{container_id}/confirmation.json")
async def confirmation_state(request: Request, container_id: str) -> Response:
    """The shipping control's state for static/shipping-control.js: `state` (`waiting`,
    `confirmed`, `unavailable`, `pending`; `none` when nothing is under control) and
    `deadline`. An unknown id answers the API's 404 envelope."""
    ctx = get_context(request)
    async with ctx.db.read() as conn:
        invoice = await invoice_model.load(conn, container_id)
        found = await shipping_control.confirmation(conn, invoice.id, now=clock.now())
    body = {
        "id": invoice.id,
        "state": found.state if found else "none",
        "deadline": found.deadline.isoformat() if found else None,
    }
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


@router.get("/order/{container_id}/fail")
async def fail_page(request: Request, container_id: str) -> Response:
    ctx = get_context(request)
    try:
        async with ctx.db.transaction() as conn:
            invoice = await invoice_model.load(conn, container_id)
            reason = await declines.last_decline_reason(conn, invoice.id)
            page = _Page(request, ctx, invoice)
            await page.load_way_back(conn, invoice.fail_url or invoice.return_url)
    except ContainerNotFound:
        return _not_found(request, ctx)
    if invoice.status == "paid":
        return RedirectResponse(page.url("success"), status_code=303)
    if not invoice.is_payable:
        return RedirectResponse(page.url(), status_code=303)
    return page.render(
        "fail.html", main_class="page page--narrow", reason=reason or declines.DEFAULT_REASON
    )


@router.get("/order/{container_id}/receipt")
async def receipt_page(request: Request, container_id: str) -> Response:
    """The payment confirmation («Подтверждение оплаты (не кассовый чек)») and, apart from it,
    the 54-FZ fiscal receipts («Кассовый чек») issued for the invoice (docs/receipts.md)."""
    return await _render_paid(
        request, container_id, "receipt.html", "page page--receipt", fiscal=True
    )


async def _render_paid(
    request: Request,
    container_id: str,
    template: str,
    main_class: str,
    *,
    fiscal: bool = False,
    receipt_mail: bool = False,
) -> Response:
    """A page that exists only for a paid invoice; others go back to the invoice itself."""
    ctx = get_context(request)
    extra: dict[str, Any] = {}
    try:
        async with ctx.db.transaction() as conn:
            invoice = await invoice_model.load(conn, container_id)
            if fiscal:
                extra["fiscal_subjects"] = FISCAL_SUBJECTS
                extra["fiscal_receipts"] = [
                    {**r, "created": parsing.parse_datetime(r["createdAt"])}
                    for r in await receipts_service.container_receipts(conn, invoice.id)
                ]
            if receipt_mail:
                state = await mail_service.buyer_receipt_state(conn, invoice.id)
                key = (state.status, ctx.settings.mail_delivery) if state else None
                extra["receipt_mail_text"] = RECEIPT_MAIL_TEXTS.get(key) if key else None
                extra["receipt_mail_status"] = state.status if state else ""
                extra["receipt_mail_to"] = state.recipient if state else ""
            page = _Page(request, ctx, invoice)
            await page.load_way_back(conn)
    except ContainerNotFound:
        return _not_found(request, ctx)
    if invoice.status != "paid":
        return RedirectResponse(page.url(), status_code=303)
    return page.render(template, main_class=main_class, **extra)


# --- rendering -------------------------------------------------------------------------------


class _Page:
    """One invoice rendered in one language; knows the page's own URLs."""

    def __init__(self, request: Request, ctx: AppContext, invoice: Invoice) -> None:
        self.request = request
        self.ctx = ctx
        self.invoice = invoice
        self.lang, self.lang_override = _lang(request, invoice)
        self.addons: list[addons.AddonCard] = []
        # Every add-on origin the page may frame once the strip is re-matched (CSP frame-src).
        self.addon_origins: list[str] = []
        self.back_url: str | None = None  # «Вернуться в магазин» (load_way_back)
        self.decline_reason: str | None = None  # message key of the last decline

    async def load_way_back(self, conn: AsyncConnection, url: str | None = None) -> None:
        """«Вернуться в магазин»: the shop's returnUrl (else its success or fail URL on a
        closed invoice, or `url`), inside the marketplace shell when the point of sale has an
        order-mode mini-app (_back_to_shop)."""
        invoice = self.invoice
        if url is None:
            url = invoice.return_url
        if url is None and invoice.status == "paid":
            url = invoice.success_url
        elif url is None and invoice.status in ("canceled", "expired"):
            url = invoice.fail_url
        self.back_url = await _back_to_shop(conn, invoice, url, lang=self.lang, always=True)

    async def load_addons(
        self, conn: AsyncConnection, *, entered: session.Buyer | None = None
    ) -> None:
        """The add-on service cards (only a payable invoice has any); `entered`: the buyer
        data typed into the page (addons.load)."""
        buyer = session.decode(
            self.request.cookies.get(session.COOKIE_NAME),
            secret=self.ctx.settings.session_secret,
            now=time.time(),
        )
        self.addons, self.addon_origins = await addons.load(
            conn,
            self.invoice,
            lang=self.lang,
            session_buyer=buyer,
            payment_url_prefix=self.ctx.settings.payment_url_prefix,
            entered=entered,
        )

    def url(self, sub: str = "", *, lang: str | None = None) -> str:
        path = f"/order/{self.invoice.id}" + (f"/{sub}" if sub else "")
        chosen = lang or self.lang_override
        return f"{path}?lang={chosen}" if chosen else path

    def render(self, template: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
        invoice = self.invoice
        payment = invoice.payment or {}
        base = {
            "lang": self.lang,
            "invoice": invoice,
            "tz": self.ctx.settings.time_zone,
            "sandbox": self.ctx.settings.mode == "sandbox",
            "page_url": self.url(),
            "pay_url": self.url("pay"),
            "receipt_url": self.url("receipt"),
            "summary_url": f"/order/{invoice.id}/summary.json",
            "lang_urls": {code: self.url(lang=code) for code in LANGS},
            "payer_email": (invoice.payer or invoice.customer).get("email") or "",
            "email_hint": EMAIL_HINTS[self.ctx.settings.mail_delivery],
            "paid_with_hold": payment.get("method") == sandbox.METHOD_CARD_HOLD,
            "card_last4": payment.get("card_last4") or "",
            "orders_url": self.url("orders.html"),
            "addons_url": self.url("addons.json"),
            "remove_url": self.url("remove"),
            "addons": self.addons,
            "back_url": self.back_url,
            "operator": operator_contacts(self.ctx.settings),
        }
        base.update(context)
        return _html(
            self.ctx.settings,
            template,
            base,
            status_code=status_code,
            frame_sources=[*addons.frame_sources(self.addons), *self.addon_origins],
            image_sources=addons.image_sources(self.addons),
        )

    def status_page(self, *, status_code: int = 200) -> HTMLResponse:
        return self.render("status.html", status_code=status_code, main_class="page page--narrow")

    def form_page(
        self,
        form: forms.PayerForm,
        *,
        card_errors: dict[str, str] | None = None,
        card_values: dict[str, str] | None = None,
        banner: str | None = None,
        status_code: int = 200,
    ) -> HTMLResponse:
        lang = self.lang
        errors = {name: _payer_error(code, lang) for name, code in form.errors.items()}
        for name, code in (card_errors or {}).items():
            errors[name] = t(CARD_ERRORS.get((name, code), "error.required"), lang)
        token = self.request.cookies.get(forms.CSRF_COOKIE)
        if token is None or getattr(self.request.state, "pay_token_used", False):
            token = forms.new_token()
        response = self.render(
            "page.html",
            status_code=status_code,
            main_class="page page--pay",
            form=form,
            errors=errors,
            banner=banner,
            csrf_token=form_tokens.mask(token),  # a new mask per render (BREACH)
            expected_amount=str(self.invoice.amount),
            test_cards=sandbox.TEST_CARDS,
            card_values=card_values or {},
            decline_reason=self.decline_reason,
            live_texts=json.dumps(_live_texts(lang), ensure_ascii=False, sort_keys=True),
        )
        _set_token(response, token, self.ctx.settings)
        return response


def _set_token(response: Response, token: str, settings: Settings) -> None:
    response.set_cookie(
        forms.CSRF_COOKIE,
        token,
        path="/order",
        httponly=True,
        samesite="lax",
        secure=settings.public_base.startswith("https://"),
    )


def _redirect(url: str, *, new_token: bool = False, settings: Settings | None = None) -> Response:
    """303 (a reload of what follows is a GET). `new_token`: the form's token was used."""
    response = RedirectResponse(url, status_code=303)
    if new_token and settings is not None:
        _set_token(response, forms.new_token(), settings)
    return response


def _kept_card_values(submitted: dict[str, str]) -> dict[str, str]:
    """The card number and expiry as typed, for the re-rendered form only (never stored or
    logged); the number grouped by four when it is digits and spaces."""
    values = {}
    for name in KEPT_CARD_FIELDS:
        value = submitted.get(name, "")[:KEPT_CARD_MAX_LENGTH]
        digits = value.replace(" ", "")
        if name == "card_number" and digits and not _NOT_ASCII_DIGIT.search(digits):
            value = " ".join(digits[i : i + 4] for i in range(0, len(digits), 4))
        values[name] = value
    return values


def _live_texts(lang: str) -> dict[str, str]:
    """The messages payment-page.js shows while the buyer types (the server's own words)."""
    return {
        "card_number": t("error.card_number", lang),
        "card_expiry": t("error.card_expiry", lang),
        "card_expired": t("error.card_expired", lang),
        "card_cvc": t("error.card_cvc", lang),
        "email": t("error.invalid_email", lang),
        "phone": t("error.invalid_phone", lang),
        "required": t("error.required", lang),
        "brand_mir": t("card.brand_mir", lang),
        "brand_visa": "Visa",
        "brand_mastercard": "Mastercard",
    }


def _lang(request: Request, invoice: Invoice) -> tuple[str, str | None]:
    """(page language, explicit ?lang override or None)."""
    override = request.query_params.get("lang")
    if override in LANGS:
        return override, override
    return invoice.language, None


def _payer_error(code: str, lang: str) -> str:
    # "error." ~ code: the keys are listed in messages.py
    key = "error.required" if code == "required" else f"error.{code}"
    return t(key, lang)


def _parse_amount(value: str | None) -> Decimal | None:
    """The total the payer saw; None (never NaN, sNaN or Infinity) when it is not a number."""
    try:
        return parsing.parse_decimal(value or "")
    except parsing.ParseError:
        return None


def _not_found(request: Request, ctx: AppContext) -> HTMLResponse:
    lang = request.query_params.get("lang")
    context = {"lang": lang if lang in LANGS else "ru", "main_class": "page page--narrow"}
    return _html(ctx.settings, "not_found.html", context, status_code=404)


def operator_contacts(settings: Settings) -> dict[str, str]:
    """Who runs the platform and how to reach them, for the pages' footer (config.py)."""
    return {
        "name": settings.operator_name,
        "inn": settings.operator_inn,
        "ogrn": settings.operator_ogrn,
        "address": settings.operator_address,
        "support_email": settings.support_email,
        "support_phone": settings.support_phone,
    }


def _html(
    settings: Settings,
    template: str,
    context: dict[str, Any],
    *,
    status_code: int,
    frame_sources: Sequence[str] = (),
    image_sources: Sequence[str] = (),
) -> HTMLResponse:
    body = env.get_template(f"payment_page/{template}").render(**context)
    headers = security_headers(settings, frame_sources=frame_sources, image_sources=image_sources)
    return HTMLResponse(body, status_code=status_code, headers=headers)


def security_headers(
    settings: Settings, *, frame_sources: Sequence[str] = (), image_sources: Sequence[str] = ()
) -> dict[str, str]:
    """A strict CSP (no inline code at all), no caching of payer data, framed only by our own
    origin and MARKETBOX_EXTRA_FRAME_ANCESTORS (web/headers.py holds the shared part).

    `frame_sources`: origins of the add-on mini-apps this page frames; `image_sources`: origins
    of their logos.
    """
    policy = web_headers.content_security_policy(
        frame_ancestors=settings.extra_frame_ancestors,
        frame_sources=[*FRAME_SOURCES, *frame_sources],
        image_sources=["data:", *image_sources],
    )
    return {**web_headers.html_headers(policy), "Cache-Control": "no-store"}
