"""The conformance rules (playground/rules.py) over hand-made logs: each rule followed, broken
and not exercised, as the page, the shared run and `marketbox miniapp check` report them."""

from __future__ import annotations

from typing import Any

import pytest

from marketbox.playground import rules
from marketbox.playground.service import frame_block

PREFIX = "https://pay.test/order/"
CONTAINER = "0190f0a1-0000-7000-8000-0000000000c1"
ORIGIN = "https://app.test"


def ctx(mode: str = "order", **kw: Any) -> rules.Context:
    return rules.Context(
        url=f"{ORIGIN}/app",
        mode=mode,
        full_height=kw.pop("full_height", mode == "order"),
        payment_url_prefix=PREFIX,
        order_container_id=CONTAINER if mode == "suborder" else None,
        **kw,
    )


def got(action: Any, data: Any = None, *, t: int = 50, **extra: Any) -> dict[str, Any]:
    payload = {"id": "f", "action": action, "data": data, **extra}
    return {"t": t, "kind": "received", "action": action, "origin": ORIGIN, "payload": payload}


def handshake(t: int = 40, **extra: Any) -> list[dict[str, Any]]:
    init = {"t": t, "kind": "received", "action": "init", "origin": ORIGIN,
            "payload": {"id": "f", "action": "init", **extra}}  # fmt: skip
    return [init, {"t": t + 1, "kind": "sent", "action": "init", "origin": ORIGIN}]


def ignored(reason: str, payload: Any, origin: str = ORIGIN) -> dict[str, Any]:
    return {"t": 60, "kind": "ignored", "reason": reason, "origin": origin, "payload": payload}


def statuses(context: rules.Context, log: list[Any]) -> dict[str, str]:
    return {o.rule: o.status for o in rules.evaluate(context, log).outcomes}


def test_a_conforming_suborder_run_passes() -> None:
    log = [
        *handshake(version=2),
        got("height", 420),
        got("link", "/offer.html"),
        got("error", None),
        got("done", PREFIX + CONTAINER),
    ]
    verdict = rules.evaluate(ctx("suborder"), log)

    assert verdict.passed
    assert {o.rule: o.status for o in verdict.outcomes} == {
        "init": "followed", "id": "followed", "order": "followed", "height": "followed",
        "done": "followed", "error": "followed", "link": "followed",
        "unavailable": "not_exercised", "objects": "followed", "origin": "followed",
        "version": "info", "unknown": "followed",
    }  # fmt: skip
    assert verdict.problems == {}


def test_nothing_at_all_breaks_only_the_init_rule_and_says_why() -> None:
    context = ctx(duration_ms=3000, probe={"ok": False, "error": "ConnectError: refused"})
    verdict = rules.evaluate(context, [{"t": 0, "kind": "note"}])

    assert [o.rule for o in verdict.outcomes if o.status == "broken"] == ["init"]
    assert verdict.outcomes[0].detail == (
        "no init message arrived (waited 3.0 s): "
        "the URL could not be loaded (ConnectError: refused)"
    )


def test_a_late_init_is_broken() -> None:
    assert statuses(ctx(), handshake(t=15_001))["init"] == "broken"


@pytest.mark.parametrize(
    ("log_tail", "rule"),
    [
        ([ignored("id", {"id": "x", "action": "height", "data": 300})], "id"),
        ([ignored("type", '{"id":"f","action":"height"}')], "objects"),
        ([ignored("origin", {"id": "f", "action": "done"}, "https://evil.test")], "origin"),
        ([got("height", "300")], "height"),
        ([got("height", 99)], "height"),
        ([got("height", 5001)], "height"),
        ([got("done", "https://evil.test/order/" + CONTAINER)], "done"),
        ([got("done", PREFIX + "not-a-uuid")], "done"),
        ([got("done", PREFIX + "0190f0a1-0000-7000-8000-0000000000c2")], "done"),
        ([got("checkout", None)], "done"),
        ([got("error", {"message": "x"})], "error"),
        ([got("link", "javascript:alert(1)")], "link"),
        ([got("unavailable", {"why": "x"})], "unavailable"),
    ],
)
def test_each_broken_rule_names_the_message(log_tail: list[Any], rule: str) -> None:
    log = [*handshake(), *log_tail]
    verdict = rules.evaluate(ctx("suborder"), log)

    broken = [o.rule for o in verdict.outcomes if o.status == "broken"]
    assert broken == [rule]
    assert verdict.problems == {2: [rule]}


def test_a_height_in_a_full_height_frame_is_broken() -> None:
    outcome = rules.evaluate(ctx("order"), [*handshake(), got("height", 400)]).outcomes[3]
    assert (outcome.status, outcome.detail) == (
        "broken",
        "1 bad height: a height message in a full-height frame",
    )


def test_a_message_before_init_is_broken() -> None:
    log = [got("height", 300, t=5), *handshake(t=40)]
    assert statuses(ctx("suborder"), log)["order"] == "broken"


def test_an_unknown_action_is_only_a_warning() -> None:
    verdict = rules.evaluate(ctx(), [*handshake(version=3), got("futureThing", 1)])

    assert verdict.passed
    assert statuses(ctx(), [*handshake(), got("futureThing", 1)])["unknown"] == "warning"
    assert verdict.outcomes[-2].detail == "protocol v3 declared"


def test_a_bad_version_is_a_warning() -> None:
    assert statuses(ctx(), handshake(version="2"))["version"] == "warning"


def test_done_with_null_is_followed() -> None:
    assert statuses(ctx(), [*handshake(), got("done", None)])["done"] == "followed"


def test_garbage_entries_do_not_break_the_evaluation() -> None:
    verdict = rules.evaluate(ctx(), [None, 1, "x", {"t": "soon", "kind": "received"}])
    assert verdict.to_json()["passed"] is False


@pytest.mark.parametrize(
    ("xfo", "csp", "blocked"),
    [
        (None, None, False),
        ("DENY", None, True),
        ("sameorigin", None, True),
        (None, "frame-ancestors 'self' https://pay.test", False),
        (None, "default-src 'self'; frame-ancestors 'none'", True),
        (None, "frame-ancestors *.test", False),
        (None, "frame-ancestors *.pay.test", True),  # not the bare host
        (None, "frame-ancestors https://other.test", True),
    ],
)
def test_frame_block(xfo: str | None, csp: str | None, blocked: bool) -> None:
    assert (frame_block(xfo, csp, "https://pay.test") is not None) == blocked
