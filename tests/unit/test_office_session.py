"""The office's signed session cookie (office/session.py): what it carries, and every way a
cookie that was not issued by this secret, for this purpose, recently, is refused."""

from __future__ import annotations

import pytest

from marketbox.marketplace import session as buyer_session
from marketbox.office import session

SECRET = "s" * 32
NOW = 1_800_000_000.0


def test_a_session_round_trips() -> None:
    issued = session.Session.anonymous().logged_in("user-1")

    cookie = session.encode(issued, secret=SECRET, now=NOW)

    assert session.decode(cookie, secret=SECRET, now=NOW + 60) == issued


def test_logging_in_changes_the_csrf_token() -> None:
    anonymous = session.Session.anonymous()

    logged_in = anonymous.logged_in("user-1")

    assert logged_in.csrf != anonymous.csrf
    assert logged_in.accepts(logged_in.csrf)
    assert not logged_in.accepts(anonymous.csrf)
    assert not logged_in.accepts(None)
    assert not logged_in.accepts("")


@pytest.mark.parametrize(
    "tamper",
    [
        lambda c: c.replace(c.split(".")[0], c.split(".")[0][:-2] + "xx"),
        lambda c: c.rsplit(".", 1)[0] + ".AAAA",
        lambda c: c + ".more",
        lambda c: "",
    ],
    ids=["body", "signature", "shape", "empty"],
)
def test_a_tampered_cookie_is_no_session(tamper: object) -> None:
    cookie = session.encode(session.Session("user-1", "token"), secret=SECRET, now=NOW)

    assert session.decode(tamper(cookie), secret=SECRET, now=NOW) is None  # type: ignore[operator]


def test_another_secret_or_an_old_cookie_is_no_session() -> None:
    cookie = session.encode(session.Session("user-1", "token"), secret=SECRET, now=NOW)

    assert session.decode(cookie, secret="t" * 32, now=NOW) is None
    assert session.decode(cookie, secret=SECRET, now=NOW + session.MAX_AGE_SECONDS + 1) is None
    assert session.decode(cookie, secret=SECRET, now=NOW - 10) is None  # issued in the future


def test_the_buyers_cookie_is_not_an_office_session() -> None:
    buyer = buyer_session.encode(buyer_session.Buyer(name="u"), secret=SECRET, now=NOW)

    assert session.decode(buyer, secret=SECRET, now=NOW) is None
