"""The conformance rules (playground/rules.py) over hand-made logs: each rule followed, broken
and not exercised, as the page, the shared run and `marketbox miniapp check` report them."""

from __future__ import annotations

import json
import re
from pathlib import Path
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
        "no init message arrived (waited 3 s): the URL could not be loaded (ConnectError: refused)"
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


# --- the explanations in the reader's language ----------------------------------------------


def test_the_explanations_speak_russian_with_the_plural_forms() -> None:
    def origin_detail(count: int, locale: str) -> str:
        foreign = [ignored("origin", {"id": "f", "action": "done"}, "https://evil.test")] * count
        return rules.evaluate(ctx(), [*handshake(), *foreign]).outcomes[9].text.render(locale)

    tail = "с https://evil.test, а не с источника мини-приложения"
    assert origin_detail(1, "ru") == f"1 сообщение пришло {tail}"
    assert origin_detail(3, "ru") == f"3 сообщения пришли {tail}"
    assert origin_detail(5, "ru") == f"5 сообщений пришло {tail}"
    assert (
        origin_detail(1, "en") == "1 message came from https://evil.test, not the mini-app's origin"
    )
    assert origin_detail(2, "en").startswith("2 messages came from")


def test_a_clause_and_a_number_are_rendered_in_the_language_too() -> None:
    context = ctx(duration_ms=2500, probe={"ok": True, "status": 404})
    outcome = rules.evaluate(context, []).outcomes[0]

    assert (
        outcome.text.render("ru")
        == "сообщение init не пришло (ждали 2,5 с): адрес ответил HTTP 404"
    )
    assert outcome.detail == "no init message arrived (waited 2.5 s): the URL answered HTTP 404"


LOGS_FOR_EVERY_EXPLANATION: list[tuple[rules.Context, list[Any]]] = [
    (ctx(), []),
    (ctx(duration_ms=100, probe={"ok": False, "frameBlock": "X-Frame-Options: DENY"}), []),
    (ctx(probe={"ok": False, "error": "refused"}), []),
    (ctx(), handshake(t=20_000)),
    (ctx(), [got("init")]),
    (ctx("suborder"), [got("height", 300, t=5), *handshake(version=0), got("height", "x"),
                      got("height", float("inf")), got("height", 5001), got("futureThing"),
                      got("done", 7), got("error", {"a": 1}), got("link", 5),
                      got("unavailable", 1), ignored("id", {"id": "x"}),
                      ignored("type", "text"), ignored("origin", {}, "https://evil.test")]),
    (ctx("suborder"), [got("height", 300), *handshake(version=2), got("height", 400),
                      got("done", PREFIX + CONTAINER), got("error", "oops"),
                      got("link", "https://x.test"), got("unavailable", None)]),
    (ctx(), [*handshake(), got("height", 400), got("done", "https://x.test/"),
             got("link", "javascript:alert(1)"), got("link", " ")]),
    (ctx("suborder"), [*handshake(), got("done", PREFIX + "0190f0a1-0000-7000-8000-0000000000c2")]),
    (ctx(), [*handshake(), got("done", None), got("link", "/x")]),
    (ctx(), [*handshake(), got("checkout", PREFIX + CONTAINER)]),
    (ctx(), [got("height", 300)]),
]  # fmt: skip


def test_every_explanation_has_both_languages_and_its_message_renders_it_again() -> None:
    seen: set[str] = set()
    for context, log in LOGS_FOR_EVERY_EXPLANATION:
        for outcome in rules.evaluate(context, log).outcomes:
            seen.add(outcome.text.key)
            russian = outcome.text.render("ru")
            assert re.search("[а-яё]", russian), (outcome.rule, russian)
            stored = json.loads(json.dumps(outcome.to_json()))
            assert stored["detail"] == outcome.detail
            again = rules.Text.from_json(stored["message"])
            assert again is not None and again.render("ru") == russian
    in_code = set(re.findall(r'NP?_\("(playground\.detail\.[a-z_.]+)"\)', RULES_SOURCE))
    assert in_code - seen == set()  # every explanation was met above


RULES_SOURCE = Path(rules.__file__).read_text(encoding="utf-8")


def test_a_stored_verdict_is_shown_in_the_page_language() -> None:
    log = [*handshake(), got("height", 400), got("height", 500)]
    stored = json.loads(json.dumps(rules.evaluate(ctx("suborder"), log).to_json()))
    assert stored["rules"][3]["detail"] == "2 heights (400, 500 px)"

    russian = rules.localized(stored, "ru")

    assert russian["rules"][3]["detail"] == "2 высоты (400, 500 px)"
    assert russian["rules"][0]["detail"] == "init на 40 мс, хост ответил"
    assert stored["rules"][3]["detail"] == "2 heights (400, 500 px)"  # the stored one unchanged


@pytest.mark.parametrize(
    "message",
    [
        None,
        "text",
        {"key": "office.title", "params": {}},  # not one of the verdict's keys
        {"key": "playground.detail.nothing", "params": {}},  # no such key
        {"key": "playground.detail.height.ok", "params": {"values": "1"}},  # no n
        {"key": "playground.detail.height.ok", "params": {"n": True, "values": "1"}},
        {"key": "playground.detail.init.ok", "params": {}},  # a placeholder unfilled
        {"key": "playground.detail.init.ok", "params": {"t": [1]}},
        {"key": "playground.detail.done.bad", "params": {"action": "done", "problem": {"key": 1}}},
    ],
)
def test_a_changed_stored_message_keeps_the_stored_detail(message: Any) -> None:
    stored = {
        "passed": True,
        "rules": [{"rule": "init", "detail": "as stored", "message": message}],
    }

    assert rules.localized(stored, "ru")["rules"][0]["detail"] == "as stored"


def test_a_run_saved_before_messages_keeps_its_details() -> None:
    stored = {"passed": True, "rules": [{"rule": "init", "detail": "init at 40 ms"}, "junk"]}

    assert rules.localized(stored, "ru")["rules"] == stored["rules"]
