"""The real `marketbox` CLI in a subprocess: JSON output, one-line errors, exit codes, and the
servers it starts (`serve`, `demo`) answering where they say they do."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import queue
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tests.support.databases import PostgresTemplate

DEMO_TOKEN = "b37c4c689295904ed21eee5d9a48d42e"
DEMO_MERCHANT_ID = "ffffffff-ffff-ffff-ffff-ffffffffffff"
PASSWORD = "s3cret-pw"  # in every bad URL below: it must never be printed
START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 30.0


def cli_environment(db: Path, env: dict[str, str | None]) -> dict[str, str]:
    """The test's environment without MARKETBOX_* settings, plus `env` (None unsets)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MARKETBOX_")}
    environment["MARKETBOX_DATABASE_URL"] = f"sqlite+aiosqlite:///{db}"
    environment["MARKETBOX_PUBLIC_URL"] = "http://127.0.0.1:8999"
    for key, value in env.items():
        if value is None:
            environment.pop(key, None)
        else:
            environment[key] = value
    return environment


def run_cli(
    *args: str, db: Path, timeout: float = 120, **env: str | None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "marketbox.cli.main", *args],
        capture_output=True,
        text=True,
        env=cli_environment(db, env),
        timeout=timeout,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


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


# --- a database that cannot be used: one line naming the variable, never the password ---

BAD_DATABASE_URLS = {
    "unreachable-postgresql": f"postgresql+asyncpg://postgres:{PASSWORD}@127.0.0.1:1/marketbox",
    "malformed": f"postgres:{PASSWORD}@127.0.0.1:5432/marketbox",
    "unknown-driver": f"postgresql+psycopg2://postgres:{PASSWORD}@127.0.0.1/marketbox",
    "sqlite-in-a-missing-directory": "sqlite+aiosqlite:///{tmp}/no/such/dir/marketbox.db",
}
# More ways to get the URL wrong; they fail where the ones above do, so `migrate` stands for all.
MORE_BAD_DATABASE_URLS = {
    "port-not-a-number": f"postgresql+asyncpg://postgres:{PASSWORD}@127.0.0.1:pg/marketbox",
    "unknown-database": f"mysql+aiomysql://root:{PASSWORD}@127.0.0.1/marketbox",
    "sync-sqlite-driver": "sqlite:///{tmp}/marketbox.db",
    "in-memory-sqlite": "sqlite+aiosqlite://",
    "raw-at-sign-in-password": f"postgresql+asyncpg://postgres:p@{PASSWORD}@127.0.0.1:1/x",
    "unknown-query-option": f"postgresql+asyncpg://postgres:{PASSWORD}@127.0.0.1/x?colour=red",
    "port-out-of-range": f"postgresql+asyncpg://postgres:{PASSWORD}@127.0.0.1:70000/x",
    "no-such-postgresql-database": f"postgresql+asyncpg://postgres:{PASSWORD}@127.0.0.1:5432/"
    "marketbox_no_such_database",
}

DATABASE_COMMANDS = {
    "serve": lambda: ["serve", "--port", str(free_port())],
    "worker": lambda: ["worker"],
    "migrate": lambda: ["migrate"],
    "merchant-create": lambda: ["merchant", "create", "--name", "Shop"],
    "instrument-create": lambda: ["instrument", "create", "--name", "Bank"],
    "notify-test": lambda: ["notify-test", "--merchant", DEMO_MERCHANT_ID],
    "demo": lambda: ["demo", *two_ports("--port", "--shop-port")],
}


def two_ports(first: str, second: str) -> list[str]:
    """Two different free ports: the kernel may hand the same one out twice in a row once the
    first probe's socket is closed."""
    with socket.socket() as one, socket.socket() as other:
        one.bind(("127.0.0.1", 0))
        other.bind(("127.0.0.1", 0))
        return [first, str(one.getsockname()[1]), second, str(other.getsockname()[1])]


