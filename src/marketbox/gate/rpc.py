"""JSON-RPC 2.0 frames of the gate (notifications.md §8). The platform is the caller: it calls
`onOrderStatusChange` and `getStatus` on the connected client, which answers them.

    platform -> client   {"jsonrpc":"2.0","id":…,"method":"onOrderStatusChange","params":[<order>]}
    client -> platform   {"jsonrpc":"2.0","id":…,"result":{"status":"success"}}
    platform -> client   {"jsonrpc":"2.0","id":…,"method":"getStatus","params":{"logQuantity":40}}
    client -> platform   {"jsonrpc":"2.0","id":…,"result":{"version":…,"type":…,"log":[…]}}

A request from the client is answered with JSON-RPC's "method not found" (the gate serves no
methods); a frame that is not JSON, or not JSON-RPC, with "parse error" / "invalid request".
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from marketbox import jsonutil

ON_ORDER_STATUS_CHANGE = "onOrderStatusChange"
GET_STATUS = "getStatus"
DEFAULT_LOG_QUANTITY = 40

# WebSocket close code for a missing or unknown token (notifications.md §8).
CLOSE_UNAUTHORIZED = 4401

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601


def new_call_id() -> str:
    """A call id like the spec's samples: 20 lowercase hex digits."""
    return uuid.uuid4().hex[:20]


def order_status_change(body: bytes, call_id: str) -> str:
    """The call carrying one order notification: `body` is the outbox's frozen JSON, put into
    `params` byte for byte, so a client sees exactly what the HTTP notification carries."""
    return (
        f'{{"jsonrpc":"2.0","id":{json.dumps(call_id)},'
        f'"method":"{ON_ORDER_STATUS_CHANGE}","params":[{body.decode()}]}}'
    )


def get_status(call_id: str, log_quantity: int = DEFAULT_LOG_QUANTITY) -> str:
    return json.dumps(
        {
            "jsonrpc": "2.0",
            "id": call_id,
            "method": GET_STATUS,
            "params": {"logQuantity": log_quantity},
        },
        separators=(",", ":"),
    )


def result(call_id: Any, value: Any) -> str:
    return jsonutil.dumps({"jsonrpc": "2.0", "id": call_id, "result": value}).decode()


def error(call_id: Any, code: int, message: str) -> str:
    message_object = {"code": code, "message": message}
    return jsonutil.dumps({"jsonrpc": "2.0", "id": call_id, "error": message_object}).decode()


@dataclass(frozen=True)
class Call:
    id: Any
    method: str
    params: Any


@dataclass(frozen=True)
class Answer:
    id: Any
    result: Any = None
    error: Any = None


@dataclass(frozen=True)
class Invalid:
    """What to send back for a frame that is not a JSON-RPC message."""

    reply: str


def parse(frame: str | bytes) -> Call | Answer | Invalid:
    """Classify one text frame (amounts parsed as Decimal). `getStatus` answers that echo
    `"method"` (the docs' sample does) are answers all the same."""
    try:
        data = jsonutil.loads(frame)
    except jsonutil.JSONDecodeError:
        return Invalid(error(None, PARSE_ERROR, "Parse error"))
    if not isinstance(data, dict) or data.get("jsonrpc") != "2.0":
        return Invalid(error(None, INVALID_REQUEST, "Invalid Request"))
    if "result" in data or "error" in data:
        return Answer(data.get("id"), data.get("result"), data.get("error"))
    method = data.get("method")
    if not isinstance(method, str):
        return Invalid(error(data.get("id"), INVALID_REQUEST, "Invalid Request"))
    return Call(data.get("id"), method, data.get("params"))
