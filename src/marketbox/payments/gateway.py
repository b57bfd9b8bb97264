"""The payment gateway seam: every card operation goes through one interface.

    authorize(request)           -> Authorization   approved (captured at once or held) | declined
    find(idempotency_key)        -> Authorization | None   "what happened to the attempt with key K"
    get(reference)               -> Authorization | None   an authorization's state now
    capture(reference, amount, key=None) -> Operation   take (part of) a held authorization;
                                 with a key, one of several partial captures
    void(reference)              -> Operation   cancel an authorization before settlement, or
                                 release what partial captures left of it
    refund(reference, amount)    -> Operation   give (part of) a captured payment back

`MARKETBOX_PAYMENT_GATEWAY` chooses the implementation (`create_gateway`): `sandbox` (the
documented test cards, payments/sandbox_gateway.py; the default in sandbox mode), `unavailable`
(no acquirer: every card is declined with `acquirer_unavailable`; the default in production),
or `package.module:factory`, a callable `(settings, database) -> PaymentGateway` for an
acquirer of the operator's own (docs/payments.md "Adding a gateway").

Rules every implementation keeps (docs/payments.md "The gateway interface"):

* **No database transaction is open while a gateway method runs.** Callers (payments/attempts.py)
  record their intent first, commit, call the gateway, then record the answer: a network call
  never holds the SQLite write lock or a PostgreSQL row lock.
* **authorize is idempotent by the request's idempotency key**; `find` answers it after a crash.
* **capture, void and refund are idempotent by the reference** (a keyed capture and a refund
  by their `key` too): a
  repeat answers the first result with `replayed=True` and changes nothing. A call that cannot
  be applied answers `succeeded=False` with a `failure_code` and changes nothing.
* A gateway that cannot be reached raises `GatewayUnavailable`: the outcome is unknown, ask
  again later (`find` / `get`, or repeat the idempotent call).

Amounts are Decimal in the authorization's currency. The card number and CVC travel only in the
`Card` of one request (payments/sandbox.py): no implementation may store or log them.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol, TypeVar, runtime_checkable

if TYPE_CHECKING:
    from marketbox.config import Settings
    from marketbox.payments.sandbox import Card
    from marketbox.storage.db import Database

ACQUIRER_UNAVAILABLE = "acquirer_unavailable"

T = TypeVar("T")

# Authorization.state
DECLINED = "declined"
AUTHORIZED = "authorized"  # held, not captured
CAPTURED = "captured"  # captured (possibly partly refunded: see refunded_amount)
VOIDED = "voided"
REFUNDED = "refunded"  # the whole captured amount was refunded

# Operation.kind
CAPTURE = "capture"
VOID = "void"
REFUND = "refund"


class GatewayError(Exception):
    """The gateway could not do what was asked (a bug or a misuse, not a business answer)."""


class GatewayUnavailable(GatewayError):
    """No answer (network error, timeout): the outcome is unknown; ask again later."""


@dataclass(frozen=True)
class AuthorizeRequest:
    """One card attempt. `idempotency_key` identifies it for ever: repeating the request
    answers the first authorization, and `find(idempotency_key)` finds it."""

    idempotency_key: str
    amount: Decimal
    currency: str
    card: Card
    # Capture at once when the bank allows (a sale). The sandbox's hold card is always only
    # authorized (a pre-authorisation), whatever this says.
    capture: bool = True
    description: str = ""


@dataclass(frozen=True)
class Authorization:
    """The gateway's record of one authorization, as it stands now."""

    reference: str  # the gateway's handle for capture / void / refund
    idempotency_key: str
    state: str  # declined | authorized | captured | voided | refunded
    amount: Decimal  # authorized
    currency: str
    failure_code: str | None = None  # set when declined
    captured_amount: Decimal = Decimal(0)
    refunded_amount: Decimal = Decimal(0)
    card_last4: str | None = None
    card_brand: str | None = None

    @property
    def approved(self) -> bool:
        return self.state != DECLINED

    @property
    def captured(self) -> bool:
        """Captured when it was approved (a sale), not held as a pre-authorisation."""
        return self.captured_amount > 0


