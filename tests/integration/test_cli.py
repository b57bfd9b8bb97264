"""The real `marketbox` CLI in a subprocess: JSON output, one-line errors, exit codes."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest


def run_cli(*args: str, db: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "MARKETBOX_DATABASE_URL": f"sqlite+aiosqlite:///{db}",
        "MARKETBOX_PUBLIC_URL": "http://127.0.0.1:8999",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "marketbox.cli.main", *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
    )


@pytest.fixture
def db_file(tmp_path: Path) -> Path:
    return tmp_path / "cli.db"


def test_merchant_create_prints_credentials_that_authenticate(db_file: Path) -> None:
    result = run_cli("merchant", "create", "--name", "Shop", "--json", db=db_file)

    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout)
    assert set(created) == {"merchantId", "token", "signingKey"}
    assert len(created["merchantId"]) == 36


def test_instrument_create_prints_credentials(db_file: Path) -> None:
    result = run_cli("instrument", "create", "--name", "Bank", "--json", db=db_file)

    assert result.returncode == 0, result.stderr
    assert set(json.loads(result.stdout)) == {"id", "token", "signingKey"}


def test_notify_test_for_an_unknown_merchant_fails_in_one_line(db_file: Path) -> None:
    result = run_cli(
        "notify-test", "--merchant", "01a22115-0000-7000-8000-000000000000", db=db_file
    )

    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "no merchant" in lines[0]


def test_notify_test_without_a_url_says_what_to_do(db_file: Path) -> None:
    result = run_cli(
        "notify-test", "--merchant", "ffffffff-ffff-ffff-ffff-ffffffffffff", db=db_file
    )

    assert result.returncode != 0
    assert "notification URL" in result.stderr


def test_notify_test_reaches_a_local_shop_signed(db_file: Path) -> None:
    received: list[tuple[bytes, str]] = []

    class Shop(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((body, self.headers["X-Signature"]))
            reply = b'{"status":"success"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Shop)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/notify"
        created = run_cli(
            "merchant", "create", "--name", "Shop", "--notification-url", url, "--json", db=db_file
        )
        merchant = json.loads(created.stdout)
        result = run_cli("notify-test", "--merchant", merchant["merchantId"], db=db_file)
    finally:
        server.shutdown()

    assert result.returncode == 0, result.stderr
    assert len(received) == 1
    body, signature = received[0]
    assert signature == hmac.new(merchant["signingKey"].encode(), body, hashlib.sha1).hexdigest()
    notification = json.loads(body)
    assert notification["id"] == "ffffffff-ffff-ffff-ffff-ffffffffffff"
    assert notification["merchantOrderId"] == ""
    assert notification["merchantId"] == merchant["merchantId"]


def test_production_mode_has_no_demo_shop(db_file: Path) -> None:
    result = run_cli(
        "notify-test",
        "--merchant",
        "ffffffff-ffff-ffff-ffff-ffffffffffff",
        db=db_file,
        MARKETBOX_MODE="production",
        MARKETBOX_SESSION_SECRET="s3cret-for-tests",
    )
    assert result.returncode != 0
    assert "no merchant" in result.stderr


def test_a_bad_database_url_is_a_one_line_error(db_file: Path) -> None:
    result = run_cli("migrate", db=db_file, MARKETBOX_DATABASE_URL="nosuchdb://x")

    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1


def test_an_unreachable_database_names_the_variable_to_fix(db_file: Path) -> None:
    url = "postgresql+asyncpg://postgres:secret@127.0.0.1:1/nowhere"
    result = run_cli("migrate", db=db_file, MARKETBOX_DATABASE_URL=url)

    assert result.returncode != 0
    line = result.stderr.strip()
    assert "MARKETBOX_DATABASE_URL" in line
    assert "secret" not in line  # the password is never printed


def test_a_bad_setting_names_its_variable(db_file: Path) -> None:
    result = run_cli("migrate", db=db_file, MARKETBOX_MODE="weird")

    assert result.returncode != 0
    assert "MARKETBOX_MODE" in result.stderr
