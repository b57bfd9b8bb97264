"""`marketbox demo`: the whole flow on one machine, in one process.

Migrates and seeds an SQLite database (the demo merchant, three points of sale served by the
reference shop, one flight order to try add-ons on), then runs the platform (API, payment page,
marketplace, dispatcher) and the demo shop on its own origin, and prints where to go.
Ctrl-C stops everything.
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.engine import make_url

from marketbox import clock
from marketbox.cli.database import open_database
from marketbox.cli.errors import CommandError
from marketbox.cli.serving import listen, local_url, make_server
from marketbox.config import Settings
from marketbox.merchants.service import DEMO_MERCHANT_ID, DEMO_SIGNING_KEY, DEMO_TOKEN, get_merchant
from marketbox.office.service import DEMO_EMAIL, DEMO_PASSWORD
from marketbox.playground import samples

# The demo's flight invoice, the add-on services' rules match it (spec/miniapps.md §5).
FLIGHT_META_DATA = samples.flight("ABC123", "Petr Petrov")


def run_demo(args: argparse.Namespace, settings: Settings) -> int:
    try:
        import demo_shop
    except ModuleNotFoundError as exc:
        raise CommandError("the demo shop is not installed: run scripts/install first") from exc
    if args.port == args.shop_port:
        raise CommandError(
            f"--port and --shop-port are both {args.port}: give them different ports"
        )
    # The demo always serves its own links: it runs on this machine, whatever the environment.
    settings = settings.model_copy(
        update={"public_url": local_url(args.host, args.port), "mode": "sandbox"}
    )
    try:
        asyncio.run(_serve(settings, args, local_url(args.host, args.shop_port), demo_shop))
    except KeyboardInterrupt:
        pass
    print("marketbox: demo stopped")
    return 0


async def _seed(settings: Settings, shop_url: str, demo_shop: Any) -> str:
    """Points of sale (once) and a fresh flight order; returns the flight's payment URL."""
    from marketbox.marketplace import service as marketplace
    from marketbox.orders import service as orders_service
    from marketbox.orders.schemas import CreateOrderRequest

    async with open_database(settings) as db:
        async with db.transaction() as conn:
            points, _ = await marketplace.search_points_of_sale(conn, text=None, limit=1000)
            existing = {p.title for p in points}
            for point in demo_shop.demo_points_of_sale(shop_url):
                if point["title"] in existing:
                    continue
                await marketplace.create_point_of_sale(
                    conn, merchant_id=DEMO_MERCHANT_ID, public_base=settings.public_base, **point
                )
            merchant = await get_merchant(conn, DEMO_MERCHANT_ID)
            assert merchant is not None
            price = Decimal("12480.00")
            stamp = clock.now().strftime("%Y%m%d%H%M%S")
            flight = CreateOrderRequest.model_validate(
                {
                    "merchantId": DEMO_MERCHANT_ID,
                    "merchantOrderId": f"FLIGHT-{stamp}",
                    "description": "Авиабилет Москва — Санкт-Петербург, SU1234",
                    "amount": price,
                    "vatAmount": Decimal(0),
                    "currencyId": "RUB",
                    "languageId": "ru",
                    "expirationDate": (clock.now() + timedelta(days=1)).isoformat(),
                    "metaData": FLIGHT_META_DATA,
                    "customer": {"type": "private", "name": "Пётр Петров"},
                    "basketItems": [
                        {
                            "sku": "SU1234-Y",
                            "name": "Авиабилет SVO — LED, 1 августа, эконом",
                            "measure": "шт.",
                            "measureCode": "796",
                            "quantity": 1,
                            "amount": price,
                            "amountWoVat": price,
                            "totalAmount": price,
                            "totalVatAmount": Decimal(0),
                            "vatCode": "VATNONE",
                            "type": "service",
                            "paymentType": "full_prepayment",
                        }
                    ],
                }
            )
            order = await orders_service.create_order(
                conn, merchant=merchant, request=flight, settings=settings
            )
        return str(order["paymentUrl"])


async def _serve(
    settings: Settings, args: argparse.Namespace, shop_url: str, demo_shop: Any
) -> None:
    from aiohttp import web

    from marketbox.app import create_app

    flight_url = await _seed(settings, shop_url, demo_shop)
    platform_sockets = listen(args.host, args.port)
    shop_sockets = listen(args.host, args.shop_port, option="--shop-port")
    shop_app = demo_shop.create_shop_app(
        platform_url=settings.public_base,
        token=DEMO_TOKEN,
        merchant_id=DEMO_MERCHANT_ID,
        signing_key=DEMO_SIGNING_KEY,
        public_url=shop_url,
        platform_origins=[settings.public_base],
    )
    runner = web.AppRunner(shop_app, access_log=None)
    try:
        await runner.setup()
        for sock in shop_sockets:
            await web.SockSite(runner, sock).start()
        try:  # MARKETBOX_COMPANY_LOOKUP names a module to import
            app = create_app(settings, run_worker=True, migrate=False)
        except ValueError as exc:
            raise CommandError(f"invalid configuration: {exc}") from exc
        server = make_server(
            app,
            lambda: print(banner(settings, shop_url, flight_url), flush=True),
            settings.log_format,
        )
        await server.serve(sockets=platform_sockets)
        if not server.started:
            raise CommandError("the platform did not start (the reason is logged above)")
    finally:
        await runner.cleanup()
        for sock in platform_sockets + shop_sockets:
            sock.close()


def banner(settings: Settings, shop_url: str, flight_url: str) -> str:
    """Where to go, printed once the platform answers; every URL in it answers too."""
    base = settings.public_base
    database = make_url(settings.database_url).render_as_string(hide_password=True)
    return "\n".join(
        [
            "",
            "marketbox demo is running (Ctrl-C to stop)",
            f"  Marketplace        {base}/",
            "                     open «Бизнес-зал Sky Lounge», order, pay with the test",
            "                     card 4242 4242 4242 4242 (any future date, any CVC)",
            f"  Add-on services    {flight_url}",
            "                     a flight from SVO: add «Бизнес-зал Sky Lounge», «Такси в",
            "                     аэропорт» or «Кофейня «Взлёт»» and pay them all at once",
            f"  Demo shop          {shop_url}/  (the mini-app's own origin)",
            f"  API                the demo merchant's token is {DEMO_TOKEN}; its orders:",
            f"                     curl -H 'Authorization: Bearer {DEMO_TOKEN}' "
            f"{base}/v3/filter/api/order/order",
            f"  API reference      {base}/docs  (OpenAPI document: {base}/openapi.json)",
            f"  Playground         {base}/playground",
            "                     open any mini-app URL in the host frame: every protocol",
            "                     message and a verdict on each rule (docs/miniapps.md)",
            f"  Merchant office    {base}/office",
            f"                     log in as {DEMO_EMAIL} with the password «{DEMO_PASSWORD}»:",
            "                     orders, notifications, mail, settings, the sandbox panel",
            f"  Database           {database}",
            "",
        ]
    )
