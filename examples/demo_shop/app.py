"""The shop's web app (aiohttp): its pages, its small JSON API and the notification callback.

    GET  /  /taxi/  /coffee/          mini-app screens of the three services (skeleton first)
    GET  /success?order=…  /fail?order=…   where the payment page sends the buyer back
    GET  /terms                       a page opened through the host (`onLink`)
    GET  /api/catalog/{service}       prices and options (money as decimal strings)
    POST /api/orders                  create the platform order -> {"data": {"url", "method"}};
                                      only with signed launch data that verifies (launch.py),
                                      else 403 {"error": {"code": "launch_data_…", "message"}}
    GET  /api/orders/{merchantOrderId}   the order as the shop knows it (success screen polls)
    POST /api/orders/{merchantOrderId}/refund   refund the paid order in full (the order page's
                                      button; the unguessable id is the buyer's only credential
                                      in this demo: a real shop would check who asks)
    POST /api/invoicebox/notify       payment notifications (verified by the SDK receiver)
    GET  /static/…                    shop.js, status.js, common.js, shop.css, minapp-client.js

Every response carries `Content-Security-Policy` with `frame-ancestors 'self' <platform
origins>` (spec/miniapps.md §2.2) and never `X-Frame-Options`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from aiohttp import web

from demo_shop import orders, pages
from demo_shop.catalog import SERVICES, SelectionError, catalogue_json
from demo_shop.launch import LaunchVerifier
from demo_shop.store import OrderStore, ShopOrder
from marketbox_sdk import (
    AsyncClient,
    InvoiceboxError,
    LaunchDataError,
    NotificationReceiver,
    TransportError,
)

log = logging.getLogger("demo_shop")
STATIC_DIR = Path(__file__).parent / "static"
USER_AGENT = "marketbox-demo-shop/0.1"


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        raise ValueError(f"not an absolute URL: {url!r}")
    return f"{parts.scheme}://{parts.netloc}"


def default_minapp_client_path() -> Path:
    """The platform's mini-app client, served as is (one copy in the tree: the marketbox one)."""
    import marketbox

    return Path(marketbox.__file__).parent / "miniapp_host" / "static" / "minapp-client.js"


@dataclasses.dataclass(frozen=True)
class ShopConfig:
    platform_url: str
    token: str
    merchant_id: str
    signing_key: str
    public_url: str
    platform_origins: tuple[str, ...]
    sign_algorithm: str = "sha1"
    db_path: str = ":memory:"
    minapp_client_path: Path | None = None

    @property
    def base_path(self) -> str:
        """The path prefix of `public_url` (empty when the shop sits at the root)."""
        return urlsplit(self.public_url).path.rstrip("/")

    @property
    def frame_ancestors(self) -> str:
        return " ".join(("'self'", *self.platform_origins))

    @property
    def content_security_policy(self) -> str:
        return (
            "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
            f"form-action 'self'; frame-ancestors {self.frame_ancestors}"
        )


CONFIG = web.AppKey("config", ShopConfig)
STORE = web.AppKey("store", OrderStore)
CLIENT = web.AppKey("client", AsyncClient)
RECEIVER = web.AppKey("receiver", NotificationReceiver)
LAUNCH = web.AppKey("launch", LaunchVerifier)


def _dumps(data: Any) -> str:
    # Money goes out as decimal strings ("1200.00"): the frontend counts in kopecks, never floats.
    return json.dumps(
        data, ensure_ascii=False, default=lambda v: str(v) if isinstance(v, Decimal) else v
    )


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=_dumps)


def _error(status: int, code: str, message: str) -> web.Response:
    return _json({"error": {"code": code, "message": message}}, status=status)


# -- pages ------------------------------------------------------------------------------------


def _origins(config: ShopConfig) -> list[str]:
    return list(config.platform_origins)


def service_page(service_key: str):  # type: ignore[no-untyped-def]
    async def handler(request: web.Request) -> web.Response:
        config = request.app[CONFIG]
        html = pages.service_page(
            SERVICES[service_key], base=config.base_path, parent_origins=_origins(config)
        )
        return web.Response(text=html, content_type="text/html")

    return handler


def _order_param(request: web.Request) -> tuple[str, ShopOrder | None]:
    order_id = request.query.get("order", "")[:100]
    return order_id, request.app[STORE].get(order_id) if order_id else None


