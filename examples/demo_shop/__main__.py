"""`python -m demo_shop`: run the reference shop on its own port.

Every option has an environment variable (DEMO_SHOP_*); options win. The defaults are the
documented demo merchant against a local marketbox on port 8000.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from aiohttp import web

from demo_shop.app import create_shop_app

DEMO_MERCHANT_ID = "ffffffff-ffff-ffff-ffff-ffffffffffff"
DEMO_TOKEN = "b37c4c689295904ed21eee5d9a48d42e"
DEMO_SIGNING_KEY = "098f6bcd4621d373cade4e832627b4f6"


def _env(name: str, default: str) -> str:
    return os.environ.get(f"DEMO_SHOP_{name}", default)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m demo_shop", description=__doc__)
    parser.add_argument("--host", default=_env("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(_env("PORT", "8100")))
    parser.add_argument(
        "--platform-url",
        default=_env("PLATFORM_URL", "http://127.0.0.1:8000"),
        help="base URL of the platform API (DEMO_SHOP_PLATFORM_URL)",
    )
    parser.add_argument(
        "--public-url",
        default=os.environ.get("DEMO_SHOP_PUBLIC_URL"),
        help="URL buyers and the platform reach the shop at (default http://HOST:PORT)",
    )
    parser.add_argument(
        "--platform-origin",
        action="append",
        dest="platform_origins",
        default=None,
        help="origin allowed to frame the shop; repeatable (DEMO_SHOP_PLATFORM_ORIGINS, "
        "space-separated; default: the origin of --platform-url)",
    )
    parser.add_argument("--merchant-id", default=_env("MERCHANT_ID", DEMO_MERCHANT_ID))
    parser.add_argument("--token", default=_env("TOKEN", DEMO_TOKEN))
    parser.add_argument("--signing-key", default=_env("SIGNING_KEY", DEMO_SIGNING_KEY))
    parser.add_argument("--sign-algorithm", default=_env("SIGN_ALGORITHM", "sha1"))
    parser.add_argument(
        "--db",
        default=_env("DB", ":memory:"),
        help="SQLite file for the shop's orders (DEMO_SHOP_DB; default: in memory)",
    )
    args = parser.parse_args(argv)
    if args.platform_origins is None and os.environ.get("DEMO_SHOP_PLATFORM_ORIGINS"):
        args.platform_origins = os.environ["DEMO_SHOP_PLATFORM_ORIGINS"].split()
    if args.public_url is None:
        args.public_url = f"http://{args.host}:{args.port}"
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    app = create_shop_app(
        platform_url=args.platform_url,
        token=args.token,
        merchant_id=args.merchant_id,
        signing_key=args.signing_key,
        public_url=args.public_url,
        platform_origins=args.platform_origins,
        sign_algorithm=args.sign_algorithm,
        db_path=args.db,
    )
    sys.stderr.write(f"demo shop on {args.public_url} -> platform {args.platform_url}\n")
    web.run_app(app, host=args.host, port=args.port, print=None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
