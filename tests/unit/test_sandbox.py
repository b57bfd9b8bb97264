"""The sandbox's pure parts: durations, the banner's shift, and which tables a reset empties."""

from __future__ import annotations

from datetime import timedelta

import pytest

from marketbox.sandbox import repository
from marketbox.sandbox.clock import parse_duration
from marketbox.sandbox.errors import BadDuration
from marketbox.storage.schema import metadata
from marketbox.toolkit.formatting import format_shift

NBSP = "\u00a0"


@pytest.mark.parametrize(
    ("text", "delta"),
    [
        ("30s", timedelta(seconds=30)),
        ("15m", timedelta(minutes=15)),
        ("2h", timedelta(hours=2)),
        ("1d", timedelta(days=1)),
        ("1d12h30m", timedelta(days=1, hours=12, minutes=30)),
        (" 2H ", timedelta(hours=2)),
        ("90m", timedelta(minutes=90)),
    ],
)
def test_durations_people_write(text: str, delta: timedelta) -> None:
    assert parse_duration(text) == delta


@pytest.mark.parametrize("text", ["", "2", "-2h", "0s", "2x", "h", "1h1d", "3651d", "２h"])
def test_what_is_not_a_forward_duration(text: str) -> None:
    with pytest.raises(BadDuration):
        parse_duration(text)


@pytest.mark.parametrize(
    ("delta", "ru", "en"),
    [
        (timedelta(hours=2), f"+2{NBSP}ч", f"+2{NBSP}h"),
        (
            timedelta(days=1, hours=3, minutes=30),
            f"+1{NBSP}д{NBSP}3{NBSP}ч{NBSP}30{NBSP}мин",
            f"+1{NBSP}d{NBSP}3{NBSP}h{NBSP}30{NBSP}min",
        ),
        (timedelta(seconds=61), f"+1{NBSP}мин{NBSP}1{NBSP}с", f"+1{NBSP}min{NBSP}1{NBSP}s"),
    ],
)
def test_the_banner_shows_the_shift_in_both_languages(delta: timedelta, ru: str, en: str) -> None:
    assert (format_shift(delta, "ru"), format_shift(delta, "en")) == (ru, en)


def test_every_table_is_either_emptied_or_kept_by_a_reset() -> None:
    """A new table must be placed in sandbox/repository.py (and docs/sandbox.md "Reset")."""
    tables = {name for name in metadata.tables}

    assert repository.KEPT.isdisjoint(repository.EMPTIED)
    assert tables - repository.KEPT - repository.EMPTIED == set()
    assert (repository.KEPT | repository.EMPTIED) - tables == set()
