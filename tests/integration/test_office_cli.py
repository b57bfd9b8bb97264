"""`marketbox user create` and `marketbox user invite` in a subprocess (docs/office.md): the
password from standard input, the invite link, one-line refusals."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from marketbox.merchants.service import DEMO_MERCHANT_ID
from marketbox.office import service as office_service
from marketbox.storage.db import Database
from tests.integration.test_cli import cli_environment, one_line

PUBLIC_URL = "http://127.0.0.1:8999"  # what cli_environment sets


def user_cli(*args: str, db: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "marketbox.cli.main", "user", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=cli_environment(db, {}),
        timeout=120,
    )


@pytest.fixture
def db_file(tmp_path: Path) -> Path:
    return tmp_path / "cli.db"


async def authenticate(db_file: Path, email: str, password: str) -> bool:
    db = Database(f"sqlite+aiosqlite:///{db_file}")
    try:
        async with db.transaction() as conn:
            user = await office_service.authenticate(conn, email=email, password=password)
    finally:
        await db.dispose()
    return user is not None


def test_user_create_reads_the_password_from_stdin(db_file: Path) -> None:
    args = ("create", "--merchant", DEMO_MERCHANT_ID, "--email", "Anna@Shop.test")

    created = user_cli(*args, "--password-stdin", "--json", db=db_file, stdin="long password\n")
    again = user_cli(*args, db=db_file)

    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["email"] == "anna@shop.test"
    assert asyncio.run(authenticate(db_file, "anna@shop.test", "long password"))
    assert again.returncode == 1
    assert one_line(again.stderr) == ("marketbox: error: An office user with this e-mail exists")


def test_a_short_password_or_an_unknown_merchant_is_one_line(db_file: Path) -> None:
    short = user_cli(
        "create",
        "--merchant",
        DEMO_MERCHANT_ID,
        "--email",
        "a@shop.test",
        "--password-stdin",
        db=db_file,
        stdin="short\n",
    )
    unknown = user_cli(
        "invite",
        "--merchant",
        "00000000-0000-0000-0000-000000000001",
        "--email",
        "a@shop.test",
        db=db_file,
    )

    assert short.returncode == unknown.returncode == 1
    assert "8 to 1024 characters" in one_line(short.stderr)
    assert one_line(unknown.stderr) == "marketbox: error: No merchant with this id"


def test_user_invite_prints_a_link_that_sets_the_password(db_file: Path) -> None:
    result = user_cli(
        "invite", "--merchant", DEMO_MERCHANT_ID, "--email", "new@shop.test", "--json", db=db_file
    )

    assert result.returncode == 0, result.stderr
    link = json.loads(result.stdout)["inviteUrl"]
    assert link.startswith(f"{PUBLIC_URL}/office/invite/")
    token = link.rsplit("/", 1)[1]

    async def accept() -> None:
        db = Database(f"sqlite+aiosqlite:///{db_file}")
        try:
            async with db.transaction() as conn:
                await office_service.accept_invite(conn, token=token, password="chosen password")
        finally:
            await db.dispose()

    asyncio.run(accept())
    assert asyncio.run(authenticate(db_file, "new@shop.test", "chosen password"))
