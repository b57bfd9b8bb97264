"""Sending the recorded letters (docs/mail.md), a pass of the worker.

With MARKETBOX_SMTP_URL set, each due `pending` letter is claimed (its attempt counted,
next_attempt_at pushed past a lease so a dead sender's claim lapses), sent with aiosmtplib
outside any transaction, and marked `sent`; a failure is retried on
`Settings.mail_retry_schedule` and the letter is `failed` after the last try. Without it, the
sandbox marks every pending letter `captured` (stored, never sent) and production leaves
them pending, saying so in the log once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

from marketbox import clock
from marketbox.config import Settings
from marketbox.mail import repository
from marketbox.mail.service import CAPTURED, FAILED, PENDING, SENT
from marketbox.storage.db import Database

log = logging.getLogger("marketbox.mail")

BATCH = 50


@dataclass(frozen=True)
class SmtpServer:
    hostname: str
    port: int
    username: str | None
    password: str | None
    use_tls: bool  # smtps://: TLS from the first byte
    start_tls: bool  # ?starttls=1: upgrade with STARTTLS, refuse a server without it


def parse_smtp_url(url: str) -> SmtpServer:
    """smtp://user:password@host:port[?starttls=1] or smtps://user:password@host:port."""
    parts = urlsplit(url)
    use_tls = parts.scheme == "smtps"
    query = parse_qs(parts.query)
    start_tls = not use_tls and query.get("starttls", ["0"])[-1].lower() in ("1", "true", "yes")
    return SmtpServer(
        hostname=parts.hostname or "localhost",
        port=parts.port or (465 if use_tls else 587 if start_tls else 25),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        use_tls=use_tls,
        start_tls=start_tls,
    )


class MailSender:
    """One worker's sender; `run_due` is one pass, returning how many letters went where."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self.server = parse_smtp_url(settings.smtp_url) if settings.smtp_url else None
        self._said_unsent = False

    async def run_due(self) -> dict[str, int]:
        delivery = self.settings.mail_delivery
        if delivery == "capture":
            async with self.db.transaction() as conn:
                captured = await repository.capture_pending(conn)
            return {CAPTURED: captured} if captured else {}
        if delivery == "none":
            if not self._said_unsent:
                self._said_unsent = True
                log.warning(
                    "MARKETBOX_SMTP_URL is not set: letters to buyers and merchants stay "
                    "pending and are not sent (set it to send them; docs/mail.md)"
                )
            return {}
        counts: dict[str, int] = {}
        now = clock.now()
        async with self.db.read() as conn:
            due = await repository.due_ids(conn, now=now, limit=BATCH)
        for message_id in due:
            status = await self._send_one(message_id)
            if status is not None:
                counts[status] = counts.get(status, 0) + 1
        return counts

    async def _send_one(self, message_id: str) -> str | None:
        now = clock.now()
        lease = now + timedelta(seconds=self.settings.mail_timeout_seconds * 2)
        async with self.db.transaction() as conn:
            row = await repository.claim(conn, message_id, now=now, lease=lease)
        if row is None:
            return None  # another sender has it
        try:
            await self._deliver(row)
        except Exception as error:  # every failure of the outside world is retried
            return await self._failed(row, error)
        async with self.db.transaction() as conn:
            await repository.finish(
                conn, message_id, status=SENT, sent_at=clock.now(), last_error=None
            )
        return SENT

    async def _deliver(self, row: Any) -> None:
        assert self.server is not None
        server = self.server
        message = EmailMessage()
        message["From"] = self.settings.mail_from_address
        message["To"] = row["recipient"]
        message["Subject"] = row["subject"]
        message["Date"] = format_datetime(clock.now())
        message["Message-ID"] = make_msgid(domain=self.settings.mail_from_address.split("@")[-1])
        message.set_content(row["body"])
        await aiosmtplib.send(
            message,
            hostname=server.hostname,
            port=server.port,
            username=server.username,
            password=server.password,
            use_tls=server.use_tls,
            start_tls=server.start_tls,
            timeout=self.settings.mail_timeout_seconds,
        )

    async def _failed(self, row: Any, error: Exception) -> str:
        schedule = self.settings.mail_retry_schedule
        attempts = int(row["attempts"])
        text = f"{type(error).__name__}: {error}"[:1000]
        values: dict[str, Any] = {"last_error": text}
        if attempts > len(schedule):
            values["status"] = FAILED
            log.warning("mail %s failed for good after %d attempts: %s", row["id"], attempts, text)
        else:
            values["status"] = PENDING
            values["next_attempt_at"] = clock.now() + timedelta(seconds=schedule[attempts - 1])
            log.info("mail %s attempt %d failed, retrying: %s", row["id"], attempts, text)
        async with self.db.transaction() as conn:
            await repository.finish(conn, row["id"], **values)
        return str(values["status"])
