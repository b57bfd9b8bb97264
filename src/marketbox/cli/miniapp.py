"""`marketbox miniapp check URL`: the playground's conformance verdict, headless, for a CI.

It runs a marketbox of its own in this process (a temporary SQLite database, sandbox mode, a
free port on 127.0.0.1), opens ``/playground`` in headless Chromium (Playwright driving the
distribution's browser, never a downloaded one), submits the form for URL in the chosen mode,
and watches the page until the run ends: the mini-app sent ``done``/``unavailable``/``checkout``,
or no init came within the time limit, or nothing new happened for ``--idle`` seconds after
the handshake, or ``--timeout`` passed. Then it saves the run (the page's «Сохранить» button)
and prints the verdict the server computed (playground/rules.py): the same rules as the page.

Exit codes: 0 no rule broken, 1 a rule broken, 2 could not run (no Playwright, no Chromium,
a bad argument); the last line says what to do. Progress goes to stderr, the verdict to stdout.
Playwright comes with the optional extra ``marketbox[check]`` (scripts/install installs it).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx

from marketbox.config import Settings

EXIT_PASSED = 0
EXIT_BROKEN = 1
EXIT_CANNOT_RUN = 2
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SERVER_START_SECONDS = 30.0
POLL_SECONDS = 0.1
MARKS = {
    "followed": "ok",
    "broken": "BROKEN",
    "warning": "warning",
    "info": "info",
    "not_exercised": "-",
}

Commands = Any


def add_miniapp(commands: Commands) -> None:
    miniapp = commands.add_parser("miniapp", help="tools for mini-app developers")
    actions = miniapp.add_subparsers(
        dest="action", required=True, metavar="ACTION", help="what to do"
    )
    check = actions.add_parser(
        "check",
        help="check a mini-app against the protocol in headless Chromium (exit 1: a rule broken)",
        description="Open URL in the playground's host frame in headless Chromium, run the "
        "protocol conformance rules over every message and print the verdict. Exit 0: no rule "
        "broken; 1: a rule broken; 2: could not run. Needs Playwright (pip install "
        "'marketbox[check]') and Chromium (/usr/bin/chromium or $MARKETBOX_CHROMIUM).",
    )
    check.add_argument("url", help="the mini-app's URL (http or https)")
    check.add_argument(
        "--mode",
        choices=("order", "suborder"),
        default="order",
        help="order: a main order form (full height); suborder: an add-on on an invoice, with "
        "a real pending sandbox invoice (default: %(default)s)",
    )
    check.add_argument(
        "--timeout",
        type=_seconds,
        metavar="S",
        default=30.0,
        help="give up after this many seconds in total (default: %(default)s)",
    )
    check.add_argument(
        "--idle",
        type=_seconds,
        metavar="S",
        default=3.0,
        help="after the handshake, end the run once nothing happened for this many seconds "
        "(default: %(default)s)",
    )
    check.add_argument(
        "--sample",
        choices=("flight", "rail", "lodging"),
        default="flight",
        help="the invoice's metaData in suborder mode (default: %(default)s)",
    )
    check.add_argument("--json", action="store_true", help="print the saved run as JSON")
    check.set_defaults(handler=cmd_miniapp_check)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text}") from None
    if not 0.5 <= value <= 600:
        raise argparse.ArgumentTypeError("between 0.5 and 600 seconds")
    return value


def _progress(text: str) -> None:
    print(f"marketbox: {text}", file=sys.stderr, flush=True)


def _cannot_run(text: str) -> int:
    print(f"marketbox: cannot run the check: {text}", file=sys.stderr, flush=True)
    return EXIT_CANNOT_RUN


def chromium_path(settings: Settings) -> str | None:
    """MARKETBOX_CHROMIUM (default /usr/bin/chromium), if it is an executable file."""
    path = settings.chromium
    return path if os.path.isfile(path) and os.access(path, os.X_OK) else None


def cmd_miniapp_check(args: argparse.Namespace, settings: Settings) -> int:
    parts = urlsplit(args.url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return _cannot_run(f"{args.url!r} is not an http(s) URL")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return _cannot_run(
            "Playwright is not installed: pip install 'marketbox[check]' (or run scripts/install)"
        )
    browser_path = chromium_path(settings)
    if browser_path is None:
        return _cannot_run(
            "no Chromium at /usr/bin/chromium: install it (sudo apt-get install chromium) or "
            "point MARKETBOX_CHROMIUM at one"
        )
    # The server's own fetch of the URL (playground probe) would log every request.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="marketbox-check-") as tmp:
        with _platform(settings, Path(tmp) / "check.db") as base_url:
            _progress(f"a sandbox marketbox runs at {base_url}")
            with sync_playwright() as playwright:
                try:
                    browser = playwright.chromium.launch(
                        executable_path=browser_path, args=CHROMIUM_ARGS, headless=True
                    )
                except Exception as exc:  # Playwright's own error types vary by version
                    first = str(exc).strip().splitlines()
                    return _cannot_run(f"Chromium did not start: {first[0] if first else exc}")
                try:
                    run = _check(browser, base_url, args)
                except Exception as exc:  # the page or the browser failed, not the mini-app
                    first = str(exc).strip().splitlines()
                    return _cannot_run(f"the playground run failed: {first[0] if first else exc}")
                finally:
                    browser.close()
    if args.json:
        print(json.dumps(run, ensure_ascii=False, indent=2))
    else:
        print(render(run))
    return EXIT_PASSED if run["verdict"]["passed"] else EXIT_BROKEN


@contextmanager
def _platform(settings: Settings, database: Path) -> Iterator[str]:
    """This process serves a fresh sandbox marketbox on a free 127.0.0.1 port."""
    import uvicorn

    from marketbox.app import create_app
    from marketbox.cli.serving import make_config

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    own = settings.model_copy(
        update={
            "database_url": f"sqlite+aiosqlite:///{database}",
            "public_url": base_url,
            "mode": "sandbox",
            "redis_url": None,
            "rate_limit_enabled": False,
        }
    )
    server = uvicorn.Server(make_config(create_app(own), own.log_format, ws="none"))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="check-server", daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + SERVER_START_SECONDS
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the sandbox marketbox did not start")
            time.sleep(0.05)
        yield base_url
    finally:
        server.should_exit = True
        thread.join(timeout=SERVER_START_SECONDS)
        sock.close()


def _check(browser: Any, base_url: str, args: argparse.Namespace) -> dict[str, Any]:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    query = urlencode({"lang": "en", "url": args.url, "mode": args.mode})
    page.goto(f"{base_url}/playground?{query}")
    if args.mode == "suborder":
        page.click(f'[data-pg-sample="{args.sample}"]')
    _progress(f"opening {args.url} in the host frame ({args.mode} mode)")
    started = time.monotonic()
    page.click("[data-pg-open]")
    page.wait_for_selector("[data-playground][data-config]", timeout=SERVER_START_SECONDS * 1000)
    root = page.locator("[data-playground]")
    seen = 0
    last_change = time.monotonic()
    ready = False
    while True:
        now = time.monotonic()
        count = int(root.get_attribute("data-log-count") or 0)
        lines = page.evaluate(
            "(from) => Array.from(document.querySelectorAll('[data-log-entry]')).slice(from)"
            ".map((row) => [...row.querySelectorAll('.pg-log__head > span, .pg-log__note')]"
            ".map((n) => n.textContent.trim()).filter(Boolean).join('  '))",
            seen,
        )
        for line in lines:
            _progress(f"  {line}")
        if lines:
            seen += len(lines)
            last_change = now
        ready = ready or page.locator('[data-miniapp-state="ready"]').count() > 0
        phase = root.get_attribute("data-phase")
        evaluated = int(root.get_attribute("data-evaluated") or -1)
        if phase == "finished" and evaluated >= max(count, seen):
            _progress(f"the run ended: {root.get_attribute('data-finish-reason')}")
            break
        if ready and now - last_change >= args.idle:
            _progress(f"nothing new for {args.idle:g} s: ending the run")
            break
        if now - started >= args.timeout:
            _progress(f"--timeout {args.timeout:g} s reached: ending the run")
            break
        time.sleep(POLL_SECONDS)
    page.click("[data-pg-save]")
    page.wait_for_selector("[data-pg-saved]:not([hidden])", timeout=30_000)
    run_id = root.get_attribute("data-run-id")
    page.close()
    response = httpx.get(f"{base_url}/playground/runs/{run_id}.json", timeout=30)
    response.raise_for_status()
    run: dict[str, Any] = response.json()
    return run


def render(run: dict[str, Any]) -> str:
    """The verdict for people: one line per rule, then the outcome."""
    verdict = run["verdict"]
    context = run["context"]
    lines = [f"{context['url']} ({context['mode']} mode)"]
    for rule in verdict["rules"]:
        mark = MARKS.get(rule["status"], rule["status"])
        lines.append(f"  {mark:<8} {rule['title']}: {rule['detail']}")
    broken = verdict["counts"].get("broken", 0)
    lines.append("no rule broken" if verdict["passed"] else f"{broken} rule(s) broken")
    return "\n".join(lines)
