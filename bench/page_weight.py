"""The payment page on a bad network: bytes on a first visit, requests on a repeat visit.

``bench/run --phase page-weight``. A shop creates an order on a fresh SQLite server; headless
Chromium (Debian's, as the browser tests use: /usr/bin/chromium or MARKETBOX_CHROMIUM) opens
its payment page twice in one browser profile, the second time in a new tab as a payer coming
back would. Chromium's own network log (DevTools protocol) counts what went over the wire:

* first visit: every response's transferred bytes (headers and compressed body, as DevTools'
  "transferred" column), HTML, CSS, scripts and images alike — target ≤ 25 KB;
* repeat visit: the requests that reached the server, revalidations (304) included — target 1,
  the page itself (`no-store`): every asset comes from the cache without asking.

Judged by its own PASS/FAIL checks, like bench/many.py; the browser test
tests/browser/test_page_weight.py holds the same targets.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx

from bench import databases, payloads
from bench.harness import RunConfig, progress, server_env, start_server
from bench.procs import HOST, free_port

PHASE = "page-weight"
TAG = "page-weight/payment"
FIRST_VISIT_BYTES = 25 * 1024
REPEAT_VISIT_REQUESTS = 1
ORDERS = "/v3/billing/api/order/order"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@dataclass
class Visit:
    """What one page load sent over the network (responses served from the cache excluded)."""

    transferred: int = 0
    requests: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    sizes: dict[str, int] = field(default_factory=dict)


def chromium_path() -> str | None:
    path = os.environ.get("MARKETBOX_CHROMIUM", "/usr/bin/chromium")
    return path if os.path.isfile(path) and os.access(path, os.X_OK) else None


def visit(context: Any, url: str, *, width: int = 390, height: int = 844) -> Visit:
    """Open `url` in a new tab of `context` (a Playwright BrowserContext) and log the network."""
    page = context.new_page()
    page.set_viewport_size({"width": width, "height": height})
    cdp = context.new_cdp_session(page)
    seen: dict[str, str] = {}
    from_cache: set[str] = set()
    finished: dict[str, int] = {}

    def sent(event: dict[str, Any]) -> None:
        if not event["request"]["url"].startswith("data:"):
            seen[event["requestId"]] = event["request"]["url"]

    def received(event: dict[str, Any]) -> None:
        response = event["response"]
        if response.get("fromDiskCache") or response.get("fromMemoryCache"):
            from_cache.add(event["requestId"])

    cdp.on("Network.requestWillBeSent", sent)
    cdp.on("Network.requestServedFromCache", lambda e: from_cache.add(e["requestId"]))
    cdp.on("Network.responseReceived", received)
    cdp.on(
        "Network.loadingFinished",
        lambda e: finished.__setitem__(e["requestId"], int(e["encodedDataLength"])),
    )
    cdp.send("Network.enable")
    page.goto(url, wait_until="load")
    page.wait_for_load_state("networkidle")
    result = Visit()
    for request_id, request_url in seen.items():
        if request_id in from_cache:
            result.cached.append(request_url)
            continue
        result.requests.append(request_url)
        size = finished.get(request_id, 0)
        result.sizes[request_url] = size
        result.transferred += size
    page.close()
    return result


def measure_payment_page(browser: Any, url: str) -> dict[str, Any]:
    """First and repeat visit of `url` in a fresh browser profile (a Playwright Browser)."""
    context = browser.new_context()
    try:
        first = visit(context, url)
        repeat = visit(context, url)
    finally:
        context.close()
    return {"first": asdict(first), "repeat": asdict(repeat)}


def _create_order(base_url: str) -> str:
    answer = httpx.post(
        base_url + ORDERS,
        content=payloads.order_body(f"page-weight-{time.time_ns()}"),
        headers=payloads.DEMO_HEADERS,
        timeout=30,
    )
    answer.raise_for_status()
    return str(answer.json()["data"]["paymentUrl"])


def measure(cfg: RunConfig) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    if executable is None:
        return {"error": "Chromium not found (/usr/bin/chromium or MARKETBOX_CHROMIUM)"}
    progress(TAG, "starting a server on SQLite…")
    with databases.sqlite() as db:
        databases.prepare_marketbox(db)
        port = free_port()
        server = start_server(
            cfg,
            "server-page-weight",
            "marketbox.app:create_app",
            server_env(db.url, port),
            port=port,
            factory=True,
        )
        try:
            url = _create_order(f"http://{HOST}:{port}")
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=executable, args=CHROMIUM_ARGS, headless=True
                )
                try:
                    result = measure_payment_page(browser, url)
                finally:
                    browser.close()
        finally:
            server.stop()
    return result


def evaluate(result: dict[str, Any]) -> dict[str, Any]:
    if "error" in result:
        return {"passed": False, "error": result["error"], "result": result}
    first, repeat = result["first"], result["repeat"]
    checks = [
        {
            "name": "first visit transferred",
            "value": f"{first['transferred'] / 1024:.1f} KB in {len(first['requests'])} requests",
            "target": f"≤ {FIRST_VISIT_BYTES // 1024} KB",
            "passed": 0 < first["transferred"] <= FIRST_VISIT_BYTES,
        },
        {
            "name": "repeat visit requests",
            "value": f"{len(repeat['requests'])} ({len(repeat['cached'])} from the cache)",
            "target": f"= {REPEAT_VISIT_REQUESTS} (the page)",
            "passed": len(repeat["requests"]) == REPEAT_VISIT_REQUESTS,
        },
    ]
    return {"passed": all(c["passed"] for c in checks), "checks": checks, "result": result}


def print_summary(report: dict[str, Any]) -> None:
    print()
    print(f"{TAG}: {'PASS' if report['passed'] else 'FAIL'}")
    if "error" in report:
        print(f"  error: {report['error']}")
        return
    for check in report["checks"]:
        verdict = "PASS" if check["passed"] else "FAIL"
        print(f"  {check['name']:<26} {check['value']:<34} {check['target']:<14} {verdict}")
    for url, size in report["result"]["first"]["sizes"].items():
        print(f"    {size:>7} B  {url.split('/', 3)[-1]}")
    print()


def run(cfg: RunConfig) -> dict[str, Any]:
    try:
        report = evaluate(measure(cfg))
    except Exception as exc:  # reported like any phase's error, the other phases still run
        report = {"passed": False, "error": f"{type(exc).__name__}: {exc}"}
    print_summary(report)
    return report
