"""The add-on opt-out through the SDK (a marketbox extension): a point of sale's `allow_addons`
and an order's `OrderSetting(allow_addons=...)` go out in the API's spelling and come back."""

import httpx
from sdk_support import BASE_URL, TOKEN, Recorder, envelope, reply

import marketbox_sdk as mb


def test_a_point_of_sale_turns_add_ons_off() -> None:
    shop = {"id": 12, "title": "Рейсы", "type": "shop", "allowAddons": False}
    recorder = Recorder(reply(200, envelope(shop)))
    client = mb.Client(TOKEN, base_url=BASE_URL, transport=httpx.MockTransport(recorder))

    updated = client.update_shop(12, allow_addons=False)

    assert recorder.last.url.path == "/v3/marketplace/api/shop/12"
    assert recorder.last.content == b'{"allowAddons":false}'
    assert updated.allow_addons is False


def test_an_order_setting_turns_add_ons_off() -> None:
    assert mb.OrderSetting(allow_addons=False).to_dict() == {"allowAddons": False}
    assert mb.OrderSetting.from_dict({"allowAddons": True}).allow_addons is True
