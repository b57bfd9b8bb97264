"""Message catalogue for shared UI strings (Russian first, English for `languageId=en`).

`t("pay", "en")` -> "Pay". Values with `{name}` placeholders are filled from keyword
arguments; a value that is a tuple is a plural entry, (one, few, many) in Russian and
(one, other) in English, chosen by the `n` argument. Page-specific strings may live
with their page; anything two pages share belongs here. Both dictionaries must hold
the same keys (a unit test checks).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import jinja2

from marketbox.web.formatting import plural

Locale = str  # "ru" | "en"
Message = str | tuple[str, ...]

RU: dict[str, Message] = {
    # shell
    "skip_link": "Перейти к содержимому",
    "brand": "marketbox",
    "footer.offer": "Пользовательское соглашение",
    "footer.privacy": "Политика конфиденциальности",
    "footer.help": "Помощь",
    "footer.home": "На главную",
    "nav.back": "Назад",
    "nav.close": "Закрыть",
    "nav.menu": "Меню",
    "nav.language": "Язык",
    "loading": "Загрузка…",
    # actions
    "pay": "Оплатить",
    "continue": "Продолжить",
    "cancel": "Отмена",
    "retry": "Попробовать снова",
    "repeat": "Повторить",
    "refresh_status": "Обновить статус",
    "back_to_shop": "Вернуться в магазин",
    "print": "Распечатать",
    "open_receipt": "Открыть квитанцию",
    "show_all": "Показать все ({n})",
    "show_more": "Показать ещё",
    "reset_filters": "Сбросить фильтры",
    "clear": "Очистить",
    "search": "Поиск",
    # invoice and statuses
    "invoice_number": "Счёт №\u00a0{number}",
    "invoice_no": "Счёт №",
    "order_number": "Заказ №\u00a0{number}",
    "pay_until": "Оплатить до",
    "pay_until_date": "Оплатить до {date}",
    "total": "Итого",
    "vat_included": "в\u00a0т.\u00a0ч. НДС {rate}\u00a0%",
    "vat_none": "Без НДС",
    "status.pending": "Ожидает оплаты",
    "status.partially_paid": "Оплачен частично",
    "status.paid": "Оплачен",
    "status.canceled": "Отменён",
    "status.expired": "Срок оплаты истёк",
    "status.declined": "Отклонён",
    "expires_soon": "До конца срока оплаты меньше 15\u00a0минут",
    "error.generic": "Что-то пошло не так",
    "error.generic_hint": "Попробуйте обновить страницу через минуту",
    "error.form": "Проверьте поля, отмеченные красным",
    "error.required": "Заполните это поле",
    "not_found": "Страница не найдена",
    # payer form
    "payer.title": "Плательщик",
    "payer.type": "Тип плательщика",
    "payer.private": "Физическое лицо",
    "payer.legal": "Организация или ИП",
    "payer.name": "ФИО",
    "payer.email": "Эл. почта",
    "payer.email_hint": "Пришлём чек на эту почту",
    "payer.phone": "Телефон",
    "payer.inn": "ИНН",
    "payer.kpp": "КПП",
    "payer.org_name": "Название организации",
    "payer.legal_address": "Юридический адрес",
    "field.locked": "Нельзя изменить",
    # methods
    "method.title": "Способ оплаты",
    "method.card": "Банковская карта",
    "method.sbp": "СБП",
    "method.bank_transfer": "Счёт для оплаты по реквизитам",
    "method.guarantee_fund": "Гарантийный фонд",
    "method.deferred": "Обещанный платёж",
    "method.instant": "Мгновенно",
    "method.no_fee": "Без комиссии",
    "card.number": "Номер карты",
    "card.expiry": "Срок действия",
    "card.cvc": "CVC",
    # consent.* pieces let a template wrap the two documents in links without raw HTML
    "consent": (
        "Нажимая «Оплатить», вы принимаете пользовательское соглашение "
        "и правила обработки персональных данных"
    ),
    "consent.lead": "Нажимая «Оплатить», вы принимаете",
    "consent.terms": "пользовательское соглашение",
    "consent.and": "и",
    "consent.privacy": "правила обработки персональных данных",
    # status pages and receipt
    "processing.title": "Проверяем оплату",
    "processing.hint": "Обычно это занимает до минуты",
    "processing.slow": "Оплата обрабатывается дольше обычного. Обновите статус чуть позже",
    "success.title": "Оплата прошла",
    "fail.title": "Оплата не прошла",
    "fail.declined": "Банк отклонил операцию. Деньги не списаны.",
    "receipt.title": "Квитанция об оплате",
    "receipt.sent_to": "Чек отправлен на {email}",
    "receipt.date": "Дата и время",
    "receipt.method": "Способ оплаты",
    "receipt.payer": "Плательщик",
    "receipt.item": "Наименование",
    "receipt.quantity": "Кол-во",
    "receipt.price": "Цена",
    "receipt.vat": "НДС",
    "receipt.amount": "Сумма",
    "redirect_in": "Перенаправим через {seconds}\u00a0с",
    # add-on services and mini-apps
    "addons.title": "Дополнительные услуги",
    "addon.add": "Добавить услугу",
    "addon.add_more": "Добавить ещё",
    "addon.added": "Добавлено",
    "addon.added_toast": "Услуга добавлена",
    "addon.remove": "Удалить услугу",
    "addon.price_from": "от {amount}",
    "suborder": "Доп. услуга",
    "miniapp.frame_title": "Приложение: {name}",
    "miniapp.load_failed": "Не удалось загрузить приложение",
    # marketplace
    "marketplace": "Маркетплейс",
    "marketplace.lead": "Магазины и сервисы, где можно заказать и оплатить онлайн",
    "marketplace.search_placeholder": "Найти магазин или услугу",
    "marketplace.found": (
        "Найдена {n} точка продаж",
        "Найдено {n} точки продаж",
        "Найдено {n} точек продаж",
    ),
    "marketplace.nothing_found": "Ничего не нашлось",
    "marketplace.nothing_found_hint": "Попробуйте другой запрос или сбросьте фильтры",
    "pos.online_order": "Онлайн-заказ",
    "pos.offline": "Офлайн",
    "pos.online": "Онлайн",
    "pos.address_and_contacts": "Адрес и контакты",
    "pos.address": "Адрес",
    "pos.hours": "Часы работы",
    "pos.phone": "Телефон",
    "items": ("{n} товар", "{n} товара", "{n} товаров"),
}

EN: dict[str, Message] = {
    "skip_link": "Skip to content",
    "brand": "marketbox",
    "footer.offer": "Terms of service",
    "footer.privacy": "Privacy policy",
    "footer.help": "Help",
    "footer.home": "Home",
    "nav.back": "Back",
    "nav.close": "Close",
    "nav.menu": "Menu",
    "nav.language": "Language",
    "loading": "Loading…",
    "pay": "Pay",
    "continue": "Continue",
    "cancel": "Cancel",
    "retry": "Try again",
    "repeat": "Retry",
    "refresh_status": "Refresh status",
    "back_to_shop": "Back to the shop",
    "print": "Print",
    "open_receipt": "Open receipt",
    "show_all": "Show all ({n})",
    "show_more": "Show more",
    "reset_filters": "Reset filters",
    "clear": "Clear",
    "search": "Search",
    "invoice_number": "Invoice No.\u00a0{number}",
    "invoice_no": "Invoice No.",
    "order_number": "Order No.\u00a0{number}",
    "pay_until": "Pay by",
    "pay_until_date": "Pay by {date}",
    "total": "Total",
    "vat_included": "incl. VAT {rate}\u00a0%",
    "vat_none": "No VAT",
    "status.pending": "Awaiting payment",
    "status.partially_paid": "Partially paid",
    "status.paid": "Paid",
    "status.canceled": "Canceled",
    "status.expired": "Payment period expired",
    "status.declined": "Declined",
    "expires_soon": "Less than 15\u00a0minutes left to pay",
    "error.generic": "Something went wrong",
    "error.generic_hint": "Try reloading the page in a minute",
    "error.form": "Check the fields marked in red",
    "error.required": "Fill in this field",
    "not_found": "Page not found",
    "payer.title": "Payer",
    "payer.type": "Payer type",
    "payer.private": "Individual",
    "payer.legal": "Company or sole trader",
    "payer.name": "Full name",
    "payer.email": "Email",
    "payer.email_hint": "We will send the receipt to this address",
    "payer.phone": "Phone",
    "payer.inn": "INN (tax ID)",
    "payer.kpp": "KPP",
    "payer.org_name": "Company name",
    "payer.legal_address": "Registered address",
    "field.locked": "Cannot be changed",
    "method.title": "Payment method",
    "method.card": "Bank card",
    "method.sbp": "SBP (Faster Payments)",
    "method.bank_transfer": "Invoice for bank transfer",
    "method.guarantee_fund": "Guarantee fund",
    "method.deferred": "Deferred payment",
    "method.instant": "Instant",
    "method.no_fee": "No fee",
    "card.number": "Card number",
    "card.expiry": "Expiry date",
    "card.cvc": "CVC",
    "consent": (
        "By clicking “Pay” you accept the terms of service and the personal data processing rules"
    ),
    "consent.lead": "By clicking “Pay” you accept the",
    "consent.terms": "terms of service",
    "consent.and": "and the",
    "consent.privacy": "personal data processing rules",
    "processing.title": "Checking the payment",
    "processing.hint": "This usually takes up to a minute",
    "processing.slow": "The payment is taking longer than usual. Refresh the status a bit later",
    "success.title": "Payment successful",
    "fail.title": "Payment failed",
    "fail.declined": "The bank declined the transaction. No money was charged.",
    "receipt.title": "Payment receipt",
    "receipt.sent_to": "Receipt sent to {email}",
    "receipt.date": "Date and time",
    "receipt.method": "Payment method",
    "receipt.payer": "Payer",
    "receipt.item": "Item",
    "receipt.quantity": "Qty",
    "receipt.price": "Price",
    "receipt.vat": "VAT",
    "receipt.amount": "Amount",
    "redirect_in": "Redirecting in {seconds}\u00a0s",
    "addons.title": "Additional services",
    "addon.add": "Add service",
    "addon.add_more": "Add more",
    "addon.added": "Added",
    "addon.added_toast": "Service added",
    "addon.remove": "Remove service",
    "addon.price_from": "from {amount}",
    "suborder": "Add-on",
    "miniapp.frame_title": "App: {name}",
    "miniapp.load_failed": "Could not load the app",
    "marketplace": "Marketplace",
    "marketplace.lead": "Shops and services you can order from and pay online",
    "marketplace.search_placeholder": "Find a shop or service",
    "marketplace.found": ("{n} point of sale found", "{n} points of sale found"),
    "marketplace.nothing_found": "Nothing found",
    "marketplace.nothing_found_hint": "Try another query or reset the filters",
    "pos.online_order": "Online order",
    "pos.offline": "Offline",
    "pos.online": "Online",
    "pos.address_and_contacts": "Address and contacts",
    "pos.address": "Address",
    "pos.hours": "Opening hours",
    "pos.phone": "Phone",
    "items": ("{n} item", "{n} items"),
}

CATALOGUES: dict[Locale, dict[str, Message]] = {"ru": RU, "en": EN}


def normalize_locale(value: object) -> Locale:
    """Map `languageId`, `lang` or an Accept-Language value to "ru" or "en" (default "ru")."""
    text = str(value or "").strip().lower()
    return "en" if text[:2] == "en" else "ru"


def t(key: str, locale: object = "ru", /, **params: Any) -> str:
    """Translate `key`; `n=` picks a plural form, other keywords fill `{placeholders}`.

    An unknown key raises KeyError so that a typo fails in tests, not silently on a page.
    """
    loc = normalize_locale(locale)
    message = CATALOGUES[loc][key]
    if isinstance(message, tuple):
        n = params.get("n")
        if not isinstance(n, int | Decimal) or isinstance(n, bool):
            raise TypeError(f"message {key!r} is a plural and needs an integer or Decimal n=")
        # plural() fills {n}; ru tuples carry three forms, en two.
        message = plural(n, message, loc)
        params = {k: v for k, v in params.items() if k != "n"}
    return message.format(**params) if params else message


@jinja2.pass_context
def _t_global(
    ctx: jinja2.runtime.Context, key: str, locale: str | None = None, **params: Any
) -> str:
    return t(key, locale or ctx.get("lang") or "ru", **params)


def register_i18n(env: jinja2.Environment) -> None:
    """Expose `t` to templates; the locale defaults to the context variable `lang`:
    {{ t("pay") }}, {{ t("marketplace.found", n=total) }}, {{ t("pay", "en") }}."""
    env.globals["t"] = _t_global
