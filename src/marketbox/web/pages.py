"""The footer's pages: terms, privacy, help. An operator replaces their text for production;
in the sandbox they say plainly what this installation is."""

from __future__ import annotations

from pathlib import Path

import jinja2
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import HTMLResponse

from marketbox.web.formatting import register_filters
from marketbox.web.i18n import normalize_locale, register_i18n

router = APIRouter(include_in_schema=False)

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
)
register_filters(_env)
register_i18n(_env)

_PAGES: dict[str, dict[str, tuple[str, tuple[str, ...]]]] = {
    "offer": {
        "ru": (
            "Пользовательское соглашение",
            (
                "Это установка marketbox — открытой платформы приёма платежей, совместимой с API "
                "Инвойсбокса. Условия оказания услуг публикует её оператор.",
                "В режиме песочницы деньги не списываются: оплата выполняется тестовыми картами.",
            ),
        ),
        "en": (
            "Terms of service",
            (
                "This is a marketbox installation: an open payment platform compatible with the "
                "Invoicebox API. Its operator publishes the terms of service.",
                "In sandbox mode no money moves: payments use test cards.",
            ),
        ),
    },
    "privacy": {
        "ru": (
            "Политика конфиденциальности",
            (
                "Платформа хранит данные плательщика, которые он вводит на платёжной странице, "
                "только для оплаты счёта и отправки чека. Номер карты не хранится: только "
                "последние четыре цифры.",
            ),
        ),
        "en": (
            "Privacy policy",
            (
                "The platform keeps the payer data entered on the payment page only to pay the "
                "invoice and send the receipt. Card numbers are never stored, only their last "
                "four digits.",
            ),
        ),
    },
    "help": {
        "ru": (
            "Помощь",
            (
                "Вопросы о заказе задавайте магазину, в котором его оформили. Вопросы об оплате — "
                "оператору этой платформы.",
            ),
        ),
        "en": (
            "Help",
            (
                "Ask the shop where you placed the order about the order itself, and the operator "
                "of this platform about the payment.",
            ),
        ),
    },
}


def _render(request: Request, page: str) -> HTMLResponse:
    lang = normalize_locale(request.query_params.get("lang"))
    title, paragraphs = _PAGES[page][lang]
    html = _env.get_template("info.html").render(
        lang=lang, title=title, paragraphs=paragraphs, main_class="page page--narrow"
    )
    return HTMLResponse(html)


@router.get("/legal/offer")
async def offer(request: Request) -> HTMLResponse:
    return _render(request, "offer")


@router.get("/legal/privacy")
async def privacy(request: Request) -> HTMLResponse:
    return _render(request, "privacy")


@router.get("/help")
async def help_page(request: Request) -> HTMLResponse:
    return _render(request, "help")
