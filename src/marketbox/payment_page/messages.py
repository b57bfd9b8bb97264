"""Strings only the payment page uses (shared ones stay in web/i18n.py).

`t` looks here first and falls back to the shared catalogue, so templates call one `t`.
Both dictionaries hold the same keys (tests/integration/test_payment_page.py checks).
"""

from __future__ import annotations

from typing import Any

import jinja2

from marketbox.web import i18n

RU: dict[str, str] = {
    "page.title": "Оплата счёта",
    "page.orders": "Состав счёта",
    "page.lang.ru": "RU",
    "page.lang.en": "EN",
    "page.lang.ru_name": "Русский",
    "page.lang.en_name": "English",
    "card.expiry_placeholder": "ММ/ГГ",
    "card.sandbox_title": "Тестовый режим: деньги не списываются",
    "card.sandbox_lead": "Подойдёт любой будущий срок действия и любой CVC из трёх цифр.",
    "card.sandbox_number": "Карта",
    "card.sandbox_result": "Результат",
    "card.ending": "Банковская карта •• {last4}",
    "card.hold": "Банковская карта •• {last4}, предавторизация",
    "banner.amount_changed": "Сумма счёта изменилась",
    "banner.amount_changed_text": (
        "Теперь к оплате {amount}. Проверьте состав счёта и нажмите «Оплатить» ещё раз."
    ),
    "banner.stale_form": "Страница устарела",
    "banner.stale_form_text": "Проверьте данные и нажмите «Оплатить» ещё раз.",
    "banner.throttled": "Слишком много неудачных попыток оплаты",
    "banner.throttled_text": (
        "Банк отклонил несколько попыток подряд. Деньги не списаны. Повторите оплату позже "
        "или свяжитесь с магазином."
    ),
    "banner.in_progress": "Оплата этого счёта уже выполняется",
    "banner.in_progress_text": (
        "Банк ещё отвечает на предыдущую попытку. Подождите минуту и обновите страницу: "
        "если оплата прошла, счёт будет оплачен."
    ),
    "banner.gateway_unavailable": "Банк не ответил вовремя",
    "banner.gateway_unavailable_text": (
        "Мы узнаем результат у банка в течение нескольких минут: если деньги были "
        "заблокированы, счёт будет оплачен или блокировка снята. Обновите страницу позже."
    ),
    "error.invalid_email": "Введите адрес в формате name@example.ru",
    "error.invalid_phone": "Введите номер в формате +7 999 123 45 67",
    "error.invalid_inn": "Проверьте ИНН: 10 цифр для организации или 12 для ИП",
    "error.invalid_kpp": "КПП — 9 символов, например 770201001",
    "error.kpp_not_allowed": "У ИП нет КПП — оставьте поле пустым",
    "error.too_long": "Слишком длинное значение",
    "error.card_number": "Проверьте номер карты",
    "error.card_expiry": "Введите срок в формате ММ/ГГ",
    "error.card_expired": "Срок действия карты истёк",
    "error.card_cvc": "Три цифры с обратной стороны карты",
    "status.paid_text": "Счёт уже оплачен, повторно оплатить его нельзя.",
    "status.canceled_text": "Магазин отменил этот счёт, оплатить его нельзя.",
    "status.expired_text": "Срок оплаты истёк. Вернитесь в магазин и оформите заказ заново.",
    "status.pending_text": "Счёт ожидает оплаты.",
    "status.outside": "Оплата напрямую продавцу",
    "status.outside_text": (
        "Этот счёт оплачивается напрямую продавцу, не через эту страницу. "
        "Уточните способ оплаты у продавца."
    ),
    "fail.insufficient_funds": "На карте недостаточно средств. Деньги не списаны.",
    "fail.expired_card": "Банк сообщил, что срок действия карты истёк. Деньги не списаны.",
    "fail.acquirer_unavailable": "Оплата картой сейчас недоступна. Деньги не списаны.",
    "success.hold": "Сумма заблокирована на карте и спишется, когда магазин подтвердит заказ.",
    "not_found.text": "Проверьте ссылку на оплату или вернитесь в магазин.",
    "receipt.merchant_inn": "ИНН {inn}",
    "receipt.paid_at": "Оплачен",
    "receipt.email": "Эл. почта плательщика",
    # 54-FZ fiscal receipts («Кассовый чек»), not to be confused with the «Квитанция» above.
    "fiscal.title": "Кассовые чеки",
    "fiscal.lead": (
        "Чеки по 54-ФЗ: платформа как платёжный агент формирует их за продавца и отправляет "
        "через оператора фискальных данных. Квитанция выше подтверждает оплату и кассовым "
        "чеком не является."
    ),
    "fiscal.receipt": "Кассовый чек",
    "fiscal.kind.income": "Приход",
    "fiscal.kind.income_return": "Возврат прихода",
    "fiscal.purpose.payment": "Оплата",
    "fiscal.purpose.shipment": "Отгрузка",
    "fiscal.purpose.refund": "Возврат",
    "fiscal.purpose.correction": "Удержание при возврате",
    "fiscal.sign.1": "Предоплата 100\u00a0%",
    "fiscal.sign.2": "Предоплата",
    "fiscal.sign.3": "Аванс",
    "fiscal.sign.4": "Полный расчёт",
    "fiscal.subject.1": "Товар",
    "fiscal.subject.2": "Подакцизный товар",
    "fiscal.subject.3": "Работа",
    "fiscal.subject.4": "Услуга",
    "fiscal.subject.10": "Платёж",
    "fiscal.subject.other": "Предмет расчёта {code}",
    "fiscal.vat_rate": "НДС\u00a0{rate}\u00a0%",
    "fiscal.no_vat": "Без НДС",
    "fiscal.vat_total": "в т. ч. НДС",
    "fiscal.electronic": "Безналичными",
    "fiscal.prepaid": "Зачёт предоплаты",
    "fiscal.supplier": "Поставщик",
    "fiscal.supplier_inn": "ИНН {inn}",
    "fiscal.sent_to": "Покупатель",
    "fiscal.status.formed": "Сформирован",
    "fiscal.status.registered": "Зарегистрирован",
    "addon.unavailable": "Услуга недоступна для этого заказа: {title}",
    "addon.refresh_failed": "Не удалось обновить счёт. Обновите страницу",
    "addon.link_fallback": "Если ссылка не открылась, откройте её отсюда:",
}