async def success_page(request: web.Request) -> web.Response:
    config = request.app[CONFIG]
    order_id, order = _order_param(request)
    html = pages.success_page(
        order_id,
        lang=order.locale if order else "ru",
        base=config.base_path,
        parent_origins=_origins(config),
    )
    return web.Response(text=html, content_type="text/html")


async def fail_page(request: web.Request) -> web.Response:
    config = request.app[CONFIG]
    order_id, order = _order_param(request)
    path = SERVICES[order.service].path if order else "/"
    html = pages.fail_page(
        order_id,
        lang=order.locale if order else "ru",
        base=config.base_path,
        parent_origins=_origins(config),
        change_href=f"{config.base_path}{path}",
    )
    return web.Response(text=html, content_type="text/html")


async def terms_page(request: web.Request) -> web.Response:
    html = pages.terms_page(base=request.app[CONFIG].base_path)
    return web.Response(text=html, content_type="text/html")


async def minapp_client(request: web.Request) -> web.StreamResponse:
    path = request.app[CONFIG].minapp_client_path or default_minapp_client_path()
    if not path.is_file():
        log.error("minapp-client.js not found at %s", path)
        raise web.HTTPNotFound(text="minapp-client.js is missing")
    return web.FileResponse(path, headers={"Content-Type": "text/javascript; charset=utf-8"})


# -- API --------------------------------------------------------------------------------------


async def catalogue(request: web.Request) -> web.Response:
    service = SERVICES.get(request.match_info["service"])
    if service is None:
        return _error(404, "not_found", "unknown service")
    return _json({"data": catalogue_json(service)})


async def create_order(request: web.Request) -> web.Response:
    config = request.app[CONFIG]
    try:
        data = json.loads(await request.read(), parse_float=Decimal)
        order_request = orders.parse_order_request(data)
        # Only what the platform signed is trusted (launch.py): buyer, shopId, container.
        launch = await request.app[LAUNCH].verify(
            request.app[CLIENT], order_request.signed_launch_data
        )
        order_request = orders.with_launch(order_request, launch)
        created = await orders.create_order(
            client=request.app[CLIENT],
            store=request.app[STORE],
            request=order_request,
            merchant_id=config.merchant_id,
            public_url=config.public_url.rstrip("/"),
        )
    except LaunchDataError as exc:
        log.warning("launch data refused: %s %s", exc.code, exc.message)
        return _error(403, exc.code or "launch_data_invalid", exc.message)
    except (ValueError, SelectionError) as exc:
        return _error(422, "invalid_selection", str(exc))
    except TransportError as exc:
        log.warning("platform unreachable: %s", exc)
        return _error(502, "platform_unreachable", "The payment platform is unreachable")
    except InvoiceboxError as exc:
        log.warning("platform refused the order: %s %s", exc.code, exc.message)
        return _error(502, exc.code or "platform_error", exc.message or "Order creation failed")
    return _json(
        {
            "data": {
                "url": created.payment_url,
                "method": "GET",
                "merchantOrderId": created.merchant_order_id,
            }
        }
    )


def order_json(order: ShopOrder) -> dict[str, Any]:
    service = SERVICES[order.service]
    return {
        "merchantOrderId": order.merchant_order_id,
        "number": order.number,
        "service": order.service,
        "servicePath": service.path,
        "title": service.title,
        "mode": order.mode,
        "status": order.status,
        "locale": order.locale,
        "amount": order.amount,
        "currency": order.currency,
        "lines": order.lines,
        "paidAt": order.paid_at,
        "createdAt": order.created_at,
        # Offered for «Попробовать снова» only while the order can still be paid.
        "paymentUrl": order.payment_url if order.status == "created" else None,
        "refundable": order.refundable,
        "refund": (
            {"status": order.refund_status, "amount": order.refund_amount}
            if order.refund_id
            else None
        ),
        "shipment": (
            {"status": order.shipment_status, "documentNumber": order.number}
            if order.shipment_id
            else None
        ),
    }


async def order_status(request: web.Request) -> web.Response:
    order = request.app[STORE].get(request.match_info["merchant_order_id"])
    if order is None:
        return _error(404, "not_found", "unknown order")
    return _json({"data": order_json(order)})


