"""The gate's JSON-RPC frames (notifications.md §8): what the platform calls, how answers and
stray frames are told apart, and that a notification body travels byte for byte."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from marketbox import jsonutil
from marketbox.gate import rpc

BODY = jsonutil.dumps_php(
    {
        "id": "0190aa01-0000-7000-8000-00000000a001",
        "status": "completed",
        "amount": Decimal("600.00"),
        "description": "Room booking / Номер",
        "paymentUrl": "https://pay.example/order/1",
    }
)


def test_order_status_change_carries_the_outbox_body_byte_for_byte() -> None:
    frame = rpc.order_status_change(BODY, "0190aa01b2c3d4e5f601")

    message = jsonutil.loads(frame)
    assert message["jsonrpc"] == "2.0"
    assert message["id"] == "0190aa01b2c3d4e5f601"
    assert message["method"] == "onOrderStatusChange"
    [order] = message["params"]
    assert order["amount"] == Decimal("600.00")
    assert BODY.decode() in frame
    assert jsonutil.dumps_php(order) == BODY  # what `marketbox listen` forwards and signs


def test_get_status_asks_for_log_lines() -> None:
    assert json.loads(rpc.get_status("abc")) == {
        "jsonrpc": "2.0",
        "id": "abc",
        "method": "getStatus",
        "params": {"logQuantity": 40},
    }


def test_call_ids_look_like_the_spec_samples() -> None:
    ids = {rpc.new_call_id() for _ in range(50)}
    assert len(ids) == 50
    assert all(len(i) == 20 and int(i, 16) >= 0 for i in ids)


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        ('{"jsonrpc":"2.0","id":"1","result":{"status":"success"}}', rpc.Answer),
        ('{"jsonrpc":"2.0","id":"1","method":"getStatus","result":{"version":"2.1"}}', rpc.Answer),
        ('{"jsonrpc":"2.0","id":"1","error":{"code":1,"message":"x"}}', rpc.Answer),
        ('{"jsonrpc":"2.0","id":2,"method":"ping"}', rpc.Call),
        ("not json", rpc.Invalid),
        ('{"id":1,"result":{}}', rpc.Invalid),
        ("[1,2]", rpc.Invalid),
        ('{"jsonrpc":"2.0","id":3,"method":5}', rpc.Invalid),
    ],
)
def test_parse_tells_frames_apart(frame: str, expected: type) -> None:
    assert isinstance(rpc.parse(frame), expected)


def test_invalid_frames_get_the_json_rpc_error_codes() -> None:
    parse_error = rpc.parse("{")
    invalid = rpc.parse('{"jsonrpc":"1.0"}')
    assert isinstance(parse_error, rpc.Invalid)
    assert isinstance(invalid, rpc.Invalid)
    assert json.loads(parse_error.reply)["error"]["code"] == -32700
    assert json.loads(invalid.reply)["error"]["code"] == -32600


def test_answers_keep_amounts_exact() -> None:
    assert rpc.result("1", {"amount": Decimal("0.10")}) == (
        '{"jsonrpc":"2.0","id":"1","result":{"amount":0.10}}'
    )
