"""A notification receiver that remembers what it got: ``python -m bench.recorder PORT``.

Answers every POST with {"status":"success"} and counts it under the notification id and the
attempt number the dispatcher puts in `X-Request-Id` (``<notification id>-<attempt>-<random>``).
``GET /_seen`` returns the counts as JSON: {"<id>": {"<attempt>": times received, …}, …}.
The many-processes phase (bench/many.py) checks them against the database: every
notification received, none received twice.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict

from aiohttp import web

SUCCESS = b'{"status":"success"}'
# A notification id is a UUID (36 characters); what follows is "-<attempt>-<random>".
ID_LENGTH = 36

seen: defaultdict[str, defaultdict[str, int]] = defaultdict(lambda: defaultdict(int))
unlabelled = 0


async def receive(request: web.Request) -> web.Response:
    global unlabelled
    await request.read()
    label = request.headers.get("X-Request-Id", "")
    notification = label[:ID_LENGTH]
    attempt = label[ID_LENGTH + 1 :].split("-", 1)[0]
    if len(notification) == ID_LENGTH and attempt.isdigit():
        seen[notification][attempt] += 1
    else:
        unlabelled += 1
    return web.Response(body=SUCCESS, content_type="application/json")


async def report(request: web.Request) -> web.Response:
    body = {"seen": seen, "unlabelled": unlabelled}
    return web.Response(body=json.dumps(body), content_type="application/json")


def main() -> None:
    app = web.Application()
    app.router.add_get("/_seen", report)
    app.router.add_post("/{tail:.*}", receive)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)


if __name__ == "__main__":
    main()
