"""The mini-app host bridge (static/bridge.js) in headless Chromium, against mini-apps on other
origins: our client (minapp-client.js), hand-written protocol pages, a hostile page, and a mini-app
bundled from the official npm SDK. Spec: spec/miniapps.md §3 and its addenda."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from playwright.sync_api import Browser, Frame, Page, sync_playwright

from marketbox.miniapp_host.protocol import build_init_data
from tests.browser.bridge_support import (
    BROWSER_MARKS,
    CHROMIUM_ARGS,
    Sites,
    build_npm_miniapp,
    chromium_path,
    start_sites,
)

pytestmark = BROWSER_MARKS

CONTAINER_ID = "0190f0a1-0000-7000-8000-0000000000c1"
OTHER_CONTAINER_ID = "0190f0a1-0000-7000-8000-0000000000c2"
FLIGHT_META = {
    "@type": "ReservationPackage",
    "subReservation": [
        {
            "@type": "FlightReservation",
            "reservationFor": {
                "@type": "Flight",
                "flightNumber": "SU1234",
                "departureAirport": {"@type": "Airport", "iataCode": "SVO"},
                "departureTime": "2024-08-01T10:00:00+03:00",
            },
        }
    ],
}
TIMEOUT_MS = 10_000


# --- fixtures ----------


@pytest.fixture(scope="module")
def sites() -> Iterator[Sites]:
    started = start_sites()
    yield started
    started.close()


@pytest.fixture(scope="module")
def bridge_browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(bridge_browser: Browser, sites: Sites) -> Iterator[Page]:
    context = bridge_browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto(sites.host.url("/host.html"))
    page.wait_for_function("window.__hostReady === true")
    yield page
    context.close()


# --- helpers ----------


def init_data(mode: str, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "shop_id": 42,
        "user_name": "Anna Smirnova",
        "user_email": "anna@example.org",
        "user_phone": "+79005556677",
        "locale": "ru",
        "mode": mode,
    }
    if mode == "suborder":
        values["order_container_id"] = CONTAINER_ID
        values["meta_data"] = [FLIGHT_META]
    values.update(overrides)
    return dict(build_init_data(**values))


def open_frame(
    page: Page,
    sites: Sites,
    url: str,
    *,
    name: str = "a",
    mode: str = "suborder",
    data: dict[str, Any] | None = None,
    **options: Any,
) -> str:
    config = {
        "url": url,
        "origins": [sites.app.origin],
        "mode": mode,
        "initData": data or init_data(mode),
        "paymentUrlPrefix": sites.payment_url_prefix,
        "title": "Аэроэкспресс",
        "container": '[data-slot="small"]' if mode == "suborder" else '[data-slot="main"]',
        **options,
    }
    frame_id: str = page.evaluate("([name, config]) => window.__open(name, config)", [name, config])
    return frame_id


def events(page: Page, type_: str, name: str | None = "a") -> list[list[Any]]:
    """Arguments of every recorded callback of `type_` (for frame `name`)."""
    return page.evaluate(
        "([t, n]) => window.__events.filter((e) => e.type === t && (n === null || e.frame === n))"
        ".map((e) => e.args)",
        [type_, name],
    )


def logs(page: Page, name: str = "a") -> list[str]:
    return [args[0]["message"] for args in events(page, "log", name)]


def wait_event(page: Page, type_: str, name: str | None = "a", count: int = 1) -> list[list[Any]]:
    page.wait_for_function(
        "([t, n, c]) => window.__events.filter("
        "(e) => e.type === t && (n === null || e.frame === n)).length >= c",
        arg=[type_, name, count],
    )
    return events(page, type_, name)


def wait_log(page: Page, pattern: str, name: str = "a") -> None:
    page.wait_for_function(
        "([p, n]) => window.__events.some((e) => e.type === 'log' && e.frame === n"
        " && new RegExp(p).test(e.args[0].message))",
        arg=[pattern, name],
    )


def child(page: Page, name: str = "a") -> Frame:
    element = page.evaluate_handle("(n) => window.__handles[n].iframe", name).as_element()
    assert element is not None
    frame = element.content_frame()
    assert frame is not None
    return frame


def iframe_height(page: Page, name: str = "a") -> str:
    return page.evaluate("(n) => window.__handles[n].iframe.style.height", name)


def payment_url(sites: Sites, container_id: str = CONTAINER_ID) -> str:
    return sites.payment_url_prefix + container_id


def ready_client(page: Page, sites: Sites, *, mode: str = "suborder", **options: Any) -> Frame:
    """Open app.html (our client, v2) and wait until it has its init data."""
    open_frame(page, sites, sites.app.url("/app.html"), mode=mode, **options)
    wait_event(page, "ready")
    frame = child(page)
    frame.wait_for_function("document.body.dataset.ready === 'true'")
    return frame


def child_post(frame: Frame, expression: str) -> None:
    frame.evaluate(f"() => {{ {expression}; }}")


# --- embedding ----------


def test_iframe_attributes_and_frame_id(page: Page, sites: Sites) -> None:
    frame_id = open_frame(page, sites, sites.app.url("/raw.html?init=0&x=a%20b#frag"))

    attrs = page.evaluate(
        """() => {
          const f = window.__handles.a.iframe;
          const names = f.getAttributeNames().sort();
          return {names, src: f.src, sandbox: f.getAttribute('sandbox'),
                  allow: f.getAttribute('allow'),
                  title: f.title, referrer: f.getAttribute('referrerpolicy'),
                  border: f.style.borderStyle || f.style.borderWidth, width: f.style.width,
                  state: window.__handles.a.element.dataset.miniappState};
        }"""
    )

    assert re.fullmatch(r"[0-9a-f]{32}", frame_id)
    assert attrs["src"] == sites.app.url(f"/raw.html?init=0&x=a%20b&id={frame_id}#frag")
    assert attrs["sandbox"] == (
        "allow-scripts allow-same-origin allow-forms allow-popups allow-popups-to-escape-sandbox"
    )
    assert "allow-top-navigation" not in attrs["sandbox"]
    assert attrs["allow"] == "payment"
    assert attrs["title"] == "Приложение: Аэроэкспресс"
    assert attrs["referrer"]
    assert attrs["width"] == "100%"
    assert attrs["state"] == "loading"
    assert attrs["border"] in ("none", "0px")


def test_an_existing_id_parameter_is_replaced(page: Page, sites: Sites) -> None:
    frame_id = open_frame(page, sites, sites.app.url("/raw.html?id=spoofed&init=0"))

    src = page.evaluate("() => window.__handles.a.iframe.src")

    assert parse_qs(urlsplit(src).query)["id"] == [frame_id]


def test_every_opening_gets_a_fresh_id(page: Page, sites: Sites) -> None:
    first = open_frame(page, sites, sites.app.url("/raw.html?init=0"), name="a")
    second = open_frame(page, sites, sites.app.url("/raw.html?init=0"), name="b")

    assert first != second


# --- handshake ----------


def test_order_mode_handshake_delivers_buyer_data_without_container(
    page: Page, sites: Sites
) -> None:
    data = init_data("order")

    frame = ready_client(page, sites, mode="order", data=data)

    received = frame.evaluate("() => window.__received[0].data")
    assert received == data["public"]
    assert received["minappType"] == "order"
    assert received["fullHeight"] is True
    assert "orderContainerId" not in received
    assert frame.evaluate("() => window.__client.getMetaDataValues('iataCode')") == []
    ready = events(page, "ready")
    assert ready[0][0]["version"] == 2
    # Full height: the frame fills its 600 px slot and the skeleton is gone.
    page.locator("[data-miniapp-skeleton]").wait_for(state="hidden")
    assert page.evaluate("() => window.__handles.a.iframe.getBoundingClientRect().height") == 600
    assert page.evaluate("() => window.__handles.a.element.dataset.miniappState") == "ready"


def test_suborder_mode_handshake_delivers_container_and_metadata(page: Page, sites: Sites) -> None:
    data = init_data("suborder")

    frame = ready_client(page, sites, data=data)

    received = frame.evaluate("() => window.__received[0].data")
    assert received == data["public"]
    assert received["orderContainerId"] == CONTAINER_ID
    assert received["fullHeight"] is False
    assert frame.evaluate(
        "() => window.__client.matchMetaDataValues('iataCode', ['VKO', 'DME', 'SVO'])"
    )
    assert not frame.evaluate("() => window.__client.matchMetaDataValues('iataCode', ['LED'])")
    assert frame.evaluate(
        "() => window.__client.getMetaDataValues(['flightNumber', 'departureTime'])"
    ) == ["SU1234", "2024-08-01T10:00:00+03:00"]


def test_client_with_parent_origin_completes_the_handshake(page: Page, sites: Sites) -> None:
    url = sites.app.url("/app.html?parent=" + quote(sites.host.origin, safe=""))
    open_frame(page, sites, url)

    wait_event(page, "ready")
    frame = child(page)
    frame.wait_for_function("document.body.dataset.ready === 'true'")
    child_post(frame, "window.__client.onDone(null)")

    assert wait_event(page, "done") == [[None]]


def test_every_init_is_answered_and_the_version_is_recorded(page: Page, sites: Sites) -> None:
    frame_id = open_frame(page, sites, sites.app.url("/raw.html"))
    wait_event(page, "ready")
    frame = child(page)

    child_post(frame, "window.__post({id: window.__id, action: 'init', version: 2})")
    ready = wait_event(page, "ready", count=2)
    frame.wait_for_function("window.__received.length === 2")

    received = frame.evaluate("() => window.__received")
    assert [r["data"]["action"] for r in received] == ["init", "init"]
    assert all(r["data"]["id"] == frame_id for r in received)
    assert all(r["origin"] == sites.host.origin for r in received)
    assert received[0]["data"]["data"] == init_data("suborder")
    assert [r[0]["version"] for r in ready] == [1, 2]


def test_no_init_within_the_timeout_offers_a_retry_with_a_new_id(page: Page, sites: Sites) -> None:
    # Long enough that a loaded CI machine still checks the retried frame before its own
    # timeout runs out (300 ms flaked with the two cores busy).
    first_id = open_frame(page, sites, sites.app.url("/raw.html?init=0"), initTimeoutMs=2000)

    retry = page.locator("[data-miniapp-retry]")
    retry.wait_for(state="visible")
    assert (
        page.locator("[data-miniapp-failure]")
        .inner_text()
        .startswith("Не удалось загрузить приложение")
    )
    assert retry.inner_text() == "Повторить"
    assert page.locator("[data-miniapp-skeleton]").is_hidden()
    assert page.locator("iframe[data-miniapp-frame]").is_hidden()
    retry.click()

    second_id = page.evaluate("() => window.__handles.a.frameId")
    assert second_id != first_id
    assert page.locator("iframe[data-miniapp-frame]").count() == 1
    assert page.locator("[data-miniapp-failure]").is_hidden()
    assert page.locator("[data-miniapp-skeleton]").is_visible()
    frame = child(page)
    frame.wait_for_function("window.__id !== undefined")
    assert frame.evaluate("() => window.__id") == second_id
    child_post(frame, "window.__init()")
    wait_event(page, "ready")
    assert page.evaluate("() => window.__handles.a.state") == "ready"


# --- child → host messages ----------


def test_height_is_applied_coerced_and_clamped(page: Page, sites: Sites) -> None:
    frame = ready_client(page, sites)
    assert iframe_height(page) == "300px"

    cases = [
        ("287", "287px"),
        ("20", "100px"),
        ("99999", "5000px"),
        ("'450'", "450px"),
        ("12.7", "100px"),
        ("640.2", "641px"),
        ("NaN", None),
        ("-5", None),
        ("'abc'", None),
        ("''", None),
        ("null", None),
        ("undefined", None),
        ("{}", None),
        ("Infinity", None),
    ]
    for expression, expected in cases:
        before = iframe_height(page)
        child_post(frame, f"window.__client.onHeightChange({expression})")
        if expected is None:
            wait_log(page, "ignored height")
            page.evaluate("() => { window.__events = []; }")
            assert iframe_height(page) == before, expression
        else:
            heights = wait_event(page, "height")
            page.evaluate("() => { window.__events = []; }")
            assert iframe_height(page) == expected, expression
            assert heights[-1] == [int(expected.removesuffix("px"))]


def test_height_is_ignored_in_full_height_mode(page: Page, sites: Sites) -> None:
    frame = ready_client(page, sites, mode="order")

    child_post(frame, "window.__client.onHeightChange(250)")

    wait_log(page, "ignored height: full-height")
    assert iframe_height(page) == "100%"
    assert events(page, "height") == []


def test_done_with_a_payment_url_is_accepted(page: Page, sites: Sites) -> None:
    frame = ready_client(page, sites)

    child_post(frame, f"window.__client.onDone({json.dumps(payment_url(sites))})")

    assert wait_event(page, "done") == [[payment_url(sites)]]


def test_done_in_order_mode_accepts_any_container(page: Page, sites: Sites) -> None:
    frame = ready_client(page, sites, mode="order")
    url = payment_url(sites, OTHER_CONTAINER_ID)

    child_post(frame, f"window.__client.onDone({json.dumps(url)})")

    assert wait_event(page, "done") == [[url]]


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/order/" + CONTAINER_ID,
        "{prefix}" + CONTAINER_ID + "?next=https://evil.example",
        "{prefix}" + CONTAINER_ID + "/../../evil",
        "{prefix}not-a-uuid",
        "{prefix}",
        "{prefix}" + OTHER_CONTAINER_ID,  # suborder: another container
        "javascript:alert(1)",
    ],
)
def test_done_with_a_foreign_url_is_refused(page: Page, sites: Sites, url: str) -> None:
    frame = ready_client(page, sites)
    url = url.format(prefix=sites.payment_url_prefix)

    child_post(frame, f"window.__client.onDone({json.dumps(url)})")

    wait_log(page, "refused done")
    child_post(frame, "window.__client.onError('marker')")
    wait_event(page, "error")
    assert events(page, "done") == []


def test_done_null_completes_without_url(page: Page, sites: Sites) -> None:
    frame = ready_client(page, sites)

    child_post(frame, "window.__client.onDone(null)")

    assert wait_event(page, "done") == [[None]]


@pytest.mark.parametrize(
    ("locale", "expression", "expected"),
    [
        ("ru", "window.__client.onError()", "Что-то пошло не так"),
        ("ru", "window.__client.onError('')", "Что-то пошло не так"),
        (
            "ru",
            "window.__post({id: window.__client.getFrameId(), action: 'error', data: '  '})",
            "Что-то пошло не так",
        ),
        (
            "ru",
            "window.__post({id: window.__client.getFrameId(), action: 'error', data: 7})",
            "Что-то пошло не так",
        ),
        ("en", "window.__client.onError(null)", "Something went wrong"),
        ("ru", "window.__client.onError('Заказ не создан')", "Заказ не создан"),
    ],
)
def test_error_text_or_its_default(
    page: Page, sites: Sites, locale: str, expression: str, expected: str
) -> None:
    frame = ready_client(page, sites, data=init_data("suborder", locale=locale))
    child_post(frame, "window.__post = (m) => window.parent.postMessage(m, '*')")

    child_post(frame, expression)

    assert wait_event(page, "error") == [[expected]]


@pytest.mark.parametrize(
    "href", ["https://www.example.com/offer.html", "http://127.0.0.1:1/privacy?x=1#y"]
)
def test_http_links_are_opened_in_a_new_tab(page: Page, sites: Sites, href: str) -> None:
    frame = ready_client(page, sites)

    child_post(frame, f"window.__client.onLink({json.dumps(href)})")

    assert wait_event(page, "link") == [[href]]
    assert events(page, "window.open", None) == [[href, "_blank", "noopener"]]


def test_relative_links_resolve_against_the_mini_app(page: Page, sites: Sites) -> None:
    frame = ready_client(page, sites)

    child_post(frame, "window.__client.onLink('/tariffs')")

    assert wait_event(page, "link") == [[sites.app.url("/tariffs")]]


@pytest.mark.parametrize(
    "href",
    [
        "javascript:alert(1)",
        " JavaScript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "file:///etc/passwd",
        "",
    ],
)
def test_other_links_are_refused(page: Page, sites: Sites, href: str) -> None:
    frame = ready_client(page, sites)

    child_post(frame, f"window.__client.onLink({json.dumps(href)})")

    wait_log(page, "refused link")
    assert events(page, "link") == []
    assert events(page, "window.open", None) == []


def test_a_link_really_opens_a_popup_on_a_click_in_the_mini_app(page: Page, sites: Sites) -> None:
    page.evaluate("() => { window.open = window.__realOpen; }")
    frame = ready_client(page, sites)
    target = sites.app.url("/raw.html?init=0&popup=1")
    frame.evaluate(
        """(href) => {
          const a = document.createElement('a');
          a.href = href; a.textContent = 'Тарифы'; a.dataset.link = '';
          a.addEventListener('click', (e) => {
            e.preventDefault();
            window.__client.onLink(a.href);
          });
          document.body.append(a);
        }""",
        target,
    )

    with page.context.expect_page() as popup_info:
        frame.locator("[data-link]").click()

    popup = popup_info.value
    popup.wait_for_load_state()
    assert popup.url == target
    assert popup.evaluate("() => window.opener") is None  # noopener


def test_unavailable_closes_the_frame(page: Page, sites: Sites) -> None:
    frame = ready_client(page, sites)

    child_post(frame, "window.__client.onUnavailable()")

    assert wait_event(page, "unavailable") == [[]]
    assert page.locator("[data-miniapp-host]").count() == 0
    assert page.evaluate("() => window.__handles.a.state") == "closed"


def test_checkout_and_payment_result(page: Page, sites: Sites) -> None:
    frame = ready_client(page, sites)

    child_post(frame, f"window.__client.onCheckout({json.dumps(payment_url(sites))})")
    assert wait_event(page, "checkout") == [[payment_url(sites)]]
    assert page.evaluate("() => window.__handles.a.sendPaymentResult('completed')") is True

    frame.wait_for_function("window.__received.some((r) => r.type === 'paymentResult')")
    assert frame.evaluate("() => window.__received.at(-1)") == {
        "type": "paymentResult",
        "data": "completed",
    }
    with pytest.raises(Exception, match="unknown status"):
        page.evaluate("() => window.__handles.a.sendPaymentResult('paid')")


def test_checkout_with_a_foreign_url_is_refused(page: Page, sites: Sites) -> None:
    frame = ready_client(page, sites)

    child_post(frame, "window.__client.onCheckout('https://evil.example/pay')")

    wait_log(page, "refused checkout")
    assert events(page, "checkout") == []


def test_unknown_actions_are_ignored(page: Page, sites: Sites) -> None:
    open_frame(page, sites, sites.app.url("/raw.html"))
    wait_event(page, "ready")
    frame = child(page)

    child_post(frame, "window.__post({id: window.__id, action: 'teleport', data: 1})")
    child_post(frame, "window.__post({id: window.__id, action: 'done', data: null})")

    assert wait_event(page, "done") == [[None]]
    assert page.evaluate("() => window.__handles.a.state") == "ready"


# --- protocol v2 ----------


def test_update_data_goes_only_to_version_2_children(page: Page, sites: Sites) -> None:
    open_frame(page, sites, sites.app.url("/app.html"), name="v2", container='[data-slot="main"]')
    open_frame(page, sites, sites.app.url("/raw.html"), name="v1", container='[data-slot="small"]')
    wait_event(page, "ready", "v2")
    wait_event(page, "ready", "v1")
    v2, v1 = child(page, "v2"), child(page, "v1")
    v2.wait_for_function("document.body.dataset.ready === 'true'")
    updated = init_data("suborder", user_email="new@example.org", meta_data=[{"iataCode": "VKO"}])

    sent = page.evaluate(
        "(d) => [window.__handles.v2.updateData(d), window.__handles.v1.updateData(d)]", updated
    )

    assert sent == [True, False]
    v2.wait_for_function("window.__received.some((r) => r.type === 'updateData')")
    assert v2.evaluate("() => window.__received.at(-1).data") == updated["public"]
    assert v2.evaluate("() => window.__client.getMetaDataValues('iataCode')") == ["VKO"]
    # The v1 child got its init only; a re-init now gets the updated data.
    assert [r["data"]["action"] for r in v1.evaluate("() => window.__received")] == ["init"]
    child_post(v1, "window.__init()")
    v1.wait_for_function("window.__received.length === 2")
    assert v1.evaluate("() => window.__received[1].data.data") == updated


# --- security ----------


def test_hostile_mini_app_gets_nowhere(page: Page, sites: Sites) -> None:
    query = f"?pay={quote(payment_url(sites), safe='')}&evil={quote(sites.evil.origin, safe='')}"
    open_frame(page, sites, sites.app.url("/hostile.html" + query))

    assert wait_event(page, "error") == [["hostile-finished"]]
    messages = logs(page)
    assert events(page, "done") == []
    assert events(page, "checkout") == []
    assert events(page, "link") == []
    assert events(page, "window.open", None) == []
    assert messages.count("ignored: wrong id") == 2
    assert messages.count("ignored: not an object") == 1
    assert messages.count("ignored: message from another window") == 2  # both nested frames
    assert sum(m.startswith("refused done") for m in messages) == 3
    assert sum(m.startswith("refused checkout") for m in messages) == 1
    assert sum(m.startswith("refused link") for m in messages) == 3
    assert page.evaluate("() => window.__handles.a.state") == "ready"


@pytest.mark.parametrize("via", ["direct", "redirect"])
def test_a_child_on_an_unregistered_origin_gets_no_init(page: Page, sites: Sites, via: str) -> None:
    evil_url = sites.evil.url("/raw.html")
    url = evil_url if via == "direct" else sites.app.url("/redirect?to=" + quote(evil_url))

    open_frame(page, sites, url)

    wait_log(page, f"ignored: origin {re.escape(sites.evil.origin)} is not allowed")
    frame = child(page)
    assert frame.url.startswith(sites.evil.origin)
    page.wait_for_timeout(300)  # a reply, had there been one, would have arrived by now
    assert frame.evaluate("() => window.__received") == []
    assert events(page, "ready") == []
    assert page.evaluate("() => window.__handles.a.state") == "loading"


def test_close_removes_everything_and_is_idempotent(page: Page, sites: Sites) -> None:
    ready_client(page, sites)

    page.evaluate("() => { window.__handles.a.close(); window.__handles.a.close(); }")

    assert page.locator("[data-miniapp-host]").count() == 0
    assert page.evaluate("() => window.__handles.a.state") == "closed"
    assert page.evaluate("() => window.__handles.a.sendPaymentResult('pending')") is False


# --- the official npm SDK ----------


@pytest.fixture(scope="module")
def npm_miniapp(sites: Sites) -> str:
    sites.app.mount("/npm/", build_npm_miniapp())
    return sites.app.url("/npm/index.html")


@pytest.mark.slow
def test_npm_sdk_mini_app_handshake_and_done(page: Page, sites: Sites, npm_miniapp: str) -> None:
    data = init_data("suborder")
    open_frame(page, sites, npm_miniapp, data=data)

    ready = wait_event(page, "ready")
    frame = child(page)
    frame.wait_for_function("document.body.dataset.ready === 'true'")

    assert ready[0][0]["version"] == 1  # alpha.20 sends no version
    assert frame.evaluate("() => window.__initial") == data["public"]
    assert frame.evaluate("() => window.__sdk.matchMetaDataValues('iataCode', ['SVO'])")
    wait_event(page, "height")
    child_post(frame, f"window.__sdk.onDone({json.dumps(payment_url(sites))})")
    assert wait_event(page, "done") == [[payment_url(sites)]]
