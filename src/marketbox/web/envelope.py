"""The Invoicebox success envelopes (spec/api.md §3), rendered with exact money."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from marketbox import jsonutil


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return jsonutil.dumps(content)


def data(payload: Any, status_code: int = 200) -> JSONResponse:
    return JSONResponse({"data": payload, "extendedData": []}, status_code=status_code)


def page(items: list[Any], *, total: int, page: int, page_size: int) -> JSONResponse:
    return JSONResponse(
        {
            "data": items,
            "metaData": {"totalCount": total, "pageSize": page_size, "page": page},
            "extendedData": [],
        }
    )
