"""The configuration a page hands to the host bridge (``/static/miniapp/bridge.js``).

A page renders ``frame_config(...)`` into ``<script type="application/json">`` (see
``script_json``); its ES module parses it and passes it to ``openMiniApp`` almost as is:

    {
      "url": "https://shop.example/app",        iframe URL (the bridge adds ?id=<frame id>)
      "origins": ["https://shop.example"],      the only origins messages are accepted from
      "mode": "order" | "suborder",
      "fullHeight": true | false,               true in order mode
      "title": "Кофейня",                       iframe title «Приложение: Кофейня»
      "locale": "ru" | "en",
      "paymentUrlPrefix": "https://pay.example/order/",   done/checkout URLs must be this + UUID
      "initData": {"public": {...}, "private": {"metaData": [...]}}   (protocol.build_init_data)
    }

``public.signedLaunchData`` is the launch data signed with the point of sale's own secret
(``launch_keys``, miniapp_host/launch.py), so every host path that builds its frames here is
signed.

The payment page builds its add-on frames (suborder mode) with the same function, passing
``order_container_id`` and ``meta_data=await addons.container_meta_data(...)``
(``payment_page/addons.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from markupsafe import Markup

from marketbox import jsonutil
from marketbox.marketplace.session import Buyer
from marketbox.miniapp_host import launch, protocol


def frame_config(
    *,
    url: str,
    origins: Sequence[str],
    mode: str,
    shop_id: int,
    title: str,
    locale: str,
    buyer: Buyer | None,
    payment_url_prefix: str,
    launch_keys: launch.LaunchKeys | None,
    order_container_id: str | None = None,
    meta_data: Iterable[Any] = (),
) -> dict[str, Any]:
    """The bridge configuration of one frame. With the point of sale's `launch_keys` its init
    data carries ``public.signedLaunchData`` (miniapp_host/launch.py); the keys themselves never
    leave the server. `launch_keys` has no default, so no host path can forget to sign (None
    only for a point of sale without a secret)."""
    buyer = buyer or Buyer()
    init_data = protocol.build_init_data(
        shop_id=shop_id,
        user_name=buyer.name,
        user_email=buyer.email,
        user_phone=buyer.phone,
        locale=locale,
        mode=mode,
        order_container_id=order_container_id,
        meta_data=meta_data,
        launch_keys=launch_keys,
    )
    return {
        "url": url,
        "origins": list(origins),
        "mode": str(protocol.MiniAppMode(mode)),
        "fullHeight": init_data["public"]["fullHeight"],
        "title": title,
        "locale": locale,
        "paymentUrlPrefix": payment_url_prefix,
        "initData": init_data,
    }


def script_json(value: Any) -> Markup:
    """JSON safe inside ``<script type="application/json">``: exact Decimals, and ``<``, ``>``,
    ``&`` and the JS line separators escaped so the text cannot close the element."""
    text = jsonutil.dumps(value).decode()
    for char, escape in (
        ("&", "\\u0026"),
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escape)
    return Markup(text)
