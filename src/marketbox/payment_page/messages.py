"""Message keys the payment page builds at run time, named here for `pybabel extract`.

The strings themselves live in the gettext catalogue (marketbox/locale/<lang>/LC_MESSAGES/
marketbox.po) and are looked up with `marketbox.toolkit.i18n.t`. Templates that write
`t("pay")` need nothing here; a key composed from data (`t("status." ~ invoice.page_status)`)
or held in a template's table is listed below, or `pybabel update` would drop it
(tests/unit/test_i18n.py checks that extraction finds every key of the catalogue).
"""

from __future__ import annotations

from marketbox.toolkit.i18n import N_

# status.html: "status." ~ page_status, and its "_text"
STATUS_KEYS = (
    N_("status.pending_text"),
    N_("status.paid"),
    N_("status.paid_text"),
    N_("status.canceled"),
    N_("status.canceled_text"),
    N_("status.expired"),
    N_("status.expired_text"),
    N_("status.outside"),
    N_("status.outside_text"),
)
# page.html: "banner." ~ banner, and its "_text"
BANNER_KEYS = (
    N_("banner.in_progress"),
    N_("banner.in_progress_text"),
    N_("banner.gateway_unavailable"),
    N_("banner.gateway_unavailable_text"),
)
# page.html and _macros.html: the payer type switch and the payer fields' table
PAYER_KEYS = (
    N_("payer.private"),
    N_("payer.legal"),
    N_("payer.inn"),
    N_("payer.kpp"),
    N_("payer.legal_address"),
    N_("payer.phone"),
    N_("payer.email"),
    N_("payer.email_hint"),
)
# views.py: "error." ~ the payer form's error code (forms.py)
FORM_ERROR_KEYS = (
    N_("error.required"),
    N_("error.invalid_email"),
    N_("error.invalid_phone"),
    N_("error.invalid_inn"),
    N_("error.invalid_kpp"),
    N_("error.kpp_not_allowed"),
    N_("error.too_long"),
)
# _macros.html: the language switch, "page.lang." ~ code and its "_name"
LANGUAGE_KEYS = (
    N_("page.lang.ru"),
    N_("page.lang.ru_name"),
    N_("page.lang.en"),
    N_("page.lang.en_name"),
)
# receipt.html: the card line, "card.hold" when the payment was a pre-authorisation
CARD_KEYS = (N_("card.hold"),)
# receipt.html: the 54-FZ receipts' kind, purpose, status, payment method sign and subject
FISCAL_KEYS = (
    N_("fiscal.kind.income"),
    N_("fiscal.kind.income_return"),
    N_("fiscal.purpose.payment"),
    N_("fiscal.purpose.shipment"),
    N_("fiscal.purpose.refund"),
    N_("fiscal.purpose.correction"),
    N_("fiscal.status.formed"),
    N_("fiscal.status.registered"),
    N_("fiscal.sign.1"),
    N_("fiscal.sign.2"),
    N_("fiscal.sign.3"),
    N_("fiscal.sign.4"),
)
