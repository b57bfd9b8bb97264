"""Marketplace pages (spec/design.md §3): home and search, point of sale, offers, buyer details.

    GET  /                          home: search (q), result count, cards, «Показать ещё» (?page=)
    GET  /marketplace/shop/{id}     point of sale; its order-mode mini-app in the host bridge;
                                    ?path=<URL on a mini-app origin> opens that URL in the frame;
                                    ?payment=<invoice> shows how its payment ended (a decline
                                    and why, or the receipt link) and sends the mini-app
                                    `paymentResult`
    GET  /marketplace/shop/{id}/frame.json   the frame's init data as it stands now (the buyer
                                    saved in the cookie), for `updateData` after the buyer
                                    edited the contact details on the page
    GET  /marketplace/offers        running special offers
    GET  /marketplace/buyer         contact details form; POST saves them in the signed cookie
    GET  /marketplace/static/{f}    the page's ES module (served by web/assets.py)

Language: ``?lang=ru|en`` (remembered in the ``lang`` cookie), else the cookie, else Russian.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import jinja2
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from marketbox import parsing
from marketbox.errors import NotFound
from marketbox.marketplace import host, miniapp, session, texts
from marketbox.marketplace import service as marketplace_service
from marketbox.payment_page import declines
from marketbox.toolkit.formatting import format_phone, register_filters
from marketbox.toolkit.i18n import register_i18n
from marketbox.web import assets
from marketbox.web import headers as web_headers
from marketbox.web.envelope import JSONResponse

router = APIRouter(include_in_schema=False)

_HERE = Path(__file__).parent
_WEB_TEMPLATES = _HERE.parent / "web" / "templates"

PAGE_SIZE = 24
MAX_PAGE = 50
MAX_QUERY = 200
OFFERS_ON_HOME = 6
LANG_COOKIE = "lang"
LANG_COOKIE_MAX_AGE = 365 * 24 * 3600

templates = jinja2.Environment(
    loader=jinja2.ChoiceLoader(
        [jinja2.FileSystemLoader(_HERE / "templates"), jinja2.FileSystemLoader(_WEB_TEMPLATES)]
    ),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    auto_reload=False,  # no stat() per render: templates change with the code (a restart)
)
register_filters(templates)
register_i18n(templates)
texts.register(templates)
templates.globals["script_json"] = host.script_json
assets.register(templates)


def _settings(request: Request) -> Any:
    return request.app.state.ctx.settings


def _db(request: Request) -> Any:
    return request.app.state.ctx.db


def page_locale(request: Request) -> tuple[str, bool]:
    """(locale, whether it came from ?lang= and should be remembered)."""
    asked = request.query_params.get("lang")
    if asked in {"ru", "en"}:
        return asked, True
    cookie = request.cookies.get(LANG_COOKIE)
    return ("en" if cookie == "en" else "ru"), False


def current_buyer(request: Request) -> session.Buyer | None:
    return session.decode(
        request.cookies.get(session.COOKIE_NAME),
        secret=_settings(request).session_secret,
        now=time.time(),
    )


def _url_with(request: Request, **params: Any) -> str:
    """The current path with its query updated (None drops a parameter)."""
    query = dict(request.query_params)
    for key, value in params.items():
        if value is None:
            query.pop(key, None)
        else:
            query[key] = str(value)
    encoded = urlencode(query)
    return f"{request.url.path}?{encoded}" if encoded else request.url.path


def _render(
    request: Request, template: str, context: dict[str, Any], *, status_code: int = 200
) -> HTMLResponse:
    lang, remember = page_locale(request)
    page = {
        "lang": lang,
        "lang_urls": {code: _url_with(request, lang=code) for code in ("ru", "en")},
        "current_path": _url_with(request, lang=None),
        **context,
    }
    response = HTMLResponse(templates.get_template(template).render(page), status_code=status_code)
    if remember:
        response.set_cookie(
            LANG_COOKIE, lang, max_age=LANG_COOKIE_MAX_AGE, httponly=True, samesite="lax"
        )
    return response


def _page_number(request: Request) -> int:
    try:
        page = parsing.parse_int(request.query_params.get("page", "1"), minimum=1)
    except parsing.ParseError:
        return 1
    return min(page, MAX_PAGE)


@router.get("/", response_class=HTMLResponse)
async def home(request: Request) -> Response:
    q = request.query_params.get("q", "").strip()[:MAX_QUERY]
    page = _page_number(request)
    # The count line is exact up to count_limit, then "more than count_limit" (a bounded count).
    count_limit = max(marketplace_service.SEARCH_COUNT_LIMIT, page * PAGE_SIZE)
    # Read-only: each statement on its own (no BEGIN/COMMIT round trips, no SQLite write lock).
    async with _db(request).read() as conn:
        # «Показать ещё» without JS: page N shows the first N pages, so nothing is lost.
        items, total = await marketplace_service.search_points_of_sale(
            conn, text=q, limit=page * PAGE_SIZE, count_limit=count_limit
        )
        offers = (
            await marketplace_service.live_special_offers(conn, limit=OFFERS_ON_HOME)
            if not q
            else []
        )
    more_url = _url_with(request, page=page + 1) if total > len(items) else None
    return _render(
        request,
        "marketplace/home.html",
        {
            "q": q,
            "items": items,
            "total": total,
            "count_limit": count_limit,
            "more_url": more_url,
            "first_new": (page - 1) * PAGE_SIZE,
            "offers": offers,
        },
    )


def _not_found(request: Request) -> HTMLResponse:
    return _render(request, "marketplace/not_found.html", {}, status_code=404)


@router.get("/marketplace/shop/{shop_id}", response_class=HTMLResponse)
async def point_of_sale(request: Request, shop_id: str) -> Response:
    try:
        pos_id = parsing.parse_int(shop_id, minimum=1, maximum=parsing.INT32_MAX)
    except parsing.ParseError:
        return _not_found(request)
    payment = None
    async with _db(request).read() as conn:
        pos = await marketplace_service.public_point_of_sale(conn, pos_id)
        # ?payment=<invoice>: the payment page sent the buyer back here (payment_page/views.py
        # _back_to_shop); say how the payment ended and hand it to the mini-app.
        payment_id = request.query_params.get("payment")
        if pos is not None and pos.has_order_app and payment_id:
            payment = await declines.outcome(conn, payment_id, shop_id=pos.id)
    if pos is None:
        return _not_found(request)
    lang, _ = page_locale(request)
    buyer = current_buyer(request)
    frame = None
    if pos.has_order_app:
        app = pos.mini_app or {}
        url = app["url"]
        # miniapps.md §6.1 [inferred]: a successUrl on the mini-app's origin reopens in the shell.
        path = request.query_params.get("path")
        if path and miniapp.frame_url_allowed(path, app):
            url = path
        frame = host.frame_config(
            url=url,
            origins=app["origins"],
            mode="order",
            shop_id=pos.id,
            title=pos.title,
            locale=lang,
            buyer=buyer,
            payment_url_prefix=_settings(request).payment_url_prefix,
            launch_keys=pos.launch_keys,
        )
    if frame is not None and payment is not None:
        frame["paymentResult"] = payment.result
    response = _render(
        request,
        "marketplace/point_of_sale.html",
        {"pos": pos, "frame": frame, "buyer": buyer, "payment": payment},
    )
    if frame is not None:
        # The default page policy frames nothing but our own pages: add the mini-app's origins.
        policy = web_headers.content_security_policy(
            frame_sources=(pos.mini_app or {}).get("origins", ()),
            image_sources=web_headers.PAGE_IMAGE_SOURCES,
        )
        response.headers.update(web_headers.html_headers(policy))
    return response


def buyer_summary(buyer: session.Buyer | None) -> str:
    """The buyer card's line: «Анна · anna@example.org · +7 900 555-66-77», "" when empty."""
    if buyer is None:
        return ""
    return " · ".join(part for part in (buyer.name, buyer.email, format_phone(buyer.phone)) if part)


