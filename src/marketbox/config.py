"""The one Settings object. Nothing else reads ``os.environ``.

Every variable carries the ``MARKETBOX_`` prefix. Defaults are safe for local development:
an SQLite file in the working directory, sandbox mode, the public URL of a local server.
"""

from __future__ import annotations

import os
import re
import secrets
from functools import lru_cache
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Mode = Literal["sandbox", "production"]

# Signs the marketplace buyer-session cookie. Sandbox falls back to a random value per process
# (sessions end with the process); production refuses to start without it.
_PROCESS_SESSION_SECRET = secrets.token_urlsafe(32)

# A CSP source naming one origin: https://host[:port], an optional leading "*." wildcard label.
# Nothing else (no spaces, no ";"), so an entry can never add a directive to the policy.
_FRAME_ANCESTOR = re.compile(r"https?://(\*\.)?[A-Za-z0-9.-]+(:[0-9]{1,5})?")

# MARKETBOX_PAYMENT_GATEWAY: a built-in gateway or `package.module:factory` (payments/gateway.py).
BUILT_IN_GATEWAYS = ("sandbox", "unavailable")
_GATEWAY_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_.]*")

# Retry schedule after a failed delivery, in seconds after the previous attempt
# (spec/notifications.md §6: 10 more attempts within 24 hours).
DEFAULT_RETRY_SCHEDULE = (60, 300, 900, 1800, 3600, 7200, 10800, 14400, 21600, 21600)
# Mail (docs/mail.md): seconds after a failed send before the next try; one more try than
# entries, then the letter is `failed`.
DEFAULT_MAIL_RETRY_SCHEDULE = (60, 300, 1800, 3600, 14400)
SMTP_SCHEMES = ("smtp", "smtps")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MARKETBOX_", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///./marketbox.db"
    public_url: str = "http://127.0.0.1:8000"
    mode: Mode = "sandbox"
    # Rate limits (spec/api.md §5): requests per window per account and per client IP.
    rate_limit_window_seconds: float = 30.0
    rate_limit_per_account: int = 100
    rate_limit_per_ip: int = 500
    rate_limit_enabled: bool = True

    # MARKETBOX_REDIS_URL (redis://host:6379/0): state shared by every process of one
    # deployment (rate limit counters, the version of cached credentials). Unset: each process
    # keeps its own, which is right for one process (docs/architecture.md "Several processes").
    # /readyz checks it answers when it is set.
    redis_url: str | None = None
    # Every key marketbox writes to that Redis starts with this, so deployments can share one.
    redis_key_prefix: str = "marketbox"

    # Notification delivery (spec/notifications.md §6).
    notification_timeout_seconds: float = 20.0
    notification_retry_schedule: tuple[int, ...] = DEFAULT_RETRY_SCHEDULE
    # A claimed notification is owned by one dispatcher for this long; it must exceed the
    # delivery timeout, so a live dispatcher never loses its claim mid-delivery.
    notification_lease_seconds: float = 60.0
    notification_concurrency: int = 50
    notification_batch_size: int = 100
    dispatcher_poll_seconds: float = 0.5
    # How often the worker moves unpaid orders past their expirationDate to `expired`.
    expiry_sweep_seconds: float = 30.0

    # Default lifetime of an order container page session etc.
    time_zone: str = "Europe/Moscow"
    log_level: str = "INFO"
    # Operations (docs/deploy.md). MARKETBOX_LOG_FORMAT: `text` (one readable line) or `json`
    # (one JSON object per line, with the request id). MARKETBOX_ACCESS_LOG: one line per
    # request at INFO (health probes and scrapes at DEBUG).
    log_format: Literal["text", "json"] = "text"
    access_log: bool = False
    # MARKETBOX_METRICS_ENABLED: count requests and serve Prometheus metrics at /metrics;
    # MARKETBOX_METRICS_TOKEN: when set, a scrape must send `Authorization: Bearer <token>`
    # (required in production mode).
    metrics_enabled: bool = False
    metrics_token: str = ""
    # /readyz gives each dependency (database, Redis) this long to answer.
    readiness_timeout_seconds: float = Field(default=2.0, gt=0)
    # MARKETBOX_EXTRA_FRAME_ANCESTORS: origins (JSON list, e.g. '["https://shop.example"]') that
    # may embed the PAYMENT PAGE in a frame, besides our own origin. Every other page may be
    # framed by our own origin only. Each entry is a CSP source: an origin such as
    # https://shop.example, https://shop.example:8443 or https://*.shop.example.
    extra_frame_ancestors: list[str] = Field(default_factory=list)

    # docs/api.md, "Limits on what one request may cost": bodies above this size are refused
    # with 413 before they are parsed, chunked bodies included.
    max_body_bytes: int = Field(default=1024 * 1024, ge=1)
    # Card attempts on the payment page (docs/payment-page.md "Throttling card attempts"):
    # declined attempts per invoice (container) and per client IP within their windows;
    # 0 turns a limit off.
    pay_declines_per_container: int = Field(default=5, ge=0)
    pay_container_window_seconds: int = Field(default=15 * 60, ge=1)
    pay_declines_per_client: int = Field(default=20, ge=0)
    pay_client_window_seconds: int = Field(default=60 * 60, ge=1)
    # MARKETBOX_SESSION_SECRET: required in production (see _PROCESS_SESSION_SECRET).
    session_secret: str = ""

    # Company lookup by INN (docs/companies.md): `fixture` (the bundled fictional companies),
    # `none` (answer 503 out_of_service) or `package.module:factory` (an operator's source).
    # Empty means `fixture` in the sandbox and `none` in production.
    company_lookup: str = ""
    company_lookup_timeout_seconds: float = Field(default=10.0, gt=0)

    # Guarantee-instrument confirmation codes (docs/guarantee.md): a code is valid this long,
    # cannot be sent again sooner than the resend window, may be sent this many times per
    # order and payment method, and each code takes this many tries.
    guarantee_code_ttl_seconds: int = Field(default=10 * 60, ge=1)
    guarantee_resend_seconds: int = Field(default=60, ge=0)
    guarantee_code_sends: int = Field(default=3, ge=1, le=100)
    guarantee_code_attempts: int = Field(default=3, ge=1, le=100)
    # Card payments (docs/payments.md). MARKETBOX_PAYMENT_GATEWAY: `sandbox` (the test cards),
    # `unavailable` (no acquirer: every card is declined) or `package.module:factory`; empty
    # means `sandbox` in sandbox mode and `unavailable` in production (which refuses `sandbox`).
    payment_gateway: str = ""
    # How long the payment page waits for the gateway's answer (and for another attempt of the
    # same invoice that is with the gateway) before it gives up for now.
    payment_gateway_timeout_seconds: float = Field(default=30.0, gt=0)
    # A card attempt left unfinished this long (a crash, a lost answer) is the worker's to
    # resolve with the gateway; it no longer holds up new attempts on its invoice.
    payment_recovery_after_seconds: float = Field(default=120.0, gt=0)
    # An attempt the gateway has still never heard of after this long is given up (abandoned).
    payment_abandon_after_seconds: float = Field(default=3600.0, gt=0)

    # Mail (docs/mail.md). MARKETBOX_SMTP_URL: smtp://user:password@host:port (add
    # ?starttls=1 to require STARTTLS) or smtps://… (TLS from the first byte). Unset: nothing
    # is sent; the sandbox captures letters (stored, shown as not sent), production keeps them
    # pending. MARKETBOX_MAIL_FROM: the From address (default noreply@ the public host).
    smtp_url: str = ""
    mail_from: str = ""
    # `marketbox miniapp check` (docs/miniapps.md): the Chromium it drives (never downloaded).
    chromium: str = "/usr/bin/chromium"
    mail_timeout_seconds: float = Field(default=30.0, gt=0)
    mail_retry_schedule: tuple[int, ...] = DEFAULT_MAIL_RETRY_SCHEDULE
    # How often the worker looks for letters to send.
    mail_poll_seconds: float = Field(default=5.0, gt=0)

    # Who runs the platform and how a buyer reaches them: shown under every payment page, the
    # confirmation and the status pages (docs/payment-page.md "Trust"). An empty value is not
    # shown; with no name nor contact the block is left out.
    operator_name: str = ""
    operator_inn: str = ""
    operator_ogrn: str = ""
    operator_address: str = ""
    support_email: str = ""
    support_phone: str = ""

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url_shape(cls, value: str) -> str:
        if value:
            parts = urlsplit(value)
            if parts.scheme not in SMTP_SCHEMES or not parts.hostname:
                raise ValueError(
                    "MARKETBOX_SMTP_URL must be smtp://[user:password@]host[:port][?starttls=1] "
                    "or smtps://[user:password@]host[:port]"
                )
        return value

    @property
    def mail_delivery(self) -> Literal["smtp", "capture", "none"]:
        """How letters leave: by SMTP, captured in the sandbox, or not at all (they wait)."""
        if self.smtp_url:
            return "smtp"
        return "capture" if self.mode == "sandbox" else "none"

    @property
    def mail_from_address(self) -> str:
        return self.mail_from or f"noreply@{urlsplit(self.public_url).hostname or 'localhost'}"

    @model_validator(mode="after")
    def _session_secret_for_mode(self) -> Settings:
        if not self.session_secret:
            if self.mode == "production":
                raise ValueError("MARKETBOX_SESSION_SECRET is required in production mode")
            self.session_secret = _PROCESS_SESSION_SECRET
        return self

    @model_validator(mode="after")
    def _metrics_token_for_mode(self) -> Settings:
        if self.mode == "production" and self.metrics_enabled and not self.metrics_token:
            raise ValueError(
                "MARKETBOX_METRICS_TOKEN is required in production mode when "
                "MARKETBOX_METRICS_ENABLED is on (scrapes send it as a Bearer token)"
            )
        return self

    @model_validator(mode="after")
    def _company_lookup_for_mode(self) -> Settings:
        if self.mode == "production" and self.company_lookup == "fixture":
            raise ValueError(
                "MARKETBOX_COMPANY_LOOKUP=fixture answers with fictional companies; in "
                "production set it to a real source (package.module:factory) or to none"
            )
        return self

    @property
    def company_lookup_source(self) -> str:
        """The configured company source, the mode's default when none is set."""
        if self.company_lookup:
            return self.company_lookup
        return "fixture" if self.mode == "sandbox" else "none"

    @model_validator(mode="after")
    def _payment_gateway_for_mode(self) -> Settings:
        name = self.payment_gateway
        if name and name not in BUILT_IN_GATEWAYS and not _GATEWAY_PATH.fullmatch(name):
            raise ValueError(
                f"MARKETBOX_PAYMENT_GATEWAY: {name!r} is neither one of "
                f"{', '.join(BUILT_IN_GATEWAYS)} nor package.module:factory"
            )
        if name == "sandbox" and self.mode == "production":
            raise ValueError(
                "MARKETBOX_PAYMENT_GATEWAY=sandbox approves test cards: not in production mode"
            )
        if self.payment_recovery_after_seconds <= self.payment_gateway_timeout_seconds:
            raise ValueError(
                "MARKETBOX_PAYMENT_RECOVERY_AFTER_SECONDS must exceed "
                "MARKETBOX_PAYMENT_GATEWAY_TIMEOUT_SECONDS (recovery must not race a live request)"
            )
        if self.payment_abandon_after_seconds < self.payment_recovery_after_seconds:
            raise ValueError(
                "MARKETBOX_PAYMENT_ABANDON_AFTER_SECONDS must be at least "
                "MARKETBOX_PAYMENT_RECOVERY_AFTER_SECONDS"
            )
        return self

    @field_validator("extra_frame_ancestors")
    @classmethod
    def _frame_ancestors_are_origins(cls, value: list[str]) -> list[str]:
        for entry in value:
            if not _FRAME_ANCESTOR.fullmatch(entry):
                raise ValueError(
                    f"MARKETBOX_EXTRA_FRAME_ANCESTORS: {entry!r} is not an origin "
                    "(scheme://host[:port], e.g. https://shop.example)"
                )
        return value

    @property
    def blocks_private_networks(self) -> bool:
        """Production never sends requests to private networks (netguard.py); sandbox does."""
        return self.mode == "production"

    @property
    def public_base(self) -> str:
        return self.public_url.rstrip("/")

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def payment_url(self, container_id: str) -> str:
        """The invoice's payment page: the one place its address is built (`paymentUrl`).
        An order stores the URL it was issued with (orders.payment_url), so moving the
        platform changes the links of new invoices only."""
        return f"{self.payment_url_prefix}{container_id}"

    @property
    def payment_url_prefix(self) -> str:
        """What every payment URL starts with (a mini-app host accepts only such URLs)."""
        return f"{self.public_base}/order/"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


# prometheus_client's multiprocess mode (docs/deploy.md "Metrics"): every process of one
# `serve --workers N` writes its counters to files in this directory, and a scrape of any of
# them sums all. Read before prometheus_client is first imported; set for the processes a
# supervisor starts.
PROMETHEUS_MULTIPROC_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def prometheus_multiproc_dir() -> str | None:
    return os.environ.get(PROMETHEUS_MULTIPROC_VARIABLE) or None


def set_prometheus_multiproc_dir(path: str) -> None:
    """Name the directory for this process and every process it starts from now on."""
    os.environ[PROMETHEUS_MULTIPROC_VARIABLE] = path
