"""The guarantee sandbox (payers, instruments) and its texts in both languages."""

from __future__ import annotations

import pytest

from marketbox.companies.sources import FixtureSource
from marketbox.guarantee import sandbox, texts


def test_sandbox_payers_are_companies_of_the_sandbox_lookup() -> None:
    known = {c.vat_number for c in FixtureSource().companies}

    assert {payer.vat_number for payer in sandbox.PAYERS} <= known


def test_production_registers_no_payer() -> None:
    payer = sandbox.PAYERS[0].vat_number

    assert sandbox.find_payer(payer, mode="sandbox") is sandbox.PAYERS[0]
    assert sandbox.find_payer(payer, mode="production") is None
    assert sandbox.find_payer(None, mode="sandbox") is None


def test_payment_methods_fit_the_payments_table() -> None:
    assert all(len(method) <= 20 for method in sandbox.PAYMENT_METHODS.values())


@pytest.mark.parametrize("key", texts.NOTE_KEYS)
def test_both_languages_have_every_note(key: str) -> None:
    assert texts.note("ru", key) != texts.note("en", key)


@pytest.mark.parametrize("language", ["ru", "en"])
@pytest.mark.parametrize("key", texts.MESSAGE_KEYS)
def test_messages_have_a_title_and_a_text(language: str, key: str) -> None:
    message = texts.message(language, key, left=2)

    assert message["title"]
    assert message["message"]
    assert "{" not in message["message"]


def test_an_unknown_language_falls_back_to_russian() -> None:
    assert texts.note("de", "notRegistered") == texts.note("ru", "notRegistered")
    assert texts.note("ru", "notRegistered") == "Плательщик не подключён к этому способу оплаты"
