"""Strings used only by the marketplace pages (shared ones live in web/i18n.py).

Templates call ``mt("key")``; the locale comes from the template variable ``lang``.
Both catalogues hold the same keys (tests/unit/test_marketplace_miniapp.py checks).
"""

from __future__ import annotations

from typing import Any

import jinja2

RU: dict[str, str] = {
    "lang.ru": "RU",
    "lang.en": "EN",
    "offers.title": "Специальные предложения",
    "offers.all": "Все предложения",
    "offers.until": "До {date}",
    "offers.where": "Где: {shop}",
    "offers.empty": "Сейчас специальных предложений нет",
    "offers.empty_hint": "Загляните позже: магазины добавляют их постоянно",
    "buyer.title": "Ваши контакты",
    "buyer.hint": "Передадим их приложениям магазинов, чтобы не вводить их снова",
    "buyer.add": "Указать контакты",
    "buyer.edit": "Изменить",
    "buyer.save": "Сохранить",
    "buyer.name": "Имя",
    "buyer.email": "Эл. почта",
    "buyer.phone": "Телефон",
    "buyer.error_email": "Проверьте адрес почты",
    "buyer.error_phone": "Проверьте номер телефона",
    "buyer.forget": "Удалить контакты",
    "miniapp.no_js": "Чтобы оформить заказ, включите JavaScript в браузере",
    "miniapp.unavailable": "Приложение сейчас недоступно",
    "miniapp.unavailable_hint": "Попробуйте позже или выберите другую точку продаж",
    "miniapp.link_fallback": "Если ссылка не открылась, откройте её отсюда:",
    "miniapp.done": "Заказ оформлен",
    "pos.no_app": "Онлайн-заказ здесь пока недоступен",
    "pos.links": "Ссылки",
    "pos.delivery": "Доставка",
    "pos.website": "Сайт",
    "pos.min_order": "Минимальная сумма заказа",
    "search.found_more": "Найдено точек продаж: более {n}",
}

EN: dict[str, str] = {
    "lang.ru": "RU",
    "lang.en": "EN",
    "offers.title": "Special offers",
    "offers.all": "All offers",
    "offers.until": "Until {date}",
    "offers.where": "At: {shop}",
    "offers.empty": "No special offers right now",
    "offers.empty_hint": "Come back later: shops add new ones all the time",
    "buyer.title": "Your contact details",
    "buyer.hint": "We pass them to the shops' apps so you don't have to type them again",
    "buyer.add": "Add contact details",
    "buyer.edit": "Edit",
    "buyer.save": "Save",
    "buyer.name": "Name",
    "buyer.email": "Email",
    "buyer.phone": "Phone",
    "buyer.error_email": "Check the email address",
    "buyer.error_phone": "Check the phone number",
    "buyer.forget": "Remove contact details",
    "miniapp.no_js": "Turn on JavaScript in your browser to place an order",
    "miniapp.unavailable": "The app is not available right now",
    "miniapp.unavailable_hint": "Try again later or choose another point of sale",
    "miniapp.link_fallback": "If the link did not open, open it from here:",
    "miniapp.done": "Order placed",
    "pos.no_app": "Online ordering is not available here yet",
    "pos.links": "Links",
    "pos.delivery": "Delivery",
    "pos.website": "Website",
    "pos.min_order": "Minimum order",
    "search.found_more": "Points of sale found: more than {n}",
}

CATALOGUES = {"ru": RU, "en": EN}


def mt(key: str, locale: str = "ru", /, **params: Any) -> str:
    message = CATALOGUES["en" if locale == "en" else "ru"][key]
    return message.format(**params) if params else message


@jinja2.pass_context
def _mt_global(ctx: jinja2.runtime.Context, key: str, **params: Any) -> str:
    return mt(key, ctx.get("lang") or "ru", **params)


def register(env: jinja2.Environment) -> None:
    env.globals["mt"] = _mt_global
