"""The mini-app playground (/playground) and `marketbox miniapp check` in headless Chromium,
against fixture mini-apps on another origin (tests/browser/playground_apps.py): the conforming
one is all green, each broken one is reported with the rule it breaks, on the page, on the
shared run page, in the JSON download and by the CLI's exit code."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from playwright.sync_api import Browser, Page

from tests.browser.bridge_support import BROWSER_MARKS, StaticSite
from tests.browser.playground_apps import APPS, serve_apps
from tests.support.live_server import live_server

pytestmark = BROWSER_MARKS

REPO = Path(__file__).resolve().parents[2]
RUN_END_MS = 25_000  # the bridge gives up on init after 15 s
BROKEN = {name: rule for name, (_, rule) in APPS.items() if rule is not None}


@pytest.fixture(scope="module")
def apps() -> Iterator[StaticSite]:
    site = serve_apps()
    yield site
    site.close()


@pytest.fixture(scope="module")
def platform(sqlite_template: Any) -> Iterator[str]:
    with live_server(sqlite_template.new_database()) as base_url:
        yield base_url


def open_in_playground(
    browser: Browser, platform: str, url: str, *, mode: str = "order", lang: str = "en"
) -> Page:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{platform}/playground?lang={lang}")
    page.fill("[data-pg-url]", url)
    page.check(f'[data-pg-mode][value="{mode}"]')
    page.click("[data-pg-open]")
    page.wait_for_selector("[data-playground][data-config]")
    return page


def wait_for_verdict(page: Page) -> dict[str, str]:
    """Wait until the run ended and its last entry was evaluated; {rule: status}."""
    page.wait_for_function(
        "() => { const r = document.querySelector('[data-playground]');"
        " return r.dataset.phase === 'finished'"
        " && Number(r.dataset.evaluated) >= Number(r.dataset.logCount); }",
        timeout=RUN_END_MS,
    )
    items = page.locator("[data-verdict-list] [data-rule]")
    return {
        items.nth(i).get_attribute("data-rule") or "": items.nth(i).get_attribute("data-status")
        or ""
        for i in range(items.count())
    }


def save(page: Page) -> str:
    page.click("[data-pg-save]")
    page.wait_for_selector("[data-pg-saved]:not([hidden])")
    return page.locator("[data-pg-run-link]").get_attribute("href") or ""


# --- the page ----------


def test_a_conforming_mini_app_is_all_green_and_its_run_is_shareable(
    browser: Browser, platform: str, apps: StaticSite
) -> None:
    page = open_in_playground(browser, platform, apps.url("/good.html"))
    verdict = wait_for_verdict(page)

    assert "broken" not in verdict.values()
    assert verdict["init"] == verdict["id"] == verdict["done"] == verdict["link"] == "followed"
    assert verdict["version"] == "info"
    assert page.get_attribute("[data-pg-summary]", "data-passed") == "true"
    # Every message in both directions is in the log, with its origin.
    rows = page.locator("[data-log-entry]")
    kinds = [rows.nth(i).get_attribute("data-kind") for i in range(rows.count())]
    assert "received" in kinds and "sent" in kinds
    assert apps.origin in page.inner_text("[data-pg-log]")

    run_url = save(page)
    shared = browser.new_page()
    shared.goto(platform + run_url)
    assert shared.get_attribute("[data-pg-summary]", "data-passed") == "true"
    assert shared.get_attribute('[data-rule="done"]', "data-status") == "followed"
    assert shared.locator("[data-log-entry]").count() == rows.count()
    download = httpx.get(f"{platform}{run_url}.json")
    assert download.headers["content-disposition"].startswith("attachment")
    document = download.json()
    assert document["verdict"]["passed"] is True
    assert document["context"]["url"] == apps.url("/good.html")
    shared.close()
    page.close()


def test_suborder_mode_opens_a_real_pending_invoice_and_accepts_its_url(
    browser: Browser, platform: str, apps: StaticSite
) -> None:
    page = open_in_playground(browser, platform, apps.url("/good.html"), mode="suborder")
    verdict = wait_for_verdict(page)

    assert "broken" not in verdict.values()
    assert verdict["height"] == "followed"  # a non-full-height frame, 420 px
    invoice = page.locator("[data-pg-invoice]").inner_text()
    assert httpx.get(f"{platform}/order/{invoice}").status_code == 200
    sent_init = page.evaluate(
        "() => [...document.querySelectorAll('[data-log-entry][data-kind=sent] pre')]"
        ".map((n) => JSON.parse(n.textContent))[0]"
    )
    assert sent_init["data"]["public"]["orderContainerId"] == invoice
    # The invoice's metaData (the flight sample) is what the mini-app can search.
    assert "SVO" in json.dumps(sent_init["data"]["private"]["metaData"])
    page.close()


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_each_broken_rule_is_reported_on_the_page(
    browser: Browser, platform: str, apps: StaticSite, name: str
) -> None:
    rule = BROKEN[name]
    mode = "suborder" if name == "bad_heights" else "order"
    page = open_in_playground(browser, platform, apps.url(f"/{name}.html"), mode=mode)
    verdict = wait_for_verdict(page)

    assert verdict[rule] == "broken", verdict
    assert [r for r, status in verdict.items() if status == "broken" and r != "order"] in (
        [rule],
        [],  # "order" alone for the message before init
    )
    assert page.get_attribute("[data-pg-summary]", "data-passed") == "false"
    if name != "never_init":  # the message at fault is marked in the log
        assert page.locator(f'[data-log-entry][data-problems~="{rule}"]').count() >= 1
    page.close()


def test_messages_from_another_origin_are_reported(
    browser: Browser, platform: str, apps: StaticSite
) -> None:
    elsewhere = serve_apps()  # the same pages on another origin
    try:
        url = apps.url(f"/redirect?to={quote(elsewhere.url('/good.html'), safe='')}")
        page = open_in_playground(browser, platform, url)
        page.wait_for_selector('[data-log-entry][data-kind="ignored"]', timeout=RUN_END_MS)
        page.wait_for_function(
            "() => document.querySelector('[data-rule=\"origin\"]')?.dataset.status === 'broken'",
            timeout=RUN_END_MS,
        )
        detail = page.inner_text('[data-rule="origin"] [data-rule-detail]')
        assert elsewhere.origin in detail
        page.close()
    finally:
        elsewhere.close()


def test_the_page_speaks_russian(browser: Browser, platform: str) -> None:
    page = browser.new_page()
    page.goto(f"{platform}/playground?lang=ru")
    assert page.inner_text("h1") == "Песочница мини-приложений"
    assert page.inner_text("[data-pg-open]") == "Открыть"
    page.close()


def test_a_russian_run_speaks_russian_in_its_verdict_and_its_log(
    browser: Browser, platform: str, apps: StaticSite
) -> None:
    page = open_in_playground(browser, platform, apps.url("/wrong_id.html"), lang="ru")
    wait_for_verdict(page)

    detail = page.inner_text('[data-rule="init"] [data-rule-detail]')
    assert re.fullmatch(r"init на [\d\xa0]+ мс, хост ответил", detail), detail
    assert page.inner_text('[data-rule="id"] [data-rule-detail]') == (
        '1 сообщение пришло с id "not-the-frame-id" вместо id окна (отброшено)'
    )
    notes = page.locator("[data-log-entry] .pg-log__note").all_inner_texts()
    assert f"открываем {apps.url('/wrong_id.html')}" in notes
    assert "загружается" in notes and "init получен, окно показано" in notes
    actions = page.locator("[data-log-entry] .pg-log__action").all_inner_texts()
    assert "заметка" in actions and "состояние" in actions
    ignored_note = '[data-log-entry][data-kind="ignored"] .pg-log__note'
    assert page.locator(ignored_note).first.inner_text() == "пропущено: чужой id"

    run_url = save(page)
    shared = browser.new_page()
    shared.goto(f"{platform}{run_url}?lang=ru")
    assert shared.inner_text('[data-rule="init"] [data-rule-detail]') == detail
    assert shared.locator(ignored_note).first.inner_text() == "пропущено: чужой id"
    shared.close()
    page.close()


# --- the CLI ----------


def run_check(url: str, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    command = [
        sys.executable,
        "-c",
        "from marketbox.cli.main import main; raise SystemExit(main())",
    ]
    environment = {**os.environ, **(env or {})}
    done = subprocess.run(
        [*command, "miniapp", "check", url, *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env=environment,
    )
    return done.returncode, done.stdout, done.stderr


def test_check_passes_a_conforming_mini_app(apps: StaticSite) -> None:
    code, out, err = run_check(apps.url("/good.html"), "--timeout", "20")

    assert code == 0, err
    assert "no rule broken" in out
    assert "init" in err  # progress lines while it works


@pytest.mark.parametrize("name", sorted([*BROKEN, "unknown_action"]))
def test_check_reports_each_broken_rule_with_exit_code_1(apps: StaticSite, name: str) -> None:
    rule = BROKEN.get(name)
    mode = "suborder" if name == "bad_heights" else "order"
    code, out, err = run_check(
        apps.url(f"/{name}.html"), "--json", "--mode", mode, "--timeout", "6", "--idle", "1.5"
    )

    run = json.loads(out)
    statuses = {r["rule"]: r["status"] for r in run["verdict"]["rules"]}
    if rule is None:  # an unknown action: a warning, not a failure
        assert code == 0, err
        assert statuses["unknown"] == "warning"
    else:
        assert code == 1, err
        assert statuses[rule] == "broken"


def test_check_reports_a_foreign_origin(apps: StaticSite) -> None:
    elsewhere = serve_apps()
    try:
        url = apps.url(f"/redirect?to={quote(elsewhere.url('/good.html'), safe='')}")
        code, out, err = run_check(url, "--json", "--timeout", "6")
    finally:
        elsewhere.close()

    assert code == 1, err
    statuses = {r["rule"]: r["status"] for r in json.loads(out)["verdict"]["rules"]}
    assert statuses["origin"] == "broken"


def test_check_explains_an_unreachable_url() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/app"
    code, out, _ = run_check(url, "--timeout", "3")

    assert code == 1
    assert "could not be loaded" in out


def test_check_says_what_to_do_when_it_cannot_run(apps: StaticSite) -> None:
    code, _, err = run_check(
        apps.url("/good.html"), env={"MARKETBOX_CHROMIUM": "/nonexistent/chromium"}
    )
    assert code == 2
    assert "apt-get install chromium" in err

    code, _, err = run_check("ftp://example.com/app")
    assert code == 2
    assert "not an http(s) URL" in err
