"""A fast notification receiver: answers every POST with {"status":"success"}.

``python -m bench.receiver PORT`` (pinned to the load core by the notification phase).
It does no signature check: the benchmark measures the sender, not the shop.
"""

from __future__ import annotations

import sys

from aiohttp import web

SUCCESS = b'{"status":"success"}'


async def receive(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(body=SUCCESS, content_type="application/json")


def main() -> None:
    app = web.Application()
    app.router.add_post("/{tail:.*}", receive)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)


if __name__ == "__main__":
    main()
