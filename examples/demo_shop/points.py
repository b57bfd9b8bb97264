"""The shop's points of sale, for seeding the platform's marketplace in the demo.

Each dict holds keyword arguments of `marketbox.marketplace.service.create_point_of_sale`
(besides `conn` and `merchant_id`); `mini_app` is the `miniApp` object of the marketplace API
(`url`, `origins`, `modes`, `addonRule`):

    for point in demo_points_of_sale("http://127.0.0.1:8100"):
        await marketplace_service.create_point_of_sale(conn, merchant_id=DEMO_MERCHANT_ID, **point)
"""

from __future__ import annotations

from typing import Any

from demo_shop.app import origin_of
from demo_shop.catalog import COFFEE, LOUNGE, TAXI, Service


def _mini_app(
    public_url: str, service: Service, modes: list[str], *, addon: bool
) -> dict[str, Any]:
    mini_app: dict[str, Any] = {
        "url": public_url + service.path,
        "origins": [origin_of(public_url)],
        "modes": modes,
    }
    if addon:
        # Offered on the payment page only for trips through the airports the service covers,
        # the same test the mini-app makes with matchMetaDataValues("iataCode", [...]).
        mini_app["addonRule"] = {"any": [{"key": "iataCode", "values": list(service.airports)}]}
    return mini_app


def demo_points_of_sale(shop_public_url: str) -> list[dict[str, Any]]:
    """Three points of sale served by one demo shop at `shop_public_url`, oldest first (the
    payment page offers add-ons oldest first, the marketplace lists the newest first):

    * «Такси в аэропорт»: only an add-on on the payment page (`suborder`) for SVO, VKO, DME,
      LED — the marketplace says so on its card and page;
    * «Кофейня «Взлёт»»: both, offered as an add-on for SVO and VKO;
    * «Бизнес-зал Sky Lounge»: both, a main order from the marketplace (`order` mode) and an
      add-on to a flight from SVO (`suborder`).
    """
    base = shop_public_url.rstrip("/")
    return [
        {
            "title": "Такси в аэропорт",
            "description": (
                "Машина к вашему рейсу: подача за 3 часа до вылета, 15 минут ожидания бесплатно."
            ),
            "type": "shop",
            "mini_app": _mini_app(base, TAXI, ["suborder"], addon=True),
        },
        {
            "title": "Кофейня «Взлёт»",
            "description": "Кофе и выпечка к выходу на посадку в Шереметьево и Внуково.",
            "type": "shop",
            "mini_app": _mini_app(base, COFFEE, ["order", "suborder"], addon=True),
        },
        {
            "title": "Бизнес-зал Sky Lounge",
            "description": (
                "Бизнес-зал в Шереметьево, терминал B: буфет, бар, душевые и тихая зона. "
                "Проход по электронному пропуску."
            ),
            "type": "shop",
            "registration_address": "Московская обл., Химки, аэропорт Шереметьево, терминал B",
            "lat": "55.972642",
            "lon": "37.414589",
            "mini_app": _mini_app(base, LOUNGE, ["order", "suborder"], addon=True),
        },
    ]
