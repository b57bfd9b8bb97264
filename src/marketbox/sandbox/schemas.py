"""The JSON of the sandbox controls (our extension, docs/sandbox.md)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from marketbox.orders.schemas import OrderResponse


class TriggerResponse(BaseModel):
    action: Literal["pay", "decline", "hold", "expire"]
    result: Literal["paid", "held", "declined", "expired", "pending"] = Field(
        description="pending: the gateway did not answer in time; the worker finishes it"
    )
    paymentId: str | None = None
    failureCode: str | None = Field(None, description="why the bank declined (decline)")
    order: OrderResponse


class ClockAdvanceRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    advance: Annotated[str, StringConstraints(min_length=1, max_length=32)] = Field(
        description="how far to move the clock forward: 30s, 15m, 2h, 1d, 1d12h30m",
        examples=["2h"],
    )


class ClockResponse(BaseModel):
    now: str = Field(description="the sandbox clock's time (ISO 8601, UTC)")
    realNow: str = Field(description="the real time (ISO 8601, UTC)")
    offsetSeconds: int = Field(description="how far the clock is ahead; 0 when not moved")
    moved: bool


class ResetResponse(BaseModel):
    deleted: dict[str, int] = Field(description="rows deleted, by table")
    demoMerchantId: str