def assert_database_refused(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1
    line = one_line(result.stderr)
    assert line.startswith("marketbox: error: ")
    assert "MARKETBOX_DATABASE_URL" in line
    assert PASSWORD not in line
    assert result.stdout == ""  # nothing claims to be running
    return line


@pytest.mark.parametrize("command", DATABASE_COMMANDS)
@pytest.mark.parametrize("case", BAD_DATABASE_URLS)
def test_an_unusable_database_is_one_line_naming_the_variable(
    command: str, case: str, tmp_path: Path, db_file: Path
) -> None:
    url = BAD_DATABASE_URLS[case].format(tmp=tmp_path)

    result = run_cli(
        *DATABASE_COMMANDS[command](), db=db_file, timeout=60, MARKETBOX_DATABASE_URL=url
    )

    assert_database_refused(result)


@pytest.mark.parametrize("case", MORE_BAD_DATABASE_URLS)
def test_more_unusable_databases_are_one_line(case: str, tmp_path: Path, db_file: Path) -> None:
    url = MORE_BAD_DATABASE_URLS[case].format(tmp=tmp_path)

    result = run_cli("migrate", db=db_file, timeout=60, MARKETBOX_DATABASE_URL=url)

    assert_database_refused(result)


def test_a_missing_sqlite_directory_is_named(tmp_path: Path, db_file: Path) -> None:
    missing = tmp_path / "no" / "such"
    url = f"sqlite+aiosqlite:///{missing}/marketbox.db"

    result = run_cli("migrate", db=db_file, MARKETBOX_DATABASE_URL=url)

    assert str(missing) in one_line(result.stderr)
    assert not missing.exists()


async def test_a_url_encoded_password_reaches_postgresql(
    pg_template: PostgresTemplate | None, db_file: Path
) -> None:
    if pg_template is None:
        pytest.skip("PostgreSQL is not reachable")
    url = await pg_template.new_database()
    # The server trusts local connections, so any password logs in; `p@ss` must be written
    # p%40ss in a URL, and the % must survive on its way to the migrations.
    with_password = url.replace("://postgres@", "://postgres:p%40ss@", 1)
    assert with_password != url
    try:
        result = run_cli("migrate", db=db_file, MARKETBOX_DATABASE_URL=with_password)
    finally:
        await pg_template.drop(url)

    assert result.returncode == 0, result.stderr
    assert "p%40ss" not in result.stderr


# --- option values: refused in one line before anything runs ---


@pytest.mark.parametrize(
    "args",
    [
        ["serve", "--port", "99999"],
        ["serve", "--port", "0"],
        ["serve", "--port", "-1"],
        ["serve", "--port", "http"],
        ["demo", "--port", "65536"],
        ["demo", "--shop-port", "70000"],
        ["merchant", "create", "--name", ""],
        ["merchant", "create", "--name", "   "],
        ["merchant", "create", "--name", "x" * 501],
        ["instrument", "create", "--name", ""],
        ["merchant", "create", "--name", "Shop", "--notification-url", "shop.example/notify"],
        ["merchant", "create", "--name", "Shop", "--notification-url", "/notify"],
        ["merchant", "create", "--name", "Shop", "--notification-url", "ftp://shop.example/n"],
        ["merchant", "create", "--name", "Shop", "--notification-url", "https://"],
        ["notify-test", "--merchant", "shop-1"],
        ["no-such-command"],
    ],
    ids=lambda args: " ".join(a if len(a) < 20 else a[:8] + "…" for a in args) or "empty",
)
def test_a_bad_option_value_is_one_line_and_changes_nothing(args: list[str], db_file: Path) -> None:
    result = run_cli(*args, db=db_file, timeout=60)

    assert result.returncode == 2
    line = one_line(result.stderr)
    assert "error:" in line
    assert "--help" in line  # where to read what is expected
    assert not db_file.exists()  # refused before the database was touched


def test_a_port_out_of_range_names_the_range(db_file: Path) -> None:
    result = run_cli("serve", "--port", "99999", db=db_file)

    assert "1-65535" in one_line(result.stderr)


def test_a_port_in_use_is_one_line(db_file: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        result = run_cli("serve", "--port", str(port), db=db_file, timeout=60)

    assert result.returncode == 1
    line = one_line(result.stderr)
    assert f"port {port}" in line
    assert "in use" in line
    assert result.stdout == ""


def test_good_option_values_are_accepted(db_file: Path) -> None:
    result = run_cli(
        "merchant", "create", "--name", " Shop ", "--notification-url",
        "https://shop.example:8443/notify?shop=1", "--json", db=db_file,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr


# --- help: every command and option says what it is for ---


@pytest.mark.parametrize(
    "command", [[], ["serve"], ["merchant"], ["merchant", "create"], ["demo"]], ids=str
)
def test_help_is_printed_for_commands(command: list[str], db_file: Path) -> None:
    result = run_cli(*command, "--help", db=db_file)

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: marketbox {' '.join(command)}".rstrip())
    assert not db_file.exists()


# --- the servers: answering at the address they print ---


class Running:
    """A CLI process whose stdout lines are read in the background, with bounded waits."""

    def __init__(self, process: subprocess.Popen[str], stderr: Path) -> None:
        self.process = process
        self.stderr = stderr
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def read_until(
        self, done: re.Pattern[str], timeout: float = START_TIMEOUT_SECONDS
    ) -> list[str]:
        """The lines up to and including the first that matches `done`."""
        deadline = time.monotonic() + timeout
        seen: list[str] = []
        while True:
            try:
                line = self.lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                raise AssertionError(f"no {done.pattern!r} within {timeout} s: {seen}") from None
            if line is None:
                raise AssertionError(
                    f"the command ended: {seen} {self.stderr.read_text(encoding='utf-8')}"
                )
            seen.append(line)
            if done.search(line):
                return seen

    def interrupt(self) -> int:
        """Ctrl-C; the exit status."""
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=STOP_TIMEOUT_SECONDS)

    def rest(self) -> list[str]:
        lines: list[str] = []
        while (line := self.lines.get(timeout=STOP_TIMEOUT_SECONDS)) is not None:
            lines.append(line)
        return lines


@contextmanager
def running_cli(*args: str, db: Path, **env: str | None) -> Iterator[Running]:
    stderr = db.with_suffix(".stderr")
    with stderr.open("w", encoding="utf-8") as errors:
        process = subprocess.Popen(
            [sys.executable, "-m", "marketbox.cli.main", *args],
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            env=cli_environment(db, env),
        )
    try:
        yield Running(process, stderr)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def create_order(base_url: str) -> dict[str, object]:
    amount = 100
    response = httpx.post(
        f"{base_url}/v3/billing/api/order/order",
        headers={"Authorization": f"Bearer {DEMO_TOKEN}"},
        json={
            "merchantId": DEMO_MERCHANT_ID,
            "merchantOrderId": "CLI-1",
            "description": "Test",
            "amount": amount,
            "vatAmount": 0,
            "currencyId": "RUB",
            "expirationDate": "2030-01-01T00:00:00+00:00",
            "customer": {"type": "private"},
            "basketItems": [
                {
                    "sku": "1",
                    "name": "Item",
                    "measure": "шт.",
                    "measureCode": "796",
                    "quantity": 1,
                    "amount": amount,
                    "amountWoVat": amount,
                    "totalAmount": amount,
                    "totalVatAmount": 0,
                    "vatCode": "VATNONE",
                    "type": "service",
                    "paymentType": "full_prepayment",
                }
            ],
        },
        timeout=30,
    )
    assert response.status_code == 200, response.text
    data: dict[str, object] = response.json()["data"]
    return data


SERVING = re.compile(r"^marketbox: serving on ")


def test_serve_hands_out_payment_links_on_the_port_it_serves(db_file: Path) -> None:
    port = free_port()

    with running_cli("serve", "--port", str(port), db=db_file, MARKETBOX_PUBLIC_URL=None) as server:
        server.read_until(SERVING)
        payment_url = str(create_order(f"http://127.0.0.1:{port}")["paymentUrl"])
        page = httpx.get(payment_url, timeout=30)

    assert payment_url.startswith(f"http://127.0.0.1:{port}/order/")
    assert page.status_code == 200


def test_an_explicit_public_url_wins(db_file: Path) -> None:
    port = free_port()

    with running_cli(
        "serve", "--port", str(port), db=db_file, MARKETBOX_PUBLIC_URL="https://pay.example/"
    ) as server:
        (line,) = server.read_until(SERVING)
        payment_url = str(create_order(f"http://127.0.0.1:{port}")["paymentUrl"])

    assert payment_url.startswith("https://pay.example/order/")
    assert "public URL https://pay.example" in line


BANNER_START = re.compile(r"^marketbox demo is running")
BANNER_END = re.compile(r"^$")
URL = re.compile(r"https?://[^\s)]+")


def banner_requests(banner: list[str]) -> list[tuple[str, dict[str, str]]]:
    """(url, headers) for every URL in the banner; a curl line brings its own headers."""
    found: list[tuple[str, dict[str, str]]] = []
    for line in banner:
        if "curl " in line:
            words = shlex.split(line[line.index("curl ") :])
            headers = dict(
                words[i + 1].split(": ", 1) for i, word in enumerate(words) if word == "-H"
            )
            found.extend((url, headers) for url in words if URL.fullmatch(url))
        else:
            found.extend((url, {}) for url in URL.findall(line))
    return found


def test_the_demo_banner_appears_once_every_url_in_it_answers(db_file: Path) -> None:
    port, shop_port = free_port(), free_port()

    with running_cli(
        "demo", "--port", str(port), "--shop-port", str(shop_port), db=db_file
    ) as demo:
        demo.read_until(BANNER_START)
        banner = demo.read_until(BANNER_END)
        # Fetched at once: the banner promises the servers already accept connections.
        answers = {
            url: httpx.get(url, headers=headers, timeout=30).status_code
            for url, headers in banner_requests(banner)
        }
        status = demo.interrupt()
        after = demo.rest()

    assert f"http://127.0.0.1:{port}/" in answers
    assert f"http://127.0.0.1:{shop_port}/" in answers
    assert any("/v3/" in url for url in answers)  # the API, tried as printed
    assert {url: code for url, code in answers.items() if not 200 <= code < 400} == {}
    assert status == 0
    assert "marketbox: demo stopped" in after


def test_addon_commands_approve_and_revoke(db_file: Path) -> None:
    """Production waits for the operator: a new suborder mini-app is `pending` until
    `addon approve`, and `addon revoke` takes it off every payment page again."""
    production = {"MARKETBOX_MODE": "production", "MARKETBOX_SESSION_SECRET": "cli-test"}
    created = run_cli("merchant", "create", "--name", "Такси", "--json", db=db_file, **production)
    assert created.returncode == 0, created.stderr
    merchant_id = json.loads(created.stdout)["merchantId"]
    shop_id = asyncio.run(_pending_addon(db_file, merchant_id))

    pending = run_cli("addon", "list", "--status", "pending", "--json", db=db_file, **production)
    assert pending.returncode == 0, pending.stderr
    assert [(p["id"], p["addonStatus"]) for p in json.loads(pending.stdout)] == [
        (shop_id, "pending")
    ]

    approved = run_cli("addon", "approve", str(shop_id), "--json", db=db_file, **production)
    assert approved.returncode == 0, approved.stderr
    assert json.loads(approved.stdout)["addonStatus"] == "approved"
    listed = run_cli("addon", "list", db=db_file, **production)
    assert f"{shop_id}\tapproved\tТакси в аэропорт" in listed.stdout

    revoked = run_cli("addon", "revoke", str(shop_id), db=db_file, **production)
    assert revoked.returncode == 0, revoked.stderr
    assert "addonStatus: revoked" in revoked.stdout

    unknown = run_cli("addon", "approve", "987654", db=db_file, **production)
    assert unknown.returncode == 1
    assert "987654" in one_line(unknown.stderr)
    for bad in ("0", "²", "x"):
        refused = run_cli("addon", "approve", bad, db=db_file, **production)
        assert refused.returncode == 2
        assert "SHOP_ID" in one_line(refused.stderr) or "id" in one_line(refused.stderr)


async def _pending_addon(db_file: Path, merchant_id: str) -> int:
    """A point of sale with a suborder mini-app, saved as production saves it."""
    from marketbox.marketplace import service as marketplace_service
    from marketbox.storage.db import Database

    db = Database(f"sqlite+aiosqlite:///{db_file}")
    try:
        async with db.transaction() as conn:
            point = await marketplace_service.create_point_of_sale(
                conn,
                merchant_id=merchant_id,
                title="Такси в аэропорт",
                mini_app={"url": "https://taxi.example/app", "modes": ["suborder"]},
                auto_approve_addons=False,
            )
        return int(point["id"])
    finally:
        await db.dispose()


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"MARKETBOX_COMPANY_LOOKUP": "no_such_registry:Source"}, "MARKETBOX_COMPANY_LOOKUP"),
        (
            {
                "MARKETBOX_MODE": "production",
                "MARKETBOX_SESSION_SECRET": "s" * 32,
                "MARKETBOX_COMPANY_LOOKUP": "fixture",
            },
            "fictional companies",
        ),
    ],
    ids=["unloadable-source", "fixture-in-production"],
)
def test_serve_with_a_bad_company_source_fails_in_one_line(
    db_file: Path, env: dict[str, str], expected: str
) -> None:
    result = run_cli("serve", "--port", str(free_port()), db=db_file, **env)

    assert result.returncode == 1
    line = one_line(result.stderr)
    assert line.startswith("marketbox: error: invalid configuration: ")
    assert expected in line