@dataclass(frozen=True)
class Operation:
    """The answer to capture, void or refund."""

    kind: str  # capture | void | refund
    reference: str
    succeeded: bool
    # captured or refunded by this operation; released by a void of a partly captured hold
    # (None for a void of the whole authorization)
    amount: Decimal | None = None
    failure_code: str | None = None  # why it was not applied (nothing changed)
    replayed: bool = False  # the answer of an earlier identical call; nothing changed now


@runtime_checkable
class PaymentGateway(Protocol):
    """What marketbox asks of an acquirer. See the module docstring for the rules."""

    name: str

    async def authorize(self, request: AuthorizeRequest) -> Authorization: ...

    async def find(self, idempotency_key: str) -> Authorization | None: ...

    async def get(self, reference: str) -> Authorization | None: ...

    async def capture(
        self, reference: str, amount: Decimal, *, key: str | None = None
    ) -> Operation: ...

    async def void(self, reference: str) -> Operation: ...

    async def refund(
        self, reference: str, amount: Decimal, *, key: str | None = None
    ) -> Operation: ...

    async def close(self) -> None: ...


class UnavailableGateway:
    """No acquirer (production until one is configured): every card is declined with
    `acquirer_unavailable`, never approved by a table meant for tests; nothing is kept."""

    name = "unavailable"

    async def authorize(self, request: AuthorizeRequest) -> Authorization:
        return Authorization(
            reference="",
            idempotency_key=request.idempotency_key,
            state=DECLINED,
            amount=request.amount,
            currency=request.currency,
            failure_code=ACQUIRER_UNAVAILABLE,
            card_last4=request.card.last4,
            card_brand=request.card.brand,
        )

    async def find(self, idempotency_key: str) -> Authorization | None:
        return None

    async def get(self, reference: str) -> Authorization | None:
        return None

    async def capture(
        self, reference: str, amount: Decimal, *, key: str | None = None
    ) -> Operation:
        return Operation(CAPTURE, reference, False, amount, ACQUIRER_UNAVAILABLE)

    async def void(self, reference: str) -> Operation:
        return Operation(VOID, reference, False, None, ACQUIRER_UNAVAILABLE)

    async def refund(self, reference: str, amount: Decimal, *, key: str | None = None) -> Operation:
        return Operation(REFUND, reference, False, amount, ACQUIRER_UNAVAILABLE)

    async def close(self) -> None:
        return None


async def bounded(awaitable: Awaitable[T], timeout: float) -> T:
    """A gateway call, bounded: no answer in time is GatewayUnavailable (outcome unknown)."""
    try:
        async with asyncio.timeout(timeout):
            return await awaitable
    except TimeoutError as exc:
        raise GatewayUnavailable(f"no answer within {timeout} s") from exc


GatewayFactory = Callable[["Settings", "Database"], PaymentGateway]


def _sandbox(settings: Settings, db: Database) -> PaymentGateway:
    from marketbox.payments.sandbox_gateway import SandboxGateway

    return SandboxGateway(db)


def _unavailable(settings: Settings, db: Database) -> PaymentGateway:
    return UnavailableGateway()


BUILT_IN: dict[str, GatewayFactory] = {"sandbox": _sandbox, "unavailable": _unavailable}


def gateway_name(settings: Settings) -> str:
    """The configured gateway, or the mode's default: the sandbox in sandbox mode, none
    (`unavailable`) in production."""
    if settings.payment_gateway:
        return settings.payment_gateway
    return "sandbox" if settings.mode == "sandbox" else "unavailable"


def create_gateway(settings: Settings, db: Database) -> PaymentGateway:
    """The gateway MARKETBOX_PAYMENT_GATEWAY names (Settings checked its form at start-up)."""
    name = gateway_name(settings)
    factory = BUILT_IN.get(name)
    if factory is None:
        module_name, _, attribute = name.partition(":")
        try:
            target: object = importlib.import_module(module_name)
            for part in attribute.split("."):
                target = getattr(target, part)
        except (ImportError, AttributeError) as exc:
            message = f"MARKETBOX_PAYMENT_GATEWAY={name!r}: cannot load it ({exc})"
            raise GatewayError(message) from exc
        if not callable(target):
            raise GatewayError(f"MARKETBOX_PAYMENT_GATEWAY={name!r} is not callable")
        factory = target
    gateway = factory(settings, db)
    if not isinstance(gateway, PaymentGateway):
        raise GatewayError(f"MARKETBOX_PAYMENT_GATEWAY={name!r} did not build a PaymentGateway")
    return gateway
