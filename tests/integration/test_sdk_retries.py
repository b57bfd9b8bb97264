"""The SDK's retries against the real platform, on SQLite and PostgreSQL: when the answer to a
refund or a shipment is lost on the way back (the connection drops after the platform did the
work), the SDK repeats the call with the same Idempotency-Key and the platform answers with the
stored result: one refund, one shipment, and the caller never sees the failure."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

import marketbox_sdk as mb
from marketbox.merchants.service import DEMO_TOKEN
from marketbox.payments import service as payments_service
from marketbox.storage.db import Database
from tests.support.builders import basket_item, order_payload
from tests.support.live_server import live_server

BAGGAGE = basket_item(sku="bag", name="Багаж", amount=Decimal("1500.00"))


class _LossyProxy(BaseHTTPRequestHandler):
    """Forwards every request to the platform; the first answer to each POST path is thrown
    away and the connection closed, as a network failure after the server's commit would."""

    protocol_version = "HTTP/1.1"
    server: Any

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host",)}
        answer = httpx.request(
            self.command, self.server.upstream + self.path, headers=headers, content=body
        )
        with self.server.lock:
            self.server.seen.append((self.command, self.path, self.headers.get("Idempotency-Key")))
            lose = self.command == "POST" and self.path not in self.server.lost
            if lose:
                self.server.lost.add(self.path)
        if lose:
            self.close_connection = True
            return
        self.send_response(answer.status_code)
        for name in ("Content-Type", "Idempotent-Replayed", "Retry-After"):
            if name in answer.headers:
                self.send_header(name, answer.headers[name])
        self.send_header("Content-Length", str(len(answer.content)))
        self.end_headers()
        self.wfile.write(answer.content)

    do_GET = do_POST = do_DELETE = do_PUT = _forward

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def lossy_proxy(upstream: str) -> Iterator[tuple[str, list[tuple[str, str, str | None]]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _LossyProxy)
    server.daemon_threads = True
    server.upstream = upstream  # type: ignore[attr-defined]
    server.seen = []  # type: ignore[attr-defined]
    server.lost = set()  # type: ignore[attr-defined]
    server.lock = threading.Lock()  # type: ignore[attr-defined]
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.seen  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()


async def test_a_lost_answer_is_recovered_without_doing_it_twice(database_url: str) -> None:
    with live_server(database_url) as platform, lossy_proxy(platform) as (url, seen):
        direct = mb.Client(DEMO_TOKEN, base_url=platform)
        sdk = mb.Client(DEMO_TOKEN, base_url=url)
        sdk.retry_delay = 0.01
        order = direct.create_order_request(
            mb.CreateOrder.from_dict(order_payload(items=[BAGGAGE]))
        )
        db = Database(database_url)
        try:
            async with db.transaction() as conn:
                await payments_service.pay_container(
                    conn, container_id=order.order_container_id, method="card"
                )
        finally:
            await db.dispose()

        shipment = sdk.create_shipment(
            order_id=order.id, basket_items=[mb.BasketItem.from_dict(BAGGAGE)]
        )
        refund = sdk.refund_in_full(order.id, merchant_order_id="R-1", description="Возврат")
        refunds = direct.list_refunds(parent_id=order.id)
        shipments = direct.list_shipments(order_id=order.id)
        direct.close()
        sdk.close()

    posts = [(path, key) for method, path, key in seen if method == "POST"]
    assert [path for path, _ in posts] == [
        "/v3/billing/api/order/shipment",
        "/v3/billing/api/order/shipment",
        "/v3/billing/api/order/refund-order",
        "/v3/billing/api/order/refund-order",
    ]
    assert posts[0][1] == posts[1][1] and posts[2][1] == posts[3][1]  # the same key again
    assert posts[0][1] != posts[2][1]
    assert [r.id for r in refunds] == [refund.id]
    assert (refund.amount, refund.vat_amount) == (Decimal("1500.00"), Decimal("0.00"))
    assert [s.id for s in shipments] == [shipment.id]
    assert shipment.amount == Decimal("1500.00")
