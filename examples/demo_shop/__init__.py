"""marketbox reference shop: a mini-app (frontend + backend) built only on the merchant SDK
and the official mini-app protocol.

    from demo_shop import create_shop_app, demo_points_of_sale

`create_shop_app(...)` returns an aiohttp application; `python -m demo_shop` runs it.
See docs/demo-shop.md.
"""

from demo_shop.app import ShopConfig, create_shop_app
from demo_shop.catalog import SERVICES
from demo_shop.points import demo_points_of_sale

__all__ = ["SERVICES", "ShopConfig", "create_shop_app", "demo_points_of_sale"]