@contextmanager
def scripted_shop(replies: list[bytes]) -> Iterator[tuple[str, list[bytes]]]:
    """A local shop answering each POST with the next of `replies` (then success)."""
    received: list[bytes] = []

    class Shop(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(self.rfile.read(int(self.headers["Content-Length"])))
            reply = replies.pop(0) if replies else b'{"status":"success"}'
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
        yield f"http://127.0.0.1:{server.server_address[1]}/notify", received
    finally:
        server.shutdown()


def test_the_notification_log_commands_show_and_resend(db_file: Path) -> None:
    rejected = b'{"status":"error","code":"order_not_found","message":"who?"}'
    with scripted_shop([rejected]) as (url, received):
        created = run_cli("merchant", "create", "--name", "Shop", "--json", db=db_file)
        merchant = json.loads(created.stdout)["merchantId"]
        mid = ["--merchant", merchant]
        failed = run_cli("notify-test", *mid, "--url", url, "--json", db=db_file)
        tested = run_cli("notify-test", *mid, "--url", url, "--json", db=db_file)
        listed = run_cli("notifications", "list", *mid, "--json", db=db_file)
        only_rejected = run_cli(
            "notifications", "list", *mid, "--status", "rejected", "--json", db=db_file
        )
        rejected_id = json.loads(failed.stdout)["notificationId"]
        shown = run_cli("notifications", "show", rejected_id, *mid, "--json", db=db_file)
        shown_text = run_cli("notifications", "show", rejected_id, *mid, db=db_file)
        resent = run_cli("notifications", "resend-failed", *mid, "--json", db=db_file)
        resent_again = run_cli("notifications", "resend-failed", *mid, "--json", db=db_file)
        resend_one = run_cli("notifications", "resend", rejected_id, *mid, "--json", db=db_file)
        foreign = run_cli(
            "notifications", "show", rejected_id, "--merchant", DEMO_MERCHANT_ID, db=db_file
        )

    assert failed.returncode != 0
    # The dispatcher logs the rejection too; the command's own reason is the last line.
    assert "order_not_found" in failed.stderr.strip().splitlines()[-1]
    assert json.loads(failed.stdout)["attempt"]["replyCode"] == "order_not_found"
    assert tested.returncode == 0, tested.stderr
    assert json.loads(tested.stdout)["attempt"]["response"]["status"] == 200
    assert len(received) == 2  # the CLI delivers tests at once; resends wait for the worker
    assert json.loads(listed.stdout)["totalCount"] == 2
    assert [n["id"] for n in json.loads(only_rejected.stdout)["data"]] == [rejected_id]
    [attempt] = json.loads(shown.stdout)["attempts"]
    assert attempt["request"]["body"].encode() == received[0]
    assert "who?" in attempt["response"]["body"]
    assert "order_not_found" in shown_text.stdout
    [carrier] = json.loads(resent.stdout)["notificationIds"]
    assert carrier != rejected_id
    assert json.loads(resent_again.stdout)["notificationIds"] == []
    assert resend_one.returncode == 0, resend_one.stderr
    assert foreign.returncode != 0
    assert "has no notification" in one_line(foreign.stderr)