EN: dict[str, str] = {
    "page.title": "Invoice payment",
    "page.orders": "Invoice contents",
    "page.lang.ru": "RU",
    "page.lang.en": "EN",
    "page.lang.ru_name": "Русский",
    "page.lang.en_name": "English",
    "card.expiry_placeholder": "MM/YY",
    "card.sandbox_title": "Test mode: no money is charged",
    "card.sandbox_lead": "Any future expiry date and any three-digit CVC will do.",
    "card.sandbox_number": "Card",
    "card.sandbox_result": "Result",
    "card.ending": "Bank card •• {last4}",
    "card.hold": "Bank card •• {last4}, pre-authorisation",
    "banner.amount_changed": "The invoice total has changed",
    "banner.amount_changed_text": (
        "The total is now {amount}. Review the invoice and press “Pay” again."
    ),
    "banner.stale_form": "This page has expired",
    "banner.stale_form_text": "Check your details and press “Pay” again.",
    "banner.throttled": "Too many failed payment attempts",
    "banner.throttled_text": (
        "The bank declined several attempts in a row. No money was taken. Try again later "
        "or contact the shop."
    ),
    "banner.in_progress": "A payment of this invoice is already in progress",
    "banner.in_progress_text": (
        "The bank is still answering the previous attempt. Wait a minute and reload the page: "
        "if it went through, the invoice is paid."
    ),
    "banner.gateway_unavailable": "The bank did not answer in time",
    "banner.gateway_unavailable_text": (
        "We will get the result from the bank within a few minutes: if money was held, the "
        "invoice will be paid or the hold released. Reload the page later."
    ),
    "error.invalid_email": "Enter an address like name@example.com",
    "error.invalid_phone": "Enter a number like +7 999 123 45 67",
    "error.invalid_inn": "Check the INN: 10 digits for a company, 12 for a sole trader",
    "error.invalid_kpp": "KPP has 9 characters, e.g. 770201001",
    "error.kpp_not_allowed": "Sole traders have no KPP: leave it empty",
    "error.too_long": "This value is too long",
    "error.card_number": "Check the card number",
    "error.card_expiry": "Enter the date as MM/YY",
    "error.card_expired": "This card has expired",
    "error.card_cvc": "The three digits on the back of the card",
    "status.paid_text": "This invoice is already paid and cannot be paid again.",
    "status.canceled_text": "The shop canceled this invoice; it cannot be paid.",
    "status.expired_text": "The payment period is over. Go back to the shop and order again.",
    "status.pending_text": "This invoice is awaiting payment.",
    "status.outside": "Paid to the seller directly",
    "status.outside_text": (
        "This invoice is settled with the seller directly and cannot be paid on this page. "
        "Ask the seller how to pay."
    ),
    "fail.insufficient_funds": "Insufficient funds on the card. No money was charged.",
    "fail.expired_card": "The bank says the card has expired. No money was charged.",
    "fail.acquirer_unavailable": "Card payments are unavailable right now. No money was charged.",
    "success.hold": "The amount is held on your card and is charged once the shop confirms.",
    "not_found.text": "Check the payment link or go back to the shop.",
    "receipt.merchant_inn": "INN {inn}",
    "receipt.paid_at": "Paid",
    "receipt.email": "Payer email",
    "fiscal.title": "Fiscal receipts",
    "fiscal.lead": (
        "Cash-register receipts under Russian law 54-FZ: the platform, as the payment agent, "
        "forms them for the seller and sends them through the fiscal data operator. The "
        "payment receipt above confirms the payment and is not a fiscal receipt."
    ),
    "fiscal.receipt": "Fiscal receipt",
    "fiscal.kind.income": "Income",
    "fiscal.kind.income_return": "Return of income",
    "fiscal.purpose.payment": "Payment",
    "fiscal.purpose.shipment": "Shipment",
    "fiscal.purpose.refund": "Refund",
    "fiscal.purpose.correction": "Withheld from a refund",
    "fiscal.sign.1": "Full prepayment",
    "fiscal.sign.2": "Prepayment",
    "fiscal.sign.3": "Advance",
    "fiscal.sign.4": "Full settlement",
    "fiscal.subject.1": "Goods",
    "fiscal.subject.2": "Excise goods",
    "fiscal.subject.3": "Work",
    "fiscal.subject.4": "Service",
    "fiscal.subject.10": "Payment",
    "fiscal.subject.other": "Subject {code}",
    "fiscal.vat_rate": "VAT\u00a0{rate}\u00a0%",
    "fiscal.no_vat": "No VAT",
    "fiscal.vat_total": "incl. VAT",
    "fiscal.electronic": "Paid electronically",
    "fiscal.prepaid": "Prepayment applied",
    "fiscal.supplier": "Supplier",
    "fiscal.supplier_inn": "INN {inn}",
    "fiscal.sent_to": "Buyer",
    "fiscal.status.formed": "Formed",
    "fiscal.status.registered": "Registered",
    "addon.unavailable": "Not available for this order: {title}",
    "addon.refresh_failed": "Could not update the invoice. Reload the page",
    "addon.link_fallback": "If the link did not open, open it from here:",
}

CATALOGUES = {"ru": RU, "en": EN}


def t(key: str, locale: object = "ru", /, **params: Any) -> str:
    loc = i18n.normalize_locale(locale)
    message = CATALOGUES[loc].get(key)
    if message is None:
        return i18n.t(key, loc, **params)
    return message.format(**params) if params else message


@jinja2.pass_context
def _t_global(
    ctx: jinja2.runtime.Context, key: str, locale: str | None = None, **params: Any
) -> str:
    return t(key, locale or ctx.get("lang") or "ru", **params)


def register(env: jinja2.Environment) -> None:
    """Replace the shared `t` with one that knows the page's strings too."""
    i18n.register_i18n(env)
    env.globals["t"] = _t_global
