"""The playground's HTTP side (playground/views.py): the form, opening a suborder run on a real
pending invoice, evaluating and saving runs, the shared run page and its JSON, the refusals,
and its absence in production."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from marketbox.app import create_app
from marketbox.marketplace import service as marketplace_service
from marketbox.merchants.service import DEMO_MERCHANT_ID
from marketbox.storage.db import Database
from tests.conftest import TEST_PUBLIC_URL, make_settings

APP_URL = "http://127.0.0.1:9/app"  # nothing listens: the probe says so
PREFIX = f"{TEST_PUBLIC_URL}/order/"


def form(**overrides: str) -> dict[str, str]:
    values = {
        "url": APP_URL,
        "mode": "order",
        "name": "Анна Смирнова",
        "email": "anna@example.org",
        "phone": "+79005556677",
        "locale": "ru",
        "shop_id": "1",
        "sample": "flight",
        "meta_data": json.dumps({"@type": "FlightReservation", "iataCode": "SVO"}),
    }
    values.update(overrides)
    return values


def good_log(container: str = "0190f0a1-0000-7000-8000-0000000000c1") -> list[dict[str, Any]]:
    origin = "http://127.0.0.1:9"
    return [
        {"t": 0, "kind": "note", "message": "open"},
        {"t": 40, "kind": "received", "action": "init", "origin": origin,
         "payload": {"id": "f", "action": "init", "version": 2}},
        {"t": 41, "kind": "sent", "action": "init", "origin": origin,
         "payload": {"id": "f", "action": "init", "data": {}}},
        {"t": 90, "kind": "received", "action": "done", "origin": origin,
         "payload": {"id": "f", "action": "done", "data": PREFIX + container}},
    ]  # fmt: skip


async def test_the_form_renders_with_the_samples(client: httpx.AsyncClient) -> None:
    page = await client.get("/playground?lang=en&url=https://shop.example/app&mode=suborder")

    assert page.status_code == 200
    assert 'value="https://shop.example/app"' in page.text
    assert "LodgingReservation" in page.text and "TrainReservation" in page.text
    assert "Mini-app playground" in page.text


async def test_opening_in_suborder_mode_creates_a_pending_invoice(
    client: httpx.AsyncClient,
) -> None:
    page = await client.post("/playground", data=form(mode="suborder"))

    assert page.status_code == 200
    assert "frame-src 'self' http: https:;" in page.headers["content-security-policy"]
    config_text = page.text.split('id="pg-config">')[1].split("</script>")[0]
    config = json.loads(config_text.replace("\\u003c", "<").replace("\\u003e", ">"))
    container = config["context"]["orderContainerId"]
    assert config["frame"]["initData"]["public"]["orderContainerId"] == container
    assert config["frame"]["initData"]["private"]["metaData"][0]["iataCode"] == "SVO"
    assert config["context"]["probe"]["ok"] is False  # nothing listens there
    invoice = await client.get(f"/order/{container}")
    assert invoice.status_code == 200


@pytest.mark.parametrize(
    ("field", "value"),
    [("url", "javascript:alert(1)"), ("shop_id", "0"), ("meta_data", "[1, 2")],
)
async def test_a_bad_form_is_refused_with_the_field_named(
    client: httpx.AsyncClient, field: str, value: str
) -> None:
    page = await client.post("/playground", data=form(mode="suborder", **{field: value}))

    assert page.status_code == 422
    assert f'id="{field}-error"' in page.text
    assert 'id="pg-config"' not in page.text


async def test_a_run_is_evaluated_saved_and_shared(client: httpx.AsyncClient) -> None:
    context = {"url": APP_URL, "mode": "order", "fullHeight": True, "paymentUrlPrefix": PREFIX}

    verdict = (
        await client.post("/playground/evaluate", json={"context": context, "log": good_log()})
    ).json()
    assert verdict["passed"] is True

    saved = await client.post("/playground/runs", json={"context": context, "log": good_log()})
    assert saved.status_code == 201
    run_url = saved.json()["url"]
    shared = await client.get(run_url + "?lang=en")
    assert shared.status_code == 200
    assert 'data-passed="true"' in shared.text
    document = (await client.get(run_url + ".json")).json()
    assert document["log"] == good_log()
    assert document["verdict"]["rules"][0] == {
        "rule": "init",
        "status": "followed",
        "detail": "init at 40 ms, answered by the host",
        "message": {"key": "playground.detail.init.ok", "params": {"t": 40}},
        "entries": [],
        "title": "answered init in time (within 15 s)",
    }  # fmt: skip


async def test_the_explanations_follow_the_page_language(client: httpx.AsyncClient) -> None:
    context = {"url": APP_URL, "mode": "order", "fullHeight": True, "paymentUrlPrefix": PREFIX}
    run = {"context": context, "log": good_log()}

    live = (await client.post("/playground/evaluate?lang=ru", json=run)).json()
    assert live["rules"][0]["detail"] == "init на 40 мс, хост ответил"
    english = (await client.post("/playground/evaluate?lang=en", json=run)).json()
    assert english["rules"][0]["detail"] == "init at 40 ms, answered by the host"

    saved = await client.post("/playground/runs?lang=ru", json=run)
    assert saved.json()["verdict"]["rules"][0]["detail"] == "init на 40 мс, хост ответил"
    shared = await client.get(saved.json()["url"] + "?lang=ru")
    assert "init на 40 мс, хост ответил" in shared.text
    assert "answered by the host" not in shared.text
    shared_en = await client.get(saved.json()["url"] + "?lang=en")
    assert "init at 40 ms, answered by the host" in shared_en.text
    # The stored document (the download, `marketbox miniapp check`) stays in English.
    document = (await client.get(saved.json()["url"] + ".json")).json()
    assert document["verdict"]["rules"][0]["detail"] == "init at 40 ms, answered by the host"


async def test_a_foreign_done_is_broken_on_the_shared_page(client: httpx.AsyncClient) -> None:
    context = {"url": APP_URL, "mode": "suborder", "fullHeight": False, "paymentUrlPrefix": PREFIX,
               "orderContainerId": "0190f0a1-0000-7000-8000-0000000000c2"}  # fmt: skip
    saved = await client.post("/playground/runs", json={"context": context, "log": good_log()})

    shared = await client.get(saved.json()["url"])
    assert 'data-passed="false"' in shared.text
    assert 'data-rule="done" data-status="broken"' in shared.text
    assert 'data-problems="done"' in shared.text


@pytest.mark.parametrize(
    "payload", [[], {"context": {}, "log": {}}, {"context": 1, "log": []}, {"log": []}]
)
async def test_a_malformed_run_is_refused(client: httpx.AsyncClient, payload: Any) -> None:
    answer = await client.post("/playground/runs", json=payload)

    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "validation_error"


async def test_an_unknown_run_is_not_found(client: httpx.AsyncClient) -> None:
    assert (await client.get("/playground/runs/nope")).status_code == 404
    missing = "0190f0a1-0000-7000-8000-0000000000c9"
    assert (await client.get(f"/playground/runs/{missing}.json")).status_code == 404


async def test_a_cross_site_post_is_refused(client: httpx.AsyncClient) -> None:
    answer = await client.post(
        "/playground", data=form(), headers={"Origin": "https://evil.example"}
    )
    assert answer.status_code == 403


@pytest.fixture
async def production(database_url: str, db: Database) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(database_url, mode="production", session_secret="s" * 32)
    app = create_app(settings, db=db, migrate=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=TEST_PUBLIC_URL) as http:
        yield http


async def test_the_playground_is_absent_in_production(production: httpx.AsyncClient) -> None:
    assert (await production.get("/playground")).status_code == 404
    assert (await production.post("/playground", data=form())).status_code == 404
    assert (await production.post("/playground/evaluate", json={})).status_code == 404


async def test_a_point_of_sale_of_ours_gets_signed_launch_data(
    client: httpx.AsyncClient, db: Database
) -> None:
    async with db.transaction() as conn:
        shop = await marketplace_service.create_point_of_sale(
            conn,
            merchant_id=DEMO_MERCHANT_ID,
            title="Лаунж",
            mini_app={"url": "https://lounge.test/app"},
        )

    ours = await client.post("/playground", data=form(shop_id=str(shop["id"])))
    unknown = await client.post("/playground", data=form(shop_id="999999"))

    assert "signedLaunchData" in ours.text.split('id="pg-config">')[1].split("</script>")[0]
    assert "signedLaunchData" not in unknown.text.split('id="pg-config">')[1].split("</script>")[0]


async def test_a_saved_runs_log_notes_follow_the_page_language(client: httpx.AsyncClient) -> None:
    context = {"url": APP_URL, "mode": "order", "fullHeight": True, "paymentUrlPrefix": PREFIX}
    origin = "http://127.0.0.1:9"
    log = [
        *good_log(),
        {"t": 95, "kind": "state", "message": "ready"},
        {"t": 99, "kind": "ignored", "reason": "id", "origin": origin,
         "message": "ignored: wrong id", "payload": {"id": "x", "action": "height"}},
        {"t": 99, "kind": "ignored", "reason": "origin", "origin": "https://evil.test",
         "message": "ignored: origin https://evil.test is not allowed", "payload": {}},
        {"t": 99, "kind": "refused", "reason": "link", "action": "link", "value": "javascript:1",
         "message": "refused link: javascript:1"},
        {"t": 99, "kind": "refused", "action": "done", "message": "refused done: the bridge"},
        {"t": 99, "kind": "ignored", "reason": "made-up", "message": "as it was stored"},
    ]  # fmt: skip
    saved = await client.post("/playground/runs", json={"context": context, "log": log})
    url = saved.json()["url"]

    russian = (await client.get(url + "?lang=ru")).text
    english = (await client.get(url + "?lang=en")).text

    for note in ("init получен, окно показано", "пропущено: чужой id",
                 "пропущено: источник https://evil.test не разрешён",
                 "link отклонён: javascript:1"):  # fmt: skip
        assert note in russian
    for note in ("ignored: wrong id", "ignored: origin https://evil.test is not allowed",
                 "refused link: javascript:1"):  # fmt: skip
        assert note in english and note not in russian
    # The kinds of entry without an action, and the chips of what was ignored or refused.
    assert '<span class="pg-log__action">состояние</span>' in russian
    assert '<span class="pg-log__action">state</span>' in english
    assert 'chip--warning">отклонено</span>' in russian
    # What the catalogue does not know is shown as the bridge wrote it.
    assert "refused done: the bridge" in russian and "as it was stored" in russian