@router.get("/marketplace/shop/{shop_id}/frame.json")
async def frame_data(request: Request, shop_id: str) -> Response:
    """The order-mode frame's init data now (`host.frame_config`, the buyer from the cookie)
    and the buyer card's line; pos-page.js sends the init data as `updateData` after the buyer
    saved new contact details without leaving the page. 404 (the API's envelope) for a point
    of sale without an order-mode mini-app."""
    try:
        pos_id = parsing.parse_int(shop_id, minimum=1, maximum=parsing.INT32_MAX)
    except parsing.ParseError:
        pos_id = None
    pos = None
    if pos_id is not None:
        async with _db(request).read() as conn:
            pos = await marketplace_service.public_point_of_sale(conn, pos_id)
    if pos is None or not pos.has_order_app:
        raise NotFound("No point of sale with an order-mode mini-app")
    lang, _ = page_locale(request)
    buyer = current_buyer(request)
    app = pos.mini_app or {}
    frame = host.frame_config(
        url=app["url"],
        origins=app["origins"],
        mode="order",
        shop_id=pos.id,
        title=pos.title,
        locale=lang,
        buyer=buyer,
        payment_url_prefix=_settings(request).payment_url_prefix,
        launch_keys=pos.launch_keys,
    )
    body = {"initData": frame["initData"], "buyer": buyer_summary(buyer)}
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