async def refund(request: web.Request) -> web.Response:
    store = request.app[STORE]
    merchant_order_id = request.match_info["merchant_order_id"]
    try:
        await orders.refund_order(
            client=request.app[CLIENT], store=store, merchant_order_id=merchant_order_id
        )
    except LookupError:
        return _error(404, "not_found", "unknown order")
    except orders.RefundRefused as exc:
        return _error(409, "not_refundable", str(exc))
    except TransportError as exc:
        log.warning("platform unreachable: %s", exc)
        return _error(502, "platform_unreachable", "The payment platform is unreachable")
    except InvoiceboxError as exc:
        log.warning("platform refused the refund: %s %s", exc.code, exc.message)
        return _error(502, exc.code or "platform_error", exc.message or "Refund failed")
    order = store.get(merchant_order_id)
    assert order is not None
    return _json({"data": order_json(order)})


async def notify(request: web.Request) -> web.Response:
    # The reply is always HTTP 200; its body says success or error (notifications.md §5).
    reply = await request.app[RECEIVER].handle_async(await request.read(), request.headers)
    return web.json_response(reply)


# -- app --------------------------------------------------------------------------------------


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    config = request.app[CONFIG]
    response.headers["Content-Security-Policy"] = config.content_security_policy
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "strict-origin-when-cross-origin"
    response.headers.pop("X-Frame-Options", None)
    if request.path.startswith(("/api/", "/success", "/fail")):
        response.headers["Cache-Control"] = "no-store"
    elif request.path.startswith("/static/"):
        response.headers["Cache-Control"] = "no-cache"


def create_shop_app(
    *,
    platform_url: str,
    token: str,
    merchant_id: str,
    signing_key: str,
    public_url: str,
    platform_origins: Sequence[str] | None = None,
    sign_algorithm: str = "sha1",
    db_path: str = ":memory:",
    platform_transport: httpx.AsyncBaseTransport | None = None,
    minapp_client_path: Path | None = None,
) -> web.Application:
    """The shop as an aiohttp application.

    `platform_url`: base URL of the platform API (the SDK's `base_url`); `token`,
    `merchant_id`, `signing_key`: the merchant's credentials (the token never leaves the
    backend); `public_url`: where buyers and the platform reach this shop; `platform_origins`:
    the origins allowed to frame it (default: the origin of `platform_url`); `db_path`: the
    SQLite file of the shop's orders (default: in memory); `platform_transport`: an httpx
    transport for the SDK (tests may pass `httpx.ASGITransport(app=platform_app)`).
    """
    origins = tuple(origin_of(o) for o in (platform_origins or [platform_url]))
    config = ShopConfig(
        platform_url=platform_url.rstrip("/"),
        token=token,
        merchant_id=merchant_id,
        signing_key=signing_key,
        public_url=public_url.rstrip("/"),
        platform_origins=origins,
        sign_algorithm=sign_algorithm,
        db_path=db_path,
        minapp_client_path=minapp_client_path,
    )
    app = web.Application(client_max_size=64 * 1024)
    app[CONFIG] = config
    store = OrderStore(db_path)
    app[STORE] = store
    app[LAUNCH] = LaunchVerifier()
    app[RECEIVER] = NotificationReceiver(
        key=signing_key,
        merchant_id=merchant_id,
        handler=lambda n: orders.record_notification(store, app[CLIENT], n),
        algorithm=sign_algorithm,
    )

    async def platform_client(app: web.Application) -> AsyncIterator[None]:
        app[CLIENT] = AsyncClient(
            token,
            base_url=config.platform_url,
            transport=platform_transport,
            user_agent=USER_AGENT,
        )
        yield
        await app[CLIENT].aclose()
        store.close()

    app.cleanup_ctx.append(platform_client)
    app.on_response_prepare.append(_security_headers)
    for key, service in SERVICES.items():
        app.router.add_get(service.path, service_page(key))
    app.router.add_get("/success", success_page)
    app.router.add_get("/fail", fail_page)
    app.router.add_get("/terms", terms_page)
    app.router.add_get("/api/catalog/{service}", catalogue)
    app.router.add_post("/api/orders", create_order)
    app.router.add_get("/api/orders/{merchant_order_id}", order_status)
    app.router.add_post("/api/orders/{merchant_order_id}/refund", refund)
    app.router.add_post("/api/invoicebox/notify", notify)
    app.router.add_get("/static/minapp-client.js", minapp_client)
    app.router.add_static("/static", STATIC_DIR)
    return app
