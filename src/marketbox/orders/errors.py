"""Order domain errors (codes from spec/api.md §4)."""

from __future__ import annotations

from marketbox.errors import FieldError, Forbidden, NotFound, ValidationFailed


class OrderNotFound(NotFound):
    message = "Order not found"


class WrongOrderStatus(ValidationFailed):
    code = "wrong_order_status"
    message = "The operation is not allowed in the order's current status"


class MerchantOrderIdDuplicate(ValidationFailed):
    code = "merchant_order_id_duplicate"
    message = "merchantOrderId is already used by another order of this merchant"

    def __init__(self) -> None:
        super().__init__(fields=[FieldError("merchantOrderId", "wrong_value", "")])


class ForeignMerchant(Forbidden):
    message = "The token does not give access to this merchant"

    def __init__(self) -> None:
        super().__init__(fields=[FieldError("merchantId", "wrong_value", "")])


class ContainerNotFound(ValidationFailed):
    message = "orderContainerId does not name an existing order container"

    def __init__(self) -> None:
        super().__init__(fields=[FieldError("orderContainerId", "not_found", "")])


class ContainerClosed(WrongOrderStatus):
    message = "The order container is paid, canceled or expired and accepts no new orders"

    def __init__(self, status: str) -> None:
        super().__init__(
            f"The order container is {status} and accepts no new orders",
            fields=[FieldError("orderContainerId", "wrong_value", status)],
        )
