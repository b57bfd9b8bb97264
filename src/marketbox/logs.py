"""Logging set-up for every process (`serve`, its workers, `worker`, `demo`), and the request id.

MARKETBOX_LOG_FORMAT=text (the default) writes one readable line per record; `json` writes one
JSON object per line:

    {"time": "2026-12-07T00:31:02.412Z", "level": "INFO", "logger": "marketbox.access",
     "message": "GET /help 200 3.1 ms", "pid": 4242, "request_id": "9f1c…", "status": 200, …}

`request_id` is the id of the HTTP request being served (the `X-Request-Id` the client sees),
set by `web.middleware.RequestIdMiddleware` in a context variable, so every record logged
while serving a request carries it, in any module, without passing it around. A failure adds
`exception` (the formatted traceback). Fields given with `extra={...}` are written too.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

# The id of the request this task is serving; None outside a request (the worker, start-up).
request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "marketbox_request_id", default=None
)

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_HANDLER_NAME = "marketbox"
# The attributes every LogRecord has: anything else on a record came from `extra=`.
_STANDARD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime"}
)


class RequestIdFilter(logging.Filter):
    """Puts the current request id on each record (`record.request_id`, None outside one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            # "…+00:00" -> "…Z"
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,  # which process of `serve --workers N`
        }
        current = getattr(record, "request_id", None) or request_id.get()
        if current:
            entry["request_id"] = current
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRIBUTES and key not in entry and key != "request_id":
                entry[key] = value if _plain(value) else repr(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def _plain(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def configure(level: str = "INFO", log_format: str = "text") -> None:
    """Send every logger's records to stderr in `log_format` (replacing what an earlier call
    installed).

    With `json`, uvicorn's own loggers are routed here too (their handlers are dropped), so
    every line of the process is JSON.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    handler.set_name(_HANDLER_NAME)
    root = logging.getLogger()
    for old in list(root.handlers):
        if old.get_name() == _HANDLER_NAME:  # ours from an earlier call; others stay
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    if log_format == "json":
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
            uvicorn_logger = logging.getLogger(name)
            uvicorn_logger.handlers.clear()
            uvicorn_logger.propagate = True


def uvicorn_log_config(log_format: str) -> dict[str, Any] | None:
    """What to pass uvicorn as `log_config`: its own text set-up, or none (records reach ours)."""
    if log_format == "json":
        return None
    from uvicorn.config import LOGGING_CONFIG

    return LOGGING_CONFIG
