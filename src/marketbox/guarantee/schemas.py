"""The JSON contract of the guarantee actions (api.md §11): `ValidateRequest` / `CodeRequest`,
the pay request with `customerPaymentData`, and the three answers."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from marketbox.orders.schemas import Customer

VALIDATE_RESULTS = ("notRegistered", "notEnoughMoney", "available")
SEND_CODE_RESULTS = ("error", "codeAlreadySent", "success")
PAY_RESULTS = ("alreadyPaid", "wrongCode", "limitReached", "notEnoughMoney", "error", "success")


def _id_text(value: Any) -> Any:
    """`paymentMethodId` is a string(36) ("39363265"); a JSON integer is read as its digits."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


PaymentMethodId = Annotated[
    str,
    BeforeValidator(_id_text),
    StringConstraints(min_length=1, max_length=36),
    Field(description="Id of the confirmation instrument, e.g. 39363265"),
]


class _Model(BaseModel):
    # Unknown properties are ignored, as in every request of this API.
    model_config = ConfigDict(extra="ignore", strict=False)


class ActionRequest(_Model):
    """`ValidateRequest` and `CodeRequest` (validate, send-code)."""

    paymentMethodId: PaymentMethodId
    # Checked by orders.validation.check_language (its own code, language_not_found).
    languageId: Annotated[str, StringConstraints(max_length=2)] | None = None
    customer: Customer


class CustomerPaymentData(_Model):
    publicCode: Annotated[str, StringConstraints(min_length=1, max_length=36)]
    code: Annotated[str, StringConstraints(min_length=1, max_length=16)]


class PayRequest(ActionRequest):
    customerPaymentData: CustomerPaymentData


class RedirectData(BaseModel):
    url: str
    method: str
    arguments: list[Any]


class ValidateResponse(BaseModel):
    type: Literal["none"]
    result: Literal["notRegistered", "notEnoughMoney", "available"]
    resultNote: str | None
    resultData: RedirectData


class CodeData(BaseModel):
    publicCode: str | None
    leftAttempt: int = Field(description="How many more times a code may be sent")


class SendCodeResponse(BaseModel):
    type: Literal["none"]
    result: Literal["error", "codeAlreadySent", "success"]
    resultNote: str | None
    resultData: CodeData


class MessageText(BaseModel):
    title: str
    message: str


class MessageData(BaseModel):
    message: MessageText | None = None


class PayResponse(BaseModel):
    type: Literal["none", "message"]
    result: Literal[
        "alreadyPaid", "wrongCode", "limitReached", "notEnoughMoney", "error", "success"
    ]
    resultData: MessageData = Field(
        description="{} on success; otherwise message.title and message.message for the payer"
    )
