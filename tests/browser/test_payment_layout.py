"""What a buyer sees on the payment page, the confirmation and the status pages (issue 10
items 1, 2, 5, 6, 7, 9), in headless Chromium against a live server:

* nothing overlaps: no two pieces of content share pixels, and a sticky bar (the navbar, the
  phone's pay bar) only lets content pass beneath it while it is opaque and at the edge of the
  screen, with 1, 3 and 10 orders at 320-1920 px and several scroll positions;
* no sideways scroll on the payment, success, fail and confirmation pages; amounts never cut;
* each add-on order is named by its point of sale, the seller by display and legal name;
* the card brands, the secure-payment note, the operator's requisites and support contact;
* paying shows «Оплачиваем…» with a spinner in a button that stays on screen;
* the confirmation is not called a receipt, and no letter is promised that is not sent.

Set MARKETBOX_SCREENSHOT_DIR to keep screenshots (docs/img/ takes them from there)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page

from marketbox.merchants import service as merchants_service
from tests.browser.bridge_support import BROWSER_MARKS
from tests.conftest import DEMO_AUTH, body, read
from tests.support.builders import basket_item, order_payload
from tests.support.live_server import live_server
from tests.support.shops import add_taxi_merchant

pytestmark = BROWSER_MARKS

ORDERS = "/v3/billing/api/order/order"
TIMEOUT_MS = 10_000
SCREENSHOT_DIR = os.environ.get("MARKETBOX_SCREENSHOT_DIR")
WIDTHS = (320, 390, 768, 1280, 1920)
SUPPORT = {
    "support_email": "help@operator.example",
    "support_phone": "+7 800 555-35-35",
    "operator_name": "ООО «Оператор Платежей»",
    "operator_inn": "7707083893",
    "operator_address": "Москва, ул. Примерная, д. 1",
}


class Server:
    def __init__(self, base_url: str, database_url: str) -> None:
        self.base_url = base_url
        self.database_url = database_url
        self.taxi: merchants_service.Credentials | None = None
        self.invoices: dict[int, dict[str, Any]] = {}
        self.counter = 0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One live server for the module: its invoices do not touch each other."""
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('layout') / 'layout.db'}"
    with live_server(url, **SUPPORT) as base_url:
        yield Server(base_url, url)


def create_order(server: Server, token: str | None = None, **overrides: Any) -> dict[str, Any]:
    server.counter += 1
    overrides.setdefault("merchant_order_id", f"L-{server.counter}")
    headers = {"Authorization": f"Bearer {token}"} if token else DEMO_AUTH
    response = httpx.post(
        f"{server.base_url}{ORDERS}", content=body(order_payload(**overrides)), headers=headers
    )
    assert response.status_code == 200, response.text
    return read(response)["data"]


def taxi(server: Server) -> merchants_service.Credentials:
    """A second merchant whose point of sale «Такси в аэропорт» is an add-on."""
    if server.taxi is None:
        server.taxi = add_taxi_merchant(server.database_url, name="Такси Плюс")
    return server.taxi


def new_invoice(server: Server, orders: int) -> dict[str, Any]:
    """The main order (a VAT-free «Капучино» and a line with VAT), the taxi add-on «Комфорт»
    from another merchant, then the shop's own suborders up to `orders`."""
    main = create_order(
        server,
        returnUrl=f"{server.base_url}/",
        items=[
            basket_item(sku="c", name="Капучино", amount=Decimal("350.00")),
            basket_item(
                sku="l",
                name="Бизнес-зал, 3 часа, терминал B",
                amount=Decimal("4500.00"),
                vat_code="RUS_VAT20",
            ),
        ],
    )
    container = main["orderContainerId"]
    if orders >= 2:
        merchant = taxi(server)
        create_order(
            server,
            merchant.token,
            merchant_id=merchant.id,
            orderContainerId=container,
            description="Комфорт",
            items=[basket_item(name="Поездка в Шереметьево", amount=Decimal("2100.00"))],
        )
    for i in range(3, orders + 1):
        create_order(
            server,
            orderContainerId=container,
            description=f"Доп. заказ {i}",
            items=[basket_item(name=f"Экспресс-трансфер {i}", amount=Decimal("1010.00"))],
        )
    return main


def invoice(server: Server, orders: int) -> dict[str, Any]:
    if orders not in server.invoices:
        server.invoices[orders] = new_invoice(server, orders)
    return server.invoices[orders]


def open_page(
    browser: Browser, url: str, width: int, height: int = 800, **context: Any
) -> tuple[Page, list[str]]:
    page = browser.new_context(viewport={"width": width, "height": height}, **context).new_page()
    page.set_default_timeout(TIMEOUT_MS)
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"pageerror: {exc}"))
    page.on(
        "response",
        lambda r: (
            problems.append(f"HTTP {r.status} {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico")
            else None
        ),
    )
    page.goto(url)
    return page, problems


