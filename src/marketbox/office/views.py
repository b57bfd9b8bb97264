"""The merchant office's pages (docs/office.md). Every page but log-in and the invite needs a
session; every POST form carries the session's CSRF token.

    GET  /office                         -> /office/orders
    GET  /office/login, POST             log in (rate limited per client and per e-mail)
    POST /office/logout
    GET  /office/invite/{token}, POST    choose a password through an invite, then logged in
    GET  /office/orders                  the list: status, dates, amount, search, paging
    GET  /office/orders/{id}             basket, payments, refunds, shipments, receipts, timeline
    POST /office/orders/{id}/cancel      the API's cancel (DELETE …/order/{id})
    POST /office/orders/{id}/refund      the API's refund: the lines ticked, what is left of each
    POST /office/orders/{id}/shipment    the API's shipment: the whole basket, final
    GET  /office/notifications           the delivery log; POST …/resend-failed, …/test
    GET  /office/notifications/{id}      every attempt's request and reply; POST …/resend
    GET  /office/settings, POST …        notification settings, notices e-mail, rotation
    GET  /office/points-of-sale          the points of sale and their mini-apps; POST
                                         …/{id}/addons: add-ons on its invoices on or off
    GET  /office/mail, /office/mail/{id} the merchant's letters (captured in the sandbox)
    GET  /office/sandbox, POST …         the sandbox clock, triggers, reset (404 in production)
    GET  /office/operator[/health]       merchants, instruments, health (role operator only)
    GET  /office/operator/addons, POST … the add-on strip: order, limit (role operator only)

Language: ``?lang=ru|en`` (remembered in the ``lang`` cookie, as on the marketplace), else
the cookie, else Russian. Actions call the same services as the API, in one transaction, and
show a refusal on the order's page in the user's language.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as dt_time
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

import jinja2
from fastapi import APIRouter
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from marketbox import clock, jsonutil, netguard
from marketbox.errors import AppError, RateLimited
from marketbox.gate import presence as gate_presence
from marketbox.mail import listing as mail_listing
from marketbox.marketplace import addons as marketplace_addons
from marketbox.marketplace import repository as marketplace_repository
from marketbox.marketplace import schemas as marketplace_schemas
from marketbox.marketplace import service as marketplace_service
from marketbox.marketplace.errors import PointOfSaleNotFound
from marketbox.merchants import service as merchants_service
from marketbox.merchants.service import Merchant
from marketbox.notifications import service as notifications_service
from marketbox.notifications.errors import (
    NoNotificationUrl,
    NotificationInFlight,
    NotificationNotFound,
)
from marketbox.notifications.outbox import TEST_NOTIFICATION_ORDER_ID
from marketbox.notifications.schemas import TestNotificationRequest
from marketbox.office import operator as operator_service
from marketbox.office import service as office_service
from marketbox.office import session as office_session
from marketbox.office import timeline
from marketbox.office.service import OfficeUser
from marketbox.orders import repository as orders_repository
from marketbox.orders import service as orders_service
from marketbox.orders.errors import OrderNotFound
from marketbox.orders.schemas import BasketItem
from marketbox.refunds import service as refunds_service
from marketbox.refunds.schemas import CreateRefundRequest
from marketbox.sandbox import clock as sandbox_clock
from marketbox.sandbox import service as sandbox_service
from marketbox.sandbox.errors import BadDuration, TriggerRefused
from marketbox.security import service as security_service
from marketbox.security import signing
from marketbox.security.schemas import (
    MAX_SHIPPING_CONTROL_SECONDS,
    MIN_SHIPPING_CONTROL_SECONDS,
    NotificationSettingsRequest,
    RetirePreviousRequest,
    RotateRequest,
)
from marketbox.shipments import service as shipments_service
from marketbox.shipments.schemas import CreateShipmentRequest
from marketbox.storage.query import Condition, ListQuery
from marketbox.toolkit import form_tokens
from marketbox.toolkit.formatting import format_shift, register_filters
from marketbox.toolkit.i18n import N_, NP_, register_i18n, t
from marketbox.web import assets, filters, health
from marketbox.web.context import get_context
from marketbox.web.ratelimit import RateLimiter

router = APIRouter(prefix="/office", include_in_schema=False)

_HERE = Path(__file__).parent
LANG_COOKIE = "lang"
LANG_COOKIE_MAX_AGE = 365 * 24 * 3600
PAGE_SIZE = 20
MAX_QUERY = 200
MOSCOW = ZoneInfo("Europe/Moscow")
# Log-in attempts: per client address and per e-mail, in a moving window (web/ratelimit.py,
# shared by every process through Redis when it is configured).
LOGIN_LIMIT = 10
LOGIN_WINDOW_SECONDS = 300
STATUSES = ("created", "completed", "hold", "canceled", "expired")
# Keys built at run time in the templates ("office.status." ~ status and the like), named
# here for `pybabel extract`.
_KEYS = (
    N_("office.status.created"),
    N_("office.status.completed"),
    N_("office.status.hold"),
    N_("office.status.canceled"),
    N_("office.status.expired"),
    N_("office.status.draft"),  # a refund opened by its id
    N_("office.event.created"),
    N_("office.event.paid"),
    N_("office.event.held"),
    N_("office.event.canceled"),
    N_("office.event.expired"),
    N_("office.event.payment"),
    N_("office.event.payment_declined"),
    N_("office.event.refunded"),
    N_("office.event.shipped"),
    N_("office.outcome.success"),
    N_("office.outcome.retry"),
    N_("office.outcome.rejected"),
    N_("office.refund_status.created"),
    N_("office.refund_status.draft"),
    N_("office.refund_status.completed"),
    N_("office.refund_status.canceled"),
    N_("office.receipt_status.formed"),
    N_("office.receipt_status.registered"),
    N_("office.done.cancel"),
    N_("office.done.refund"),
    N_("office.done.shipment"),
    NP_("office.orders.found"),
)

templates = jinja2.Environment(
    loader=jinja2.ChoiceLoader(
        [
            jinja2.FileSystemLoader(_HERE / "templates"),
            jinja2.FileSystemLoader(_HERE.parent / "web" / "templates"),
        ]
    ),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    auto_reload=False,
)
register_filters(templates)
register_i18n(templates)
assets.register(templates)


# --- the request's session, user and language -----------------------------------------------


@dataclass
class Visit:
    """One request to the office: its language, session, and (once logged in) the user."""

    request: Request
    lang: str
    remember_lang: bool
    session: office_session.Session
    new_session: bool
    user: OfficeUser | None = None
    merchant: Merchant | None = None

    def url_with(self, **params: Any) -> str:
        query = dict(self.request.query_params)
        for key, value in params.items():
            if value is None:
                query.pop(key, None)
            else:
                query[key] = str(value)
        encoded = urlencode(query)
        return f"{self.request.url.path}?{encoded}" if encoded else self.request.url.path


def _secret(request: Request) -> str:
    return str(get_context(request).settings.session_secret)


def _visit(request: Request) -> Visit:
    asked = request.query_params.get("lang")
    if asked in {"ru", "en"}:
        lang, remember = asked, True
    else:
        lang, remember = ("en" if request.cookies.get(LANG_COOKIE) == "en" else "ru"), False
    found = office_session.decode(
        request.cookies.get(office_session.COOKIE_NAME), secret=_secret(request), now=time.time()
    )
    session = found or office_session.Session.anonymous()
    return Visit(request, lang, remember, session, new_session=found is None)


async def _logged_in(visit: Visit, conn: AsyncConnection) -> bool:
    user = await office_service.get_user(conn, visit.session.user_id)
    if user is None or user.merchant_id is None:
        return False
    visit.user = user
    visit.merchant = await merchants_service.get_merchant(conn, user.merchant_id)
    return visit.merchant is not None


def _store_session(visit: Visit, response: Response) -> None:
    settings = get_context(visit.request).settings
    response.set_cookie(
        office_session.COOKIE_NAME,
        office_session.encode(visit.session, secret=_secret(visit.request), now=time.time()),
        max_age=office_session.MAX_AGE_SECONDS,
        path="/office",
        httponly=True,
        samesite="lax",
        secure=settings.public_url.startswith("https://"),
    )


def _render(
    visit: Visit, template: str, context: dict[str, Any], *, status_code: int = 200
) -> HTMLResponse:
    page = {
        "lang": visit.lang,
        "lang_urls": {code: visit.url_with(lang=code) for code in ("ru", "en")},
        "csrf": form_tokens.mask(visit.session.csrf),  # a new mask per render (BREACH)
        "user": visit.user,
        "merchant": visit.merchant,
        "section": "",
        "sandbox_mode": get_context(visit.request).settings.mode == "sandbox",
        **context,
    }
    response = HTMLResponse(templates.get_template(template).render(page), status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    if visit.new_session:
        _store_session(visit, response)
    if visit.remember_lang:
        response.set_cookie(
            LANG_COOKIE, visit.lang, max_age=LANG_COOKIE_MAX_AGE, httponly=True, samesite="lax"
        )
    return response


def _to_login(visit: Visit) -> Response:
    target = visit.request.url.path
    if visit.request.url.query:
        target += "?" + visit.request.url.query
    return RedirectResponse(f"/office/login?next={quote(target, safe='')}", status_code=303)


def _safe_next(value: str | None) -> str:
    """Only a path of the office itself (no scheme, no host, no //evil.example)."""
    if value and value.startswith("/office/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/office/orders"


async def _form(request: Request) -> Any:
    return await request.form(max_files=0, max_fields=200)


def _csrf_refused(visit: Visit) -> HTMLResponse:
    return _render(
        visit,
        "office/message.html",
        {"title": t("office.csrf.title", visit.lang), "text": t("office.csrf.text", visit.lang)},
        status_code=403,
    )


def _login_limiter(request: Request) -> RateLimiter:
    state = request.app.state
    limiter = getattr(state, "office_login_limiter", None)
    if limiter is None:
        limiter = RateLimiter(
            get_context(request).shared, "office-login", LOGIN_LIMIT, LOGIN_WINDOW_SECONDS
        )
        state.office_login_limiter = limiter
    return limiter


# --- log-in, log-out, invites ----------------------------------------------------------------


@router.get("")
async def office_home() -> Response:
    return RedirectResponse("/office/orders", status_code=303)


@router.get("/login")
async def login_page(request: Request) -> Response:
    visit = _visit(request)
    return _render(
        visit,
        "office/login.html",
        {"next": _safe_next(request.query_params.get("next")), "email": "", "error": None},
    )


@router.post("/login")
async def login(request: Request) -> Response:
    visit = _visit(request)
    form = await _form(request)
    if visit.new_session or not visit.session.accepts(form.get("csrf")):
        return _csrf_refused(visit)
    email = str(form.get("email", ""))[:320].strip()
    password = str(form.get("password", ""))
    target = _safe_next(str(form.get("next", "")))
    context = {"next": target, "email": email}
    limiter = _login_limiter(request)
    client = request.client.host if request.client else "unknown"
    try:
        await limiter.hit(f"ip:{client}")
        await limiter.hit(f"email:{email.lower()}")
    except RateLimited as exc:
        refused = _render(
            visit,
            "office/login.html",
            {**context, "error": t("office.login.too_many", visit.lang)},
            status_code=429,
        )
        refused.headers.update(exc.headers)
        return refused
    ctx = get_context(request)
    async with ctx.db.transaction() as conn:
        user = await office_service.authenticate(conn, email=email, password=password)
    if user is None:
        return _render(
            visit,
            "office/login.html",
            {**context, "error": t("office.login.wrong", visit.lang)},
            status_code=401,
        )
    visit.session = visit.session.logged_in(user.id)
    response = RedirectResponse(target, status_code=303)
    _store_session(visit, response)
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    visit = _visit(request)
    form = await _form(request)
    if visit.new_session or not visit.session.accepts(form.get("csrf")):
        return _csrf_refused(visit)
    visit.session = office_session.Session.anonymous()
    response = RedirectResponse("/office/login", status_code=303)
    _store_session(visit, response)
    return response


@router.get("/invite/{token}")
async def invite_page(request: Request, token: str) -> Response:
    visit = _visit(request)
    async with get_context(request).db.read() as conn:
        try:
            invited = await office_service.invited_user(conn, token)
        except office_service.InviteInvalid:
            return _invite_gone(visit)
    return _render(visit, "office/invite.html", {"email": invited.email, "error": None})


def _invite_gone(visit: Visit) -> HTMLResponse:
    return _render(
        visit,
        "office/message.html",
        {
            "title": t("office.invite.gone_title", visit.lang),
            "text": t("office.invite.gone_text", visit.lang),
        },
        status_code=404,
    )


@router.post("/invite/{token}")
async def accept_invite(request: Request, token: str) -> Response:
    visit = _visit(request)
    form = await _form(request)
    if visit.new_session or not visit.session.accepts(form.get("csrf")):
        return _csrf_refused(visit)
    password = str(form.get("password", ""))
    ctx = get_context(request)
    try:
        if password != str(form.get("password2", "")):
            raise _Mismatch()
        async with ctx.db.transaction() as conn:
            user = await office_service.accept_invite(conn, token=token, password=password)
    except office_service.InviteInvalid:
        return _invite_gone(visit)
    except (office_service.BadPassword, _Mismatch) as exc:
        async with ctx.db.read() as conn:
            invited = await office_service.invited_user(conn, token)
        if isinstance(exc, _Mismatch):
            error = t("office.invite.mismatch", visit.lang)
        else:
            error = t("office.invite.password_rule", visit.lang, min=office_service.MIN_PASSWORD)
        return _render(
            visit, "office/invite.html", {"email": invited.email, "error": error}, status_code=422
        )
    visit.session = visit.session.logged_in(user.id)
    response = RedirectResponse("/office/orders", status_code=303)
    _store_session(visit, response)
    return response


class _Mismatch(Exception):
    """The two password fields differ."""


# --- orders ----------------------------------------------------------------------------------


def _moscow_midnight(day: date) -> str:
    return datetime.combine(day, dt_time(0), MOSCOW).isoformat()


def _list_query_string(params: dict[str, str], page: int) -> str:
    """The office's form fields as the API's §6 query string (so the API's parser checks them)."""
    # Refunds are orders too (subtype refund) in the API's list; the office shows them on
    # their paid order's page instead.
    pairs: list[tuple[str, str]] = [
        ("page", str(page)),
        ("pageSize", str(PAGE_SIZE)),
        ("subtype", "order"),
    ]
    if params["status"] in STATUSES:
        pairs.append(("status", params["status"]))
    if params["from"]:
        pairs.append(("createdAt[ge]", _moscow_midnight(date.fromisoformat(params["from"]))))
    if params["to"]:
        end = date.fromisoformat(params["to"]) + timedelta(days=1)
        pairs.append(("createdAt[lt]", _moscow_midnight(end)))
    if params["min"]:
        pairs.append(("amount[ge]", params["min"].replace(",", ".")))
    if params["max"]:
        pairs.append(("amount[le]", params["max"].replace(",", ".")))
    return urlencode(pairs)


@router.get("/orders")
async def orders_page(request: Request) -> Response:
    visit = _visit(request)
    ctx = get_context(request)
    q = request.query_params
    params = {
        name: q.get(name, "").strip()[:MAX_QUERY]
        for name in ("q", "status", "from", "to", "min", "max")
    }
    try:
        page = max(1, min(int(q.get("page", "1")), filters.MAX_PAGE))
    except ValueError:
        page = 1
    async with ctx.db.read() as conn:
        if not await _logged_in(visit, conn):
            return _to_login(visit)
        assert visit.merchant is not None
        error = None
        items: list[dict[str, Any]] = []
        total = 0
        try:
            query = filters.parse_list_query(
                _list_query_string(params, page),
                {**_ORDER_FILTERS},
                set(orders_repository.SORT_COLUMNS),
            )
            items, total = await orders_service.list_orders(
                conn, merchant=visit.merchant, query=query, search=params["q"] or None
            )
        except (AppError, ValueError):
            error = t("office.orders.bad_filter", visit.lang)
    pages = max(1, -(-total // PAGE_SIZE))
    return _render(
        visit,
        "office/orders.html",
        {
            "section": "orders",
            "params": params,
            "statuses": STATUSES,
            "items": items,
            "total": total,
            "page": page,
            "prev_url": visit.url_with(page=page - 1) if page > 1 else None,
            "next_url": visit.url_with(page=page + 1) if page < pages else None,
            "pages": pages,
            "error": error,
            "parse_time": datetime.fromisoformat,
        },
    )


# The API's own parsers of the fields the office's form sets (orders.routes.ORDER_FILTERS).
_ORDER_FILTERS: dict[str, filters.Parser] = {
    "subtype": filters.parse_str,
    "status": filters.parse_str,
    "createdAt": filters.parse_datetime,
    "amount": filters.parse_decimal,
}


async def _order_view(visit: Visit, conn: AsyncConnection, order_id: str, **extra: Any) -> Response:
    assert visit.merchant is not None
    record = await timeline.order_record(conn, merchant=visit.merchant, order_id=order_id)
    status = record.status
    m = record.row._mapping
    can_cancel = status == "created" or (
        status == "hold" and m["processing_status"] == "shipping_unavailable"
    )
    context = {
        "section": "orders",
        "record": record,
        "order": record.order,
        "can_cancel": can_cancel and m["subtype"] == "order",
        "can_refund": status in ("completed", "hold") and bool(record.refundable),
        "can_ship": status == "hold",
        "error": None,
        "done": visit.request.query_params.get("done"),
        "parse_time": datetime.fromisoformat,
        **extra,
    }
    return _render(
        visit, "office/order.html", context, status_code=422 if context["error"] else 200
    )


@router.get("/orders/{order_id}")
async def order_page(request: Request, order_id: str) -> Response:
    visit = _visit(request)
    async with get_context(request).db.read() as conn:
        if not await _logged_in(visit, conn):
            return _to_login(visit)
        try:
            return await _order_view(visit, conn, order_id)
        except OrderNotFound:
            return _not_found(visit)


def _not_found(visit: Visit) -> HTMLResponse:
    return _render(
        visit,
        "office/message.html",
        {
            "section": "orders",
            "title": t("office.order.not_found_title", visit.lang),
            "text": t("office.order.not_found_text", visit.lang),
        },
        status_code=404,
    )


# What a refusal says on the page, by the API's error code; anything else: the generic text.
_ERROR_KEYS = {
    "wrong_order_status": N_("office.error.wrong_order_status"),
    "merchant_order_id_duplicate": N_("office.error.duplicate"),
    "office_nothing_chosen": N_("office.error.nothing_chosen"),
}


def _error_text(exc: AppError, lang: str) -> str:
    key = _ERROR_KEYS.get(exc.code)
    if key:
        return t(key, lang)
    return t("office.error.refused", lang, detail=exc.detail)


async def _action(request: Request, order_id: str, action: str) -> Response:
    visit = _visit(request)
    form = await _form(request)
    ctx = get_context(request)
    if visit.new_session or not visit.session.accepts(form.get("csrf")):
        return _csrf_refused(visit)
    async with ctx.db.read() as conn:
        if not await _logged_in(visit, conn):
            return _to_login(visit)
    merchant = visit.merchant
    assert merchant is not None
    try:
        async with ctx.db.transaction() as conn:
            if action == "cancel":
                await orders_service.cancel_order(conn, merchant=merchant, order_id=order_id)
            elif action == "refund":
                await _refund(conn, merchant, order_id, form.getlist("line"), visit.lang)
            else:
                await _ship(conn, merchant, order_id)
    except OrderNotFound:
        return _not_found(visit)
    except AppError as exc:
        async with ctx.db.read() as conn:
            return await _order_view(visit, conn, order_id, error=_error_text(exc, visit.lang))
    return RedirectResponse(f"/office/orders/{order_id}?done={action}", status_code=303)


async def _refund(
    conn: AsyncConnection, merchant: Merchant, order_id: str, lines: list[Any], lang: str
) -> None:
    """A refund of the ticked lines (by their position), each for what is left of it."""
    order = await orders_service.get_owned_order(
        conn, merchant=merchant, order_id=order_id, lock=True
    )
    left = await refunds_service.refundable_items(conn, merchant=merchant, order_id=order_id)
    chosen = {str(x) for x in lines}
    items = [
        BasketItem.model_validate(_as_line(item))
        for index, item in enumerate(left)
        if str(index) in chosen and item["availableAmount"] > 0
    ]
    if not items:
        raise _NothingChosen()
    m = order._mapping
    done, _ = await refunds_service.list_refunds(
        conn, merchant=merchant, query=timeline.related_query("parentId", m["id"])
    )
    request = CreateRefundRequest(
        parentId=m["id"],
        merchantOrderId=f"{m['merchant_order_id'][:240]}-refund-{len(done) + 1}",
        amount=sum((i.totalAmount for i in items), Decimal(0)),
        vatAmount=sum((i.totalVatAmount for i in items), Decimal(0)),
        basketItems=items,
        description=t("office.refund.description", lang),
    )
    await refunds_service.create_refund(conn, merchant=merchant, request=request)


def _as_line(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in ("availableAmount", "availableVatAmount")}


class _NothingChosen(AppError):
    code = "office_nothing_chosen"
    message = "No line is chosen"


async def _ship(conn: AsyncConnection, merchant: Merchant, order_id: str) -> None:
    """The whole basket shipped, final (a partial shipment is the API's)."""
    order = await orders_service.get_owned_order(conn, merchant=merchant, order_id=order_id)
    m = order._mapping
    request = CreateShipmentRequest(
        orderId=m["id"],
        basketItems=[BasketItem.model_validate(line) for line in m["basket_items"]],
        final=True,
        documentDate=clock.now().astimezone(MOSCOW).date().isoformat(),
    )
    await shipments_service.create_shipment(conn, merchant=merchant, request=request)


@router.post("/orders/{order_id}/cancel")
async def cancel(request: Request, order_id: str) -> Response:
    return await _action(request, order_id, "cancel")


@router.post("/orders/{order_id}/refund")
async def refund(request: Request, order_id: str) -> Response:
    return await _action(request, order_id, "refund")


@router.post("/orders/{order_id}/shipment")
async def shipment(request: Request, order_id: str) -> Response:
    return await _action(request, order_id, "shipment")


# -- notifications ----------------------------------------------------------------------------
# The delivery log (docs/office.md "Notifications"), through notifications/service.py as the
# API's /v3/notification/api/* does:
#     GET  /office/notifications                     list: status, event, order; paging
#     POST /office/notifications/resend-failed       resend every rejected / abandoned
#     POST /office/notifications/test                send the test notification, answer shown
#     GET  /office/notifications/{id}                every attempt: request, reply, verdict
#     POST /office/notifications/{id}/resend         send it again

NOTIFICATION_STATUSES = ("pending", "delivered", "rejected", "abandoned", "no_url")
NOTIFICATION_EVENTS = ("paid", "refund", "canceled", "expired", "test")
_NOTIF_KEYS = (
    N_("office.notif.status.pending"),
    N_("office.notif.status.delivered"),
    N_("office.notif.status.rejected"),
    N_("office.notif.status.abandoned"),
    N_("office.notif.status.no_url"),
    N_("office.notif.done.resend"),
    NP_("office.notif.done.resend_failed"),
    NP_("office.notif.found"),
)
# The API's own parsers of the fields the office's form sets (notifications.routes).
_NOTIFICATION_FILTERS: dict[str, filters.Parser] = {
    "status": filters.parse_str,
    "event": filters.parse_str,
    "orderId": str.lower,
}


def _notification_query_string(params: dict[str, str], page: int) -> str:
    pairs = [("page", str(page)), ("pageSize", str(PAGE_SIZE))]
    if params["status"] in NOTIFICATION_STATUSES:
        pairs.append(("status", params["status"]))
    if params["event"] in NOTIFICATION_EVENTS:
        pairs.append(("event", params["event"]))
    if params["order"]:
        pairs.append(("orderId", params["order"]))
    return urlencode(pairs)


async def _notifications_view(
    visit: Visit, conn: AsyncConnection, *, status_code: int = 200, **extra: Any
) -> Response:
    assert visit.merchant is not None
    q = visit.request.query_params
    params = {name: q.get(name, "").strip()[:MAX_QUERY] for name in ("status", "event", "order")}
    try:
        page = max(1, min(int(q.get("page", "1")), filters.MAX_PAGE))
    except ValueError:
        page = 1
    error = None
    items: list[dict[str, Any]] = []
    total = 0
    try:
        query = filters.parse_list_query(
            _notification_query_string(params, page),
            _NOTIFICATION_FILTERS,
            set(notifications_service.SORT_COLUMNS),
        )
        items, total = await notifications_service.list_notifications(
            conn, merchant_id=visit.merchant.id, query=query
        )
    except AppError:
        error = t("office.notif.bad_filter", visit.lang)
    pages = max(1, -(-total // PAGE_SIZE))
    done = q.get("done")
    try:
        done_count = int(q.get("n", "0"))
    except ValueError:
        done_count = 0
    context = {
        "section": "notifications",
        "params": params,
        "statuses": NOTIFICATION_STATUSES,
        "events": NOTIFICATION_EVENTS,
        "items": items,
        "total": total,
        "page": page,
        "pages": pages,
        "prev_url": visit.url_with(page=page - 1) if page > 1 else None,
        "next_url": visit.url_with(page=page + 1) if page < pages else None,
        "error": error,
        "done": done if done == "resend_failed" else None,
        "done_count": done_count,
        "default_url": visit.merchant.notification_url or "",
        "test_url": "",
        "test_error": None,
        "test": None,
        "parse_time": datetime.fromisoformat,
        "pretty": _pretty_json,
        **extra,
    }
    return _render(visit, "office/notifications.html", context, status_code=status_code)


@router.get("/notifications")
async def notifications_page(request: Request) -> Response:
    visit = _visit(request)
    async with get_context(request).db.read() as conn:
        if not await _logged_in(visit, conn):
            return _to_login(visit)
        return await _notifications_view(visit, conn)


async def _checked_post(request: Request) -> tuple[Visit, Any, Response | None]:
    """The visit and form of an office POST, or the answer that refuses it (no CSRF token:
    403, no session: the log-in page)."""
    visit = _visit(request)
    form = await _form(request)
    if visit.new_session or not visit.session.accepts(form.get("csrf")):
        return visit, form, _csrf_refused(visit)
    async with get_context(request).db.read() as conn:
        if not await _logged_in(visit, conn):
            return visit, form, _to_login(visit)
    return visit, form, None


@router.post("/notifications/resend-failed")
async def notifications_resend_failed(request: Request) -> Response:
    visit, _, refused = await _checked_post(request)
    if refused is not None:
        return refused
    assert visit.merchant is not None
    async with get_context(request).db.transaction() as conn:
        resent = await notifications_service.resend_failed(conn, merchant_id=visit.merchant.id)
    return RedirectResponse(
        f"/office/notifications?done=resend_failed&n={len(resent)}", status_code=303
    )


@router.post("/notifications/test")
async def notifications_test(request: Request) -> Response:
    visit, form, refused = await _checked_post(request)
    if refused is not None:
        return refused
    assert visit.merchant is not None
    ctx = get_context(request)
    url = str(form.get("url", "")).strip()[:1000]
    result = None
    error = None
    try:
        checked = TestNotificationRequest.model_validate({"url": url or None}).url
        if ctx.settings.blocks_private_networks:
            await netguard.check_url(checked, field="url")
        result = await notifications_service.send_test(
            ctx.db, ctx.settings, merchant_id=visit.merchant.id, url=checked
        )
    except NoNotificationUrl:
        error = t("office.notif.test.no_url", visit.lang)
    except (ValidationError, AppError):
        error = t("office.notif.test.bad_url", visit.lang)
    async with ctx.db.read() as conn:
        return await _notifications_view(
            visit,
            conn,
            status_code=422 if error else 200,
            test=result,
            test_error=error,
            test_url=url,
        )


async def _notification_detail(
    visit: Visit, conn: AsyncConnection, notification_id: str, *, error: str | None = None
) -> Response:
    assert visit.merchant is not None
    try:
        found = await notifications_service.get_notification(
            conn, notification_id, merchant_id=visit.merchant.id
        )
    except NotificationNotFound:
        return _render(
            visit,
            "office/message.html",
            {
                "section": "notifications",
                "title": t("office.notif.not_found_title", visit.lang),
                "text": t("office.notif.not_found_text", visit.lang),
            },
            status_code=404,
        )
    context = {
        "section": "notifications",
        "n": found,
        "order_id": await _page_order_of(conn, visit.merchant, found["orderId"]),
        "done": visit.request.query_params.get("done") == "resend",
        "error": error,
        "parse_time": datetime.fromisoformat,
        "pretty": _pretty_json,
    }
    return _render(visit, "office/notification.html", context, status_code=409 if error else 200)


async def _page_order_of(conn: AsyncConnection, merchant: Merchant, order_id: str) -> str | None:
    """The order whose office page shows this notification: a refund's paid order, the order
    itself, or none (the test notification, an order gone)."""
    if order_id == TEST_NOTIFICATION_ORDER_ID:
        return None
    try:
        row = await orders_service.get_owned_order(conn, merchant=merchant, order_id=order_id)
    except OrderNotFound:
        return None
    return str(row._mapping["parent_id"] or row._mapping["id"])


def _pretty_json(text: str | None) -> str:
    """A JSON body indented for reading, its numbers as sent (3190.00 stays 3190.00); anything
    else as it is."""
    if not text:
        return ""
    try:
        return jsonutil.dumps_indented(jsonutil.loads(text))
    except ValueError:
        return text


@router.get("/notifications/{notification_id}")
async def notification_page(request: Request, notification_id: str) -> Response:
    visit = _visit(request)
    async with get_context(request).db.read() as conn:
        if not await _logged_in(visit, conn):
            return _to_login(visit)
        return await _notification_detail(visit, conn, notification_id)


@router.post("/notifications/{notification_id}/resend")
async def notification_resend(request: Request, notification_id: str) -> Response:
    visit, _, refused = await _checked_post(request)
    if refused is not None:
        return refused
    assert visit.merchant is not None
    ctx = get_context(request)
    try:
        async with ctx.db.transaction() as conn:
            carrier = await notifications_service.resend(
                conn, notification_id, merchant_id=visit.merchant.id
            )
    except NotificationInFlight:
        async with ctx.db.read() as conn:
            error = t("office.notif.in_flight", visit.lang)
            return await _notification_detail(visit, conn, notification_id, error=error)
    except NotificationNotFound:
        async with ctx.db.read() as conn:
            return await _notification_detail(visit, conn, notification_id)
    return RedirectResponse(f"/office/notifications/{carrier}?done=resend", status_code=303)


# -- settings and points of sale --------------------------------------------------------------
#   GET  /office/settings                 notification URL and algorithm, notices e-mail, the
#                                          API token and signing key (fingerprints, overlap)
#   POST /office/settings/notification    the API's PUT /v3/security/api/notification
#   POST /office/settings/email           as `marketbox merchant set-email`
#   POST /office/settings/rotate          the API's rotate, after the password again; the new
#                                          secret is in that one answer and nowhere else
#   POST /office/settings/retire          the API's retire-previous
#   GET  /office/points-of-sale           the merchant's points of sale and their mini-apps
#   POST /office/points-of-sale/{id}/addons  the API's allowAddons of one of them (on | off)
# Every change of credentials or notification settings is announced after its commit, as
# the API does, so every process drops what it cached.

# The overlaps the rotate form offers, in seconds (0: the previous one stops at once).
OVERLAPS = (0, 3600, 86400, 7 * 86400)
CREDENTIALS = ("token", "signingKey")
_SETTINGS_KEYS = (
    N_("office.settings.overlap.0"),
    N_("office.settings.overlap.3600"),
    N_("office.settings.overlap.86400"),
    N_("office.settings.overlap.604800"),
    N_("office.settings.credential.token"),
    N_("office.settings.credential.signingKey"),
    N_("office.settings.done.notification"),
    N_("office.settings.done.email"),
    N_("office.settings.done.retire"),
    N_("office.settings.mode.order"),
    N_("office.settings.mode.suborder"),
    N_("office.settings.addon.pending"),
    N_("office.settings.addon.approved"),
    N_("office.settings.addon.revoked"),
    N_("office.settings.addon.none"),
    N_("office.settings.done.addons_on"),
    N_("office.settings.done.addons_off"),
    N_("office.settings.pos_not_found"),
    N_("office.settings.pos_not_found_title"),
)


async def _settings_view(
    visit: Visit, conn: AsyncConnection, *, status_code: int = 200, **extra: Any
) -> Response:
    assert visit.merchant is not None
    found = await security_service.credentials(conn, merchant=visit.merchant)
    email = await merchants_service.get_notification_email(conn, visit.merchant.id)
    done = visit.request.query_params.get("done")
    context = {
        "section": "settings",
        "creds": found,
        "notification_email": email or "",
        "algorithms": tuple(signing.ALGORITHMS),
        "shipping_limits": (MIN_SHIPPING_CONTROL_SECONDS, MAX_SHIPPING_CONTROL_SECONDS),
        "overlaps": OVERLAPS,
        "credential_names": CREDENTIALS,
        "done": done if done in ("notification", "email", "retire") else None,
        "error": None,
        "error_form": None,
        "typed": {},  # what a refused form had, shown again instead of what is stored
        "parse_time": datetime.fromisoformat,
        **extra,
    }
    return _render(visit, "office/settings.html", context, status_code=status_code)


@router.get("/settings")
async def settings_page(request: Request) -> Response:
    visit = _visit(request)
    async with get_context(request).db.read() as conn:
        if not await _logged_in(visit, conn):
            return _to_login(visit)
        return await _settings_view(visit, conn)


async def _settings_refused(
    visit: Visit, form_name: str, error: str, typed: dict[str, str] | None = None
) -> Response:
    """The settings page again with the refusal by its form, and what the form had."""
    async with get_context(visit.request).db.read() as conn:
        return await _settings_view(
            visit, conn, status_code=422, error=error, error_form=form_name, typed=typed or {}
        )


@router.post("/settings/notification")
async def save_notification(request: Request) -> Response:
    visit, form, refused = await _checked_post(request)
    if refused:
        return refused
    assert visit.merchant is not None
    ctx = get_context(request)
    url = str(form.get("notification_url", "")).strip()
    algorithm = str(form.get("algorithm", ""))
    shipping_control = str(form.get("shipping_control", "")) == "on"
    timeout = str(form.get("shipping_control_timeout", "")).strip()
    typed = {
        "notification_url": url[:2000],
        "algorithm": algorithm,
        "shipping_control": "on" if shipping_control else "",
        "shipping_control_timeout": timeout[:10],
    }
    try:
        body = NotificationSettingsRequest.model_validate(
            {
                "notificationUrl": url or None,
                "signatureAlgorithm": algorithm or None,
                "shippingControl": shipping_control,
                "shippingControlTimeoutSeconds": timeout or None,
            }
        )
        async with ctx.db.transaction() as conn:
            await security_service.set_notification(
                conn,
                merchant=visit.merchant,
                request=body,
                production=ctx.settings.mode == "production",
            )
    except ValidationError as exc:
        fields = {str(e["loc"][0]) for e in exc.errors() if e["loc"]}
        message = (
            N_("office.settings.bad_shipping_timeout")
            if fields == {"shippingControlTimeoutSeconds"}
            else N_("office.settings.bad_url")
        )
        return await _settings_refused(visit, "notification", t(message, visit.lang), typed)
    except AppError:
        return await _settings_refused(
            visit, "notification", t("office.settings.bad_url", visit.lang), typed
        )
    await ctx.shared.credentials_changed()
    return RedirectResponse("/office/settings?done=notification", status_code=303)


@router.post("/settings/email")
async def save_email(request: Request) -> Response:
    visit, form, refused = await _checked_post(request)
    if refused:
        return refused
    assert visit.merchant is not None
    email = str(form.get("email", "")).strip()
    try:
        async with get_context(request).db.transaction() as conn:
            await merchants_service.set_notification_email(conn, visit.merchant.id, email or None)
    except ValueError:
        return await _settings_refused(
            visit, "email", t("office.settings.bad_email", visit.lang), {"email": email[:320]}
        )
    return RedirectResponse("/office/settings?done=email", status_code=303)


def _chosen_credentials(form: Any) -> list[str]:
    return [name for name in CREDENTIALS if name in {str(x) for x in form.getlist("credential")}]


@router.post("/settings/rotate")
async def rotate(request: Request) -> Response:
    visit, form, refused = await _checked_post(request)
    if refused:
        return refused
    assert visit.merchant is not None and visit.user is not None
    ctx = get_context(request)
    chosen = _chosen_credentials(form)
    try:
        overlap = int(str(form.get("overlap", "")))
    except ValueError:
        overlap = -1
    if not chosen or overlap not in OVERLAPS:
        return await _settings_refused(visit, "rotate", t("office.settings.choose", visit.lang))
    # The password again: a rotation locks out every integration that still uses the old
    # secret. Guesses count against the log-in limit of this e-mail.
    try:
        await _login_limiter(request).hit(f"email:{visit.user.email.lower()}")
    except RateLimited:
        return await _settings_refused(visit, "rotate", t("office.login.too_many", visit.lang))
    async with ctx.db.transaction() as conn:
        again = await office_service.authenticate(
            conn, email=visit.user.email, password=str(form.get("password", ""))
        )
        if again is None or again.id != visit.user.id:
            rotated = None
        else:
            body = RotateRequest.model_validate({"credentials": chosen, "overlapSeconds": overlap})
            rotated = await security_service.rotate(conn, merchant=visit.merchant, request=body)
    if rotated is None:
        return await _settings_refused(
            visit, "rotate", t("office.settings.wrong_password", visit.lang)
        )
    await ctx.shared.credentials_changed()
    # The answer is the one place the new secrets appear: not stored, not cached (no-store),
    # not compressed (BREACH).
    assets.send_uncompressed(request)
    return _render(
        visit,
        "office/settings_rotated.html",
        {
            "section": "settings",
            "new_token": rotated["newToken"],
            "new_signing_key": rotated["newSigningKey"],
            "creds": rotated,
            "overlap": overlap,
            "parse_time": datetime.fromisoformat,
        },
    )


@router.post("/settings/retire")
async def retire(request: Request) -> Response:
    visit, form, refused = await _checked_post(request)
    if refused:
        return refused
    assert visit.merchant is not None
    ctx = get_context(request)
    chosen = _chosen_credentials(form)
    if not chosen:
        return await _settings_refused(visit, "retire", t("office.settings.choose", visit.lang))
    async with ctx.db.transaction() as conn:
        await security_service.retire_previous(
            conn,
            merchant=visit.merchant,
            request=RetirePreviousRequest.model_validate({"credentials": chosen}),
        )
    await ctx.shared.credentials_changed()
    return RedirectResponse("/office/settings?done=retire", status_code=303)


@router.get("/points-of-sale")
async def points_of_sale_page(request: Request) -> Response:
    visit = _visit(request)
    ctx = get_context(request)
    try:
        page = max(1, min(int(request.query_params.get("page", "1")), filters.MAX_PAGE))
    except ValueError:
        page = 1
    async with ctx.db.read() as conn:
        if not await _logged_in(visit, conn):
            return _to_login(visit)
        assert visit.merchant is not None
        query = filters.parse_list_query(
            urlencode({"page": page, "pageSize": PAGE_SIZE}),
            {},
            set(marketplace_repository.SORT_COLUMNS),
            default_order=("id", True),
        )
        items, total = await marketplace_service.list_points_of_sale(
            conn, merchant_id=visit.merchant.id, query=query, public_base=ctx.settings.public_base
        )
    pages = max(1, -(-total // PAGE_SIZE))
    done = request.query_params.get("done")
    # The launch secrets are on the page, and its links carry the URL's query along.
    assets.send_uncompressed(request)
    return _render(
        visit,
        "office/points_of_sale.html",
        {
            "section": "points_of_sale",
            "done": done if done in ("addons_on", "addons_off") else None,
            "items": items,
            "parse_time": datetime.fromisoformat,
            "total": total,
            "page_path": marketplace_service.pos_page_path,
            "prev_url": visit.url_with(page=page - 1) if page > 1 else None,
            "next_url": visit.url_with(page=page + 1) if page < pages else None,
            "page": page,
            "pages": pages,
        },
    )


@router.post("/points-of-sale/{shop_id}/addons")
async def point_of_sale_addons(request: Request, shop_id: str) -> Response:
    """Other merchants' add-ons on the invoices of this point of sale's orders, on or off
    (the API's `allowAddons`); an order's own orderSetting.allowAddons still wins."""
    visit, form, refused = await _checked_post(request)
    if refused is not None:
        return refused
    assert visit.merchant is not None
    ctx = get_context(request)
    allow = form.get("allow") == "on"
    if not (shop_id.isascii() and shop_id.isdigit() and len(shop_id) <= 9):
        return _gone(visit, "points_of_sale", "office.settings.pos_not_found")
    try:
        async with ctx.db.transaction() as conn:
            await marketplace_service.update_point_of_sale(
                conn,
                merchant_id=visit.merchant.id,
                shop_id=int(shop_id),
                request=marketplace_schemas.UpdateShopRequest(allowAddons=allow),
                auto_approve_addons=ctx.settings.mode == "sandbox",
            )
    except PointOfSaleNotFound:
        return _gone(visit, "points_of_sale", "office.settings.pos_not_found")
    done = "addons_on" if allow else "addons_off"
    return RedirectResponse(f"/office/points-of-sale?done={done}", status_code=303)


# -- mail, sandbox panel, operator --------------------------------------------------------------
#
#   GET  /office/mail                    the merchant's letters (status filter, paging)
#   GET  /office/mail/{id}               one letter: to, subject, text, status, attempts, times
#   GET  /office/sandbox                 sandbox only: the clock, triggers, reset (404 otherwise)
#   POST /office/sandbox/clock           advance by 1h/2h/1d or a typed duration; or reset it
#   POST /office/sandbox/trigger         pay/decline/hold/expire an order (panel or order page)
#   GET  /office/sandbox/reset, POST     reset all sandbox data, after a confirm step
#   GET  /office/operator                operators only: merchants and instruments (404 else)
#   GET  /office/operator/health         operators only: database, migrations, Redis, outbox,
#                                        gate connections
#   GET  /office/operator/addons         operators only: the add-on strip (order, limit)
#   POST /office/operator/addons/order   every add-on's position at once (`addon position`)
#   POST /office/operator/addons/limit   the most cards a payment page shows (`addon limit`)
#   POST /office/operator/addons/{id}/approved|revoked   `addon approve|revoke`

MAIL_PAGE_SIZE = 20
MAIL_STATUSES = ("captured", "sent", "pending", "failed")
SANDBOX_ADVANCES = ("1h", "2h", "1d")
_OUTCOMES = ("paid", "held", "declined", "expired", "pending")
_SECTION_KEYS = (
    N_("office.mail.not_found"),
    N_("office.mail.not_found_title"),
    N_("office.sandbox.off"),
    N_("office.sandbox.off_title"),
    N_("office.operator.not_found"),
    N_("office.operator.not_found_title"),
    N_("office.mail.status_text.captured"),
    N_("office.mail.status_text.sent"),
    N_("office.mail.status_text.pending"),
    N_("office.mail.status_text.failed"),
    N_("office.sandbox.order_action.pay"),
    N_("office.sandbox.order_action.decline"),
    N_("office.sandbox.order_action.hold"),
    N_("office.sandbox.order_action.expire"),
    N_("office.operator.check.database"),
    N_("office.operator.check.migrations"),
    N_("office.operator.check.redis"),
    N_("office.operator.addons_done.order"),
    N_("office.operator.addons_done.limit"),
    N_("office.operator.addons_done.approved"),
    N_("office.operator.addons_done.revoked"),
    N_("office.mail.status.captured"),
    N_("office.mail.status.sent"),
    N_("office.mail.status.pending"),
    N_("office.mail.status.failed"),
    N_("office.mail.kind.buyer_receipt"),
    N_("office.mail.kind.merchant_payment"),
    N_("office.sandbox.action.pay"),
    N_("office.sandbox.action.decline"),
    N_("office.sandbox.action.hold"),
    N_("office.sandbox.action.expire"),
    N_("office.sandbox.result.paid"),
    N_("office.sandbox.result.held"),
    N_("office.sandbox.result.declined"),
    N_("office.sandbox.result.expired"),
    N_("office.sandbox.result.pending"),
    NP_("office.mail.found"),
)


def _page_number(request: Request) -> int:
    try:
        return max(1, min(int(request.query_params.get("page", "1")), filters.MAX_PAGE))
    except ValueError:
        return 1


@router.get("/mail")
async def mail_page(request: Request) -> Response:
    visit = _visit(request)
    status = request.query_params.get("status", "")
    status = status if status in MAIL_STATUSES else ""
    page = _page_number(request)
    query = ListQuery(
        conditions=[Condition("status", "eq", [status])] if status else [],
        order=[("createdAt", True), ("id", True)],
        page=page,
        page_size=MAIL_PAGE_SIZE,
    )
    async with get_context(request).db.read() as conn:
        if not await _logged_in(visit, conn):
            return _to_login(visit)
        assert visit.merchant is not None
        items, total = await mail_listing.list_messages(
            conn, merchant_id=visit.merchant.id, query=query
        )
    pages = max(1, -(-total // MAIL_PAGE_SIZE))
    return _render(
        visit,
        "office/mail.html",
        {
            "section": "mail",
            "items": items,
            "total": total,
            "status": status,
            "statuses": MAIL_STATUSES,
            "page": page,
            "pages": pages,
            "prev_url": visit.url_with(page=page - 1) if page > 1 else None,
            "next_url": visit.url_with(page=page + 1) if page < pages else None,
            "parse_time": datetime.fromisoformat,
        },
    )


@router.get("/mail/{message_id}")
async def mail_message_page(request: Request, message_id: str) -> Response:
    visit = _visit(request)
    async with get_context(request).db.read() as conn:
        if not await _logged_in(visit, conn):
            return _to_login(visit)
        assert visit.merchant is not None
        try:
            message = await mail_listing.get_message(
                conn, message_id, merchant_id=visit.merchant.id
            )
        except mail_listing.MailMessageNotFound:
            return _gone(visit, "mail", "office.mail.not_found")
    return _render(
        visit,
        "office/mail_message.html",
        {"section": "mail", "message": message, "parse_time": datetime.fromisoformat},
    )


def _gone(visit: Visit, section: str, key: str) -> HTMLResponse:
    """404 in the office's words: the keys `key` + "_title" and `key` (named in _SECTION_KEYS)."""
    title, text = t(f"{key}_title", visit.lang), t(key, visit.lang)
    context = {"section": section, "title": title, "text": text}
    return _render(visit, "office/message.html", context, status_code=404)


def _sandbox_on(request: Request) -> bool:
    return get_context(request).settings.mode == "sandbox"


async def _sandbox_panel(visit: Visit, *, status_code: int = 200, **extra: Any) -> HTMLResponse:
    offset = clock.offset()
    q = visit.request.query_params
    context = {
        "section": "sandbox",
        "now": clock.now(),
        "offset_seconds": int(offset.total_seconds()),
        # (the value the form sends, the label in the page's language: «+1 ч», "+1 h")
        "advances": [
            (a, format_shift(sandbox_clock.parse_duration(a), visit.lang)) for a in SANDBOX_ADVANCES
        ],
        "actions": sandbox_service.ACTIONS,
        "error": None,
        "done": q.get("done") if q.get("done") in (*_OUTCOMES, "clock", "reset") else None,
        "done_order": q.get("order", "")[:36],
        "order_id": "",
        **extra,
    }
    return _render(visit, "office/sandbox.html", context, status_code=status_code)


@router.get("/sandbox")
async def sandbox_page(request: Request) -> Response:
    visit = _visit(request)
    if not _sandbox_on(request):
        return _gone(visit, "", "office.sandbox.off")
    ctx = get_context(request)
    async with ctx.db.read() as conn:
        if not await _logged_in(visit, conn):
            return _to_login(visit)
    await sandbox_clock.refresh(ctx.db)
    return await _sandbox_panel(visit)


async def _sandbox_form(request: Request) -> tuple[Visit, Any, Response | None]:
    """The visit and form of a sandbox POST, or the answer that refuses it (production: 404,
    no CSRF token: 403, no session: the log-in page)."""
    if not _sandbox_on(request):
        visit = _visit(request)
        return visit, None, _gone(visit, "", "office.sandbox.off")
    return await _checked_post(request)


@router.post("/sandbox/clock")
async def sandbox_clock_move(request: Request) -> Response:
    visit, form, refused = await _sandbox_form(request)
    if refused is not None:
        return refused
    ctx = get_context(request)
    try:
        with sandbox_clock.kept_on_failure():
            async with ctx.db.transaction() as conn:
                if form.get("reset"):
                    await sandbox_clock.reset(conn)
                else:
                    text = str(form.get("advance") or form.get("custom") or "")[:32]
                    delta = sandbox_clock.parse_duration(text)
                    await sandbox_service.advance_clock(conn, delta)
    except BadDuration:
        error = t("office.sandbox.bad_duration", visit.lang)
        return await _sandbox_panel(visit, status_code=422, error=error)
    return RedirectResponse("/office/sandbox?done=clock", status_code=303)


@router.post("/sandbox/trigger")
async def sandbox_trigger(request: Request) -> Response:
    visit, form, refused = await _sandbox_form(request)
    if refused is not None:
        return refused
    assert visit.user is not None and visit.merchant is not None
    ctx = get_context(request)
    action = str(form.get("action", ""))
    order_id = str(form.get("order_id", "")).strip()[:64]
    from_order = form.get("back") == "order"
    # The operator reaches any order, as the operator's CLI does; a merchant its own.
    merchant = None if visit.user.role == "operator" else visit.merchant
    try:
        if action not in sandbox_service.ACTIONS:
            raise TriggerRefused("Unknown trigger")
        result = await sandbox_service.trigger(
            ctx.db, ctx.gateway, ctx.settings, action=action, order_id=order_id, merchant=merchant
        )
    except OrderNotFound:
        if from_order:
            return _not_found(visit)
        error = t("office.sandbox.no_order", visit.lang)
        return await _sandbox_panel(visit, status_code=404, error=error, order_id=order_id)
    except AppError as exc:  # TriggerRefused (409), RateLimited (429)
        error = t("office.sandbox.refused", visit.lang, detail=exc.detail)
        if from_order:
            async with ctx.db.read() as conn:
                answer = await _order_view(visit, conn, order_id, error=error)
        else:
            answer = await _sandbox_panel(
                visit, status_code=exc.status, error=error, order_id=order_id
            )
        if isinstance(exc, RateLimited):
            answer.headers.update(exc.headers)
        return answer
    if from_order:
        return RedirectResponse(
            f"/office/orders/{result.order_id}?done={result.outcome}", status_code=303
        )
    query = urlencode({"done": result.outcome, "order": result.order_id})
    return RedirectResponse(f"/office/sandbox?{query}", status_code=303)


@router.get("/sandbox/reset")
async def sandbox_reset_page(request: Request) -> Response:
    visit = _visit(request)
    if not _sandbox_on(request):
        return _gone(visit, "", "office.sandbox.off")
    async with get_context(request).db.read() as conn:
        if not await _logged_in(visit, conn):
            return _to_login(visit)
    return _render(visit, "office/sandbox_reset.html", {"section": "sandbox"})


@router.post("/sandbox/reset")
async def sandbox_reset(request: Request) -> Response:
    _, form, refused = await _sandbox_form(request)
    if refused is not None:
        return refused
    if form.get("confirm") != "yes":
        return RedirectResponse("/office/sandbox/reset", status_code=303)
    ctx = get_context(request)
    with sandbox_clock.kept_on_failure():
        async with ctx.db.transaction() as conn:
            await sandbox_service.reset(conn)
    # The demo shop's documented credentials are back: drop cached tokens in every process
    # (as the API's reset does).
    ctx.tokens.clear()
    await ctx.shared.credentials_changed()
    return RedirectResponse("/office/sandbox?done=reset", status_code=303)


async def _operator(visit: Visit, conn: AsyncConnection) -> Response | None:
    """None when the visitor is an operator; else the answer (log-in page, or 404 for a
    merchant's user: the operator's pages do not exist for it)."""
    if not await _logged_in(visit, conn):
        return _to_login(visit)
    assert visit.user is not None
    if visit.user.role != "operator":
        return _gone(visit, "", "office.operator.not_found")
    return None


@router.get("/operator")
async def operator_page(request: Request) -> Response:
    visit = _visit(request)
    async with get_context(request).db.read() as conn:
        refused = await _operator(visit, conn)
        if refused is not None:
            return refused
        merchants, total = await operator_service.list_merchants(conn)
        instruments = await operator_service.list_instruments(conn)
    return _render(
        visit,
        "office/operator.html",
        {
            "section": "operator",
            "merchants": merchants,
            "merchants_total": total,
            "instruments": instruments,
        },
    )


@router.get("/operator/health")
async def operator_health_page(request: Request) -> Response:
    visit = _visit(request)
    ctx = get_context(request)
    async with ctx.db.read() as conn:
        refused = await _operator(visit, conn)
        if refused is not None:
            return refused
        outbox = await operator_service.outbox_state(conn)
        connections = await gate_presence.live(conn)
    ready, checks = await health.readiness(ctx.settings, ctx.db)
    return _render(
        visit,
        "office/operator_health.html",
        {
            "section": "operator",
            "ready": ready,
            "checks": checks,
            "outbox": outbox,
            "connections": connections,
            "now": clock.now(),
        },
    )


async def _addons_view(
    visit: Visit, conn: AsyncConnection, *, status_code: int = 200, **extra: Any
) -> HTMLResponse:
    done = visit.request.query_params.get("done")
    context = {
        "section": "operator",
        "addons": await marketplace_addons.list_addons(conn),
        "limit": await marketplace_addons.strip_limit(conn),
        "max_limit": marketplace_addons.MAX_STRIP_LIMIT,
        "max_position": marketplace_addons.MAX_POSITION,
        "done": done if done in ("order", "limit", "approved", "revoked") else None,
        "error": None,
        "error_form": None,
        "typed": {},
        **extra,
    }
    return _render(visit, "office/operator_addons.html", context, status_code=status_code)


@router.get("/operator/addons")
async def operator_addons_page(request: Request) -> Response:
    visit = _visit(request)
    async with get_context(request).db.read() as conn:
        refused = await _operator(visit, conn)
        if refused is not None:
            return refused
        return await _addons_view(visit, conn)


async def _operator_post(request: Request) -> tuple[Visit, Any, Response | None]:
    """The visit and form of an operator's POST, or the answer that refuses it (no CSRF
    token: 403, no session: the log-in page, a merchant's user: 404)."""
    visit, form, refused = await _checked_post(request)
    if refused is None and (visit.user is None or visit.user.role != "operator"):
        refused = _gone(visit, "", "office.operator.not_found")
    return visit, form, refused


@router.post("/operator/addons/order")
async def operator_addons_order(request: Request) -> Response:
    """Every add-on's position from one form (fields `position_<shopId>`; empty: none)."""
    visit, form, refused = await _operator_post(request)
    if refused is not None:
        return refused
    typed = {
        key[len("position_") :]: str(value)[:8]
        for key, value in form.multi_items()
        if key.startswith("position_")
    }
    ctx = get_context(request)
    try:
        async with ctx.db.transaction() as conn:
            known = {str(a["id"]) for a in await marketplace_addons.list_addons(conn)}
            for shop_id, text in typed.items():
                if shop_id not in known:
                    continue  # gone since the page was shown: nothing to place
                position = marketplace_addons.parse_strip_number(
                    text, maximum=marketplace_addons.MAX_POSITION
                )
                await marketplace_addons.set_addon_position(conn, int(shop_id), position)
    except marketplace_addons.BadStripSetting:
        error = t("office.operator.bad_position", visit.lang, n=marketplace_addons.MAX_POSITION)
        async with ctx.db.read() as conn:
            return await _addons_view(
                visit, conn, status_code=422, error=error, error_form="order", typed=typed
            )
    return RedirectResponse("/office/operator/addons?done=order", status_code=303)


@router.post("/operator/addons/limit")
async def operator_addons_limit(request: Request) -> Response:
    visit, form, refused = await _operator_post(request)
    if refused is not None:
        return refused
    ctx = get_context(request)
    text = str(form.get("limit", ""))[:8]
    try:
        limit = marketplace_addons.parse_strip_number(
            text, maximum=marketplace_addons.MAX_STRIP_LIMIT
        )
    except marketplace_addons.BadStripSetting:
        error = t("office.operator.bad_limit", visit.lang, n=marketplace_addons.MAX_STRIP_LIMIT)
        async with ctx.db.read() as conn:
            return await _addons_view(
                visit, conn, status_code=422, error=error, error_form="limit", typed={"limit": text}
            )
    async with ctx.db.transaction() as conn:
        await marketplace_addons.set_strip_limit(conn, limit)
    return RedirectResponse("/office/operator/addons?done=limit", status_code=303)


@router.post("/operator/addons/{shop_id}/{decision}")
async def operator_addon_decision(request: Request, shop_id: str, decision: str) -> Response:
    """The operator approves or revokes an add-on (as `marketbox addon approve|revoke`)."""
    visit, _, refused = await _operator_post(request)
    if refused is not None:
        return refused
    if decision not in ("approved", "revoked") or not (
        shop_id.isascii() and shop_id.isdigit() and len(shop_id) <= 9
    ):
        return _gone(visit, "", "office.operator.not_found")
    try:
        async with get_context(request).db.transaction() as conn:
            await marketplace_addons.set_addon_status(conn, int(shop_id), decision)
    except (PointOfSaleNotFound, marketplace_addons.AddonNotAllowed):
        return _gone(visit, "", "office.operator.not_found")
    return RedirectResponse(f"/office/operator/addons?done={decision}", status_code=303)