@router.get("/marketplace/offers", response_class=HTMLResponse)
async def offers_page(request: Request) -> Response:
    async with _db(request).read() as conn:
        offers = await marketplace_service.live_special_offers(conn)
    return _render(request, "marketplace/offers.html", {"offers": offers})


def _safe_next(value: str | None) -> str:
    """Only a local path may follow the form (no open redirect)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return "/"
    return value


@router.get("/marketplace/buyer", response_class=HTMLResponse)
async def buyer_form(request: Request) -> Response:
    buyer = current_buyer(request) or session.Buyer()
    return _render(
        request,
        "marketplace/buyer.html",
        {
            "buyer": buyer,
            "errors": {},
            "next": _safe_next(request.query_params.get("next")),
        },
    )


def _same_origin(request: Request) -> bool:
    """A cross-site form must not overwrite the buyer's details (a light CSRF check)."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    own = {f"{request.url.scheme}://{request.url.netloc}", _settings(request).public_base}
    return origin in own


@router.post("/marketplace/buyer", response_class=HTMLResponse)
async def save_buyer(request: Request) -> Response:
    if not _same_origin(request):
        return HTMLResponse("Forbidden", status_code=403)
    form = await request.form()
    next_url = _safe_next(str(form.get("next") or "/"))
    if form.get("forget"):
        response = RedirectResponse(next_url, status_code=303)
        response.delete_cookie(session.COOKIE_NAME)
        return response
    buyer, errors = session.clean(
        str(form.get("name") or ""), str(form.get("email") or ""), str(form.get("phone") or "")
    )
    if errors:
        entered = session.Buyer(
            name=str(form.get("name") or ""),
            email=str(form.get("email") or ""),
            phone=str(form.get("phone") or ""),
        )
        return _render(
            request,
            "marketplace/buyer.html",
            {"buyer": entered, "errors": errors, "next": next_url},
            status_code=422,
        )
    response = RedirectResponse(next_url, status_code=303)
    settings = _settings(request)
    response.set_cookie(
        session.COOKIE_NAME,
        session.encode(buyer, secret=settings.session_secret, now=time.time()),
        max_age=session.MAX_AGE_SECONDS,
        httponly=True,
        samesite="lax",
        secure=settings.mode == "production",
    )
    return response