def screenshot(page: Page, name: str, *, full_page: bool = True) -> None:
    if SCREENSHOT_DIR:
        Path(SCREENSHOT_DIR).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOT_DIR) / name), full_page=full_page)


# What a buyer reads or presses: the boxes that must not share pixels.
CONTENT = (
    "main :is(h1, h2, h3, p, button, a, input, summary, img, th, td, dt, dd, .chip,"
    " .cell__title, .cell__caption, .cell__value, .card-brand, .field__value)"
)

# Boxes of content that overlap, with sticky elements put back in the flow (a sticky
# element keeps its place in the flow, so static shows where it belongs).
IN_FLOW_OVERLAPS = """(selector) => {
  const sticky = [...document.querySelectorAll("body *")]
    .filter((el) => getComputedStyle(el).position === "sticky");
  sticky.forEach((el) => {
    el.dataset.wasStyle = el.style.position;
    el.style.position = "static";
  });
  const shown = (el) => {
    const r = el.getBoundingClientRect();
    const cs = getComputedStyle(el);
    return r.width > 1 && r.height > 1 && cs.visibility !== "hidden" && cs.opacity !== "0"
      && !el.closest(".visually-hidden, [hidden], dialog:not([open])");
  };
  const els = [...document.querySelectorAll(selector)].filter(shown);
  // Line boxes, not the bounding box: a link wrapped over two lines is two boxes.
  const boxes = els.map((el) => [...el.getClientRects()]
    .map((r) => [r.left, r.top + scrollY, r.right, r.bottom + scrollY]));
  const meet = (a, b) => Math.min(a[2], b[2]) - Math.max(a[0], b[0]) > 2
    && Math.min(a[3], b[3]) - Math.max(a[1], b[1]) > 2;
  const name = (el) => `${el.tagName.toLowerCase()}.${el.classList[0] || ""}`
    + ` «${(el.innerText || el.value || "").trim().slice(0, 30)}»`;
  const found = [];
  for (let i = 0; i < els.length; i++) {
    for (let j = i + 1; j < els.length; j++) {
      if (els[i].contains(els[j]) || els[j].contains(els[i])) continue;
      if (boxes[i].some((a) => boxes[j].some((b) => meet(a, b)))) {
        found.push(`${name(els[i])} × ${name(els[j])}`);
      }
    }
  }
  sticky.forEach((el) => { el.style.position = el.dataset.wasStyle; delete el.dataset.wasStyle; });
  return found;
}"""

# At the current scroll position: content under a sticky or fixed element. Allowed only
# beneath an opaque bar at the top or bottom edge of the screen (content passes under it and
# comes out as the page scrolls); `atEnd` also refuses content under a bottom bar.
COVERED = """([selector, atEnd]) => {
  const opaque = (el) => {
    const rgba = getComputedStyle(el).backgroundColor.match(/[\\d.]+/g);
    return rgba && (rgba.length < 4 || Number(rgba[3]) === 1);
  };
  const stuck = [...document.querySelectorAll("body *")].filter((el) => {
    const cs = getComputedStyle(el);
    const r = el.getBoundingClientRect();
    return ["sticky", "fixed"].includes(cs.position) && r.width > 1 && r.height > 1
      && cs.visibility !== "hidden";
  });
  const found = [];
  for (const bar of stuck) {
    const s = bar.getBoundingClientRect();
    const topBar = s.top <= 1;
    const bottomBar = s.bottom >= innerHeight - 1;
    if (opaque(bar) && (topBar || (bottomBar && !atEnd))) continue;
    for (const el of document.querySelectorAll(selector)) {
      if (bar.contains(el) || el.contains(bar)) continue;
      if (el.closest("[hidden], .visually-hidden")) continue;
      const under = [...el.getClientRects()].some((r) => r.width > 1 && r.height > 1
        && Math.min(r.right, s.right) - Math.max(r.left, s.left) > 2
        && Math.min(r.bottom, s.bottom) - Math.max(r.top, s.top) > 2);
      const text = (el.innerText || "").trim().slice(0, 30);
      if (under) found.push(`${scrollY}px: ${bar.className} over ${el.tagName} «${text}»`);
    }
  }
  return found;
}"""


