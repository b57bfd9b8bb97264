"""Shared UI strings that no template or module names literally, kept in the catalogue for
the pages that will use them; named here so that `pybabel extract` (and so `pybabel update`)
keeps them. The strings live in marketbox/locale/<lang>/LC_MESSAGES/marketbox.po."""

from __future__ import annotations

from marketbox.toolkit.i18n import N_, NP_

UNUSED_YET = (
    N_("brand"),
    N_("nav.menu"),
    N_("loading"),
    N_("continue"),
    N_("cancel"),
    N_("repeat"),
    N_("refresh_status"),
    N_("invoice_no"),
    N_("pay_until"),
    N_("status.partially_paid"),
    N_("status.declined"),
    N_("error.generic"),
    N_("error.generic_hint"),
    N_("card.expiry_placeholder"),
    N_("method.sbp"),
    N_("method.bank_transfer"),
    N_("method.guarantee_fund"),
    N_("method.deferred"),
    N_("method.instant"),
    N_("method.no_fee"),
    N_("consent"),
    N_("processing.title"),
    N_("processing.hint"),
    N_("processing.slow"),
    N_("receipt.payer"),
    N_("receipt.paid_at"),
    N_("redirect_in"),
    N_("miniapp.load_failed"),
    N_("pos.hours"),
    N_("pos.phone"),
    N_("pos.links"),
    N_("pos.min_order"),
)
# Plural entries (msgid_plural in the catalogue): "{n} товар", "{n} товара", "{n} товаров"
PLURAL_KEYS = (NP_("items"),)