def overlaps(page: Page) -> list[str]:
    found: list[str] = page.evaluate(IN_FLOW_OVERLAPS, CONTENT)
    height = page.evaluate("innerHeight")
    end = page.evaluate("document.scrollingElement.scrollHeight - innerHeight")
    positions = sorted({*range(0, max(end, 0), height // 2), end})
    for y in positions:
        page.evaluate("(y) => window.scrollTo(0, y)", y)
        found += page.evaluate(COVERED, [CONTENT, y >= end])
    page.evaluate("window.scrollTo(0, 0)")
    return found


def sideways_scroll(page: Page) -> int:
    """How far the page scrolls sideways (0 is right)."""
    width: int = page.evaluate("document.scrollingElement.scrollWidth - innerWidth")
    return width


# Text cut off: clipped by its box (ellipsis, line clamp) or running past the screen's edge.
CUT = """(selector) => [...document.querySelectorAll(selector)].filter((el) => {
  const r = el.getBoundingClientRect();
  if (r.width < 1) return false;
  return el.scrollWidth > el.clientWidth + 1 || el.scrollHeight > el.clientHeight + 1
    || r.right > innerWidth + 0.5 || r.left < -0.5;
}).map((el) => el.innerText.trim())"""


@pytest.mark.parametrize("width", [320, 390, 1280, 1920])
@pytest.mark.parametrize("orders", [1, 3, 10])
def test_nothing_overlaps(server: Server, browser: Browser, orders: int, width: int) -> None:
    page, problems = open_page(browser, invoice(server, orders)["paymentUrl"], width)
    assert page.locator("[data-order]").count() == orders

    assert overlaps(page) == []
    assert sideways_scroll(page) == 0
    assert (
        page.evaluate(CUT, "[data-total], .btn__amount, [data-order-label], [data-shop-name]") == []
    )
    if width in (390, 1280):
        # the first screen (a full page would draw the sticky pay bar mid-page)
        screenshot(page, f"payment-page-{orders}-orders-{width}.png", full_page=False)
    assert problems == []


@pytest.mark.parametrize("width", [1280, 390])
def test_each_order_names_who_is_paid(server: Server, browser: Browser, width: int) -> None:
    page, problems = open_page(browser, invoice(server, 3)["paymentUrl"], width, 844)
    labels = page.locator("[data-order-label]").all_inner_texts()
    assert labels[1] == "Такси в аэропорт — Комфорт"
    assert "ООО «Такси Плюс»" in page.locator("[data-order]").nth(1).inner_text()
    shop = page.locator("[data-shop-name]")
    if width >= 768:
        assert shop.inner_text() == labels[0] or shop.inner_text() in labels[0]
    # «Без НДС» on the VAT-free line, not on the line with VAT
    first = page.locator("[data-order]").first
    assert (
        first.locator(".cell", has_text="Капучино").locator("[data-vat-free]").inner_text()
        == "Без НДС"
    )
    assert first.locator(".cell", has_text="Бизнес-зал").locator("[data-vat-free]").count() == 0
    assert problems == []


@pytest.mark.parametrize("width", [1280, 390])
def test_trust_signals(server: Server, browser: Browser, width: int) -> None:
    page, problems = open_page(browser, invoice(server, 1)["paymentUrl"], width, 844)
    brands = page.locator("[data-card-brands] [role=img]")
    assert [brands.nth(i).get_attribute("aria-label") for i in range(brands.count())] == [
        "Мир",
        "Visa",
        "Mastercard",
    ]
    assert all(brands.nth(i).is_visible() for i in range(3))
    note = page.locator("[data-secure-note]").inner_text()
    assert "Безопасная оплата" in note and "не передаются продавцу" in note
    requisites = page.locator("[data-operator-requisites]").inner_text()
    assert "ООО «Оператор Платежей»" in requisites and "ИНН 7707083893" in requisites
    support = page.locator("[data-operator-support]")
    assert support.locator("a[href='mailto:help@operator.example']").is_visible()
    assert support.locator("a[href='tel:+78005553535']").inner_text() == "+7 800 555-35-35"
    page.goto(page.url + "?lang=en")
    assert "Secure payment" in page.locator("[data-secure-note]").inner_text()
    assert "Support" in page.locator("[data-operator-support]").inner_text()
    assert problems == []


def fill_card(page: Page, number: str = "4242 4242 4242 4242") -> None:
    page.fill("#payer-email", "buyer@example.com")
    page.fill("#card_number", number)
    page.fill("#card_expiry", "12/39")
    page.fill("#card_cvc", "123")


@pytest.mark.parametrize("width", [1280, 390])
def test_paying_shows_paying_in_a_button_that_stays_on_screen(
    server: Server, browser: Browser, width: int
) -> None:
    page, problems = open_page(browser, invoice(server, 3)["paymentUrl"], width, 844)
    fill_card(page)
    button = page.locator("[data-pay-button]")
    button.scroll_into_view_if_needed()
    # Submit, with a listener after the page's own that keeps the request from leaving: the
    # page stays in the state it shows while the bank answers.
    page.evaluate(
        """() => {
            const form = document.querySelector("[data-pay-form]");
            form.addEventListener("submit", (event) => event.preventDefault());
            form.requestSubmit(form.querySelector("[data-pay-button]"));
        }"""
    )
    assert button.get_attribute("aria-busy") == "true"
    assert button.inner_text().split("\n")[0] == "Оплачиваем…"
    assert "₽" in button.inner_text()  # the amount stays
    spinner = button.locator(".btn__spinner")
    assert spinner.is_visible()
    assert spinner.evaluate("(el) => getComputedStyle(el).animationName") == "pay-spin"
    box = button.bounding_box()
    assert box and 0 <= box["y"] and box["y"] + box["height"] <= 844  # still on screen
    screenshot(page, f"paying-{width}.png", full_page=False)
    assert problems == []


def test_paying_spinner_stands_still_for_reduced_motion(server: Server, browser: Browser) -> None:
    page, _ = open_page(
        browser, invoice(server, 1)["paymentUrl"], 390, 844, reduced_motion="reduce"
    )
    page.evaluate("document.querySelector('[data-pay-button]').setAttribute('aria-busy', 'true')")
    spinner = page.locator("[data-pay-button] .btn__spinner")
    assert spinner.is_visible()
    assert spinner.evaluate("(el) => getComputedStyle(el).animationName") == "none"
    assert page.locator("[data-pay-button]").inner_text().startswith("Оплачиваем…")


@pytest.fixture(scope="module")
def paid(server: Server, browser: Browser) -> dict[str, Any]:
    """A three-order invoice paid with a large amount, and a declined one."""
    order = new_invoice(server, 3)
    page, problems = open_page(browser, order["paymentUrl"], 1280)
    fill_card(page)
    page.locator("[data-pay-button]").click()
    page.wait_for_url(f"{order['paymentUrl']}/success")
    declined = new_invoice(server, 1)
    page.goto(declined["paymentUrl"])
    fill_card(page, "4000 0000 0000 9995")
    page.locator("[data-pay-button]").click()
    page.wait_for_url(f"{declined['paymentUrl']}/fail")
    assert problems == []
    return {"paid": order["paymentUrl"], "declined": declined["paymentUrl"]}


@pytest.mark.parametrize("width", [320, 390, 768, 1280, 1920])
def test_confirmation_and_status_pages_never_scroll_sideways_nor_cut_amounts(
    browser: Browser, paid: dict[str, Any], width: int
) -> None:
    pages = {
        "success": f"{paid['paid']}/success",
        "confirmation": f"{paid['paid']}/receipt",
        "status": paid["paid"],
        "fail": f"{paid['declined']}/fail",
    }
    for name, url in pages.items():
        page, problems = open_page(browser, url, width, 844)
        assert sideways_scroll(page) == 0, name
        amounts = (
            ".status-page__amount, .receipt__total > *, .receipt__table .num, [data-order-label]"
        )
        assert page.evaluate(CUT, amounts) == [], name
        assert page.evaluate(IN_FLOW_OVERLAPS, CONTENT) == [], name
        if width in (390, 1280) and name in ("success", "confirmation"):
            screenshot(page, f"{name}-{width}.png")
        assert problems == [], name
        page.context.close()


@pytest.mark.parametrize("width", [1280, 390])
def test_the_confirmation_is_not_called_a_receipt_and_no_letter_is_promised(
    browser: Browser, paid: dict[str, Any], width: int
) -> None:
    page, problems = open_page(browser, f"{paid['paid']}/success", width, 844)
    main = page.inner_text("main")
    # The sandbox keeps the letter (no SMTP): the page says so, and never «отправлено».
    assert "сохранено, но не отправлено" in main
    assert "отправлено на" not in main and "Чек" not in main
    page.get_by_role("link", name="Подтверждение оплаты").click()
    assert page.inner_text("h1") == "Подтверждение оплаты (не кассовый чек)"
    assert "Выдано платёжной платформой" in page.inner_text("[data-not-fiscal]")
    labels = page.locator("[data-order-label]").all_inner_texts()
    assert labels[1] == "Такси в аэропорт — Комфорт"
    assert "ООО «Такси Плюс»" in page.locator(".receipt__merchant").nth(1).inner_text()
    # «Без НДС» on the VAT-free lines of the confirmation (a column on desktop, folded on phones)
    vat_free = page.locator(".receipt__merchant").first.locator("tr", has_text="Капучино")
    assert "Без НДС" in vat_free.inner_text()
    assert (
        "Без НДС"
        not in page.locator(".receipt__merchant")
        .first.locator("tr", has_text="Бизнес-зал")
        .inner_text()
    )
    assert problems == []
