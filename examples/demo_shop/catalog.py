"""What the shop sells, and turning a buyer's selection into a priced basket.

Three services share one renderer. Each is a list of groups:

* `radio`: pick exactly one option; an optional quantity (guests, cars) multiplies it;
* `stepper`: any number of each option within its bounds (0 means "not taken").

Prices live only here: the frontend sends skus and quantities, the backend prices them, so a
buyer cannot change what they pay. VAT follows the platform's basket rules (spec/api.md §8.5):
a line's VAT is included in its total, `round_half_up(total * rate / (100 + rate))`. Prices are
chosen so that VAT divides exactly per unit (a multiple of 3 ₽ at 20 %, of 1.65 ₽ at 10 %):
then `amountWoVat × quantity + totalVatAmount == totalAmount` holds for every quantity,
which the platform checks to the kopeck.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

CENT = Decimal("0.01")
MEASURE = "шт."
MEASURE_CODE = "796"  # OKEI "piece"


def round2(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def vat_rate(vat_code: str) -> Decimal:
    if vat_code == "VATNONE":
        return Decimal(0)
    return Decimal(vat_code.removeprefix("RUS_VAT").removesuffix("_ADDED"))


def text(ru: str, en: str) -> dict[str, str]:
    return {"ru": ru, "en": en}


def pick(value: Mapping[str, str], locale: str) -> str:
    return value.get(locale) or value["ru"]


@dataclasses.dataclass(frozen=True)
class Option:
    sku: str
    name: dict[str, str]
    price: Decimal
    description: dict[str, str] | None = None
    min: int = 0
    max: int = 10


@dataclasses.dataclass(frozen=True)
class Quantity:
    label: dict[str, str]
    min: int = 1
    max: int = 6


@dataclasses.dataclass(frozen=True)
class Group:
    id: str
    kind: str  # "radio" | "stepper"
    title: dict[str, str]
    options: tuple[Option, ...]
    quantity: Quantity | None = None  # radio only
    default: str | None = None  # radio only: the preselected sku


@dataclasses.dataclass(frozen=True)
class Service:
    key: str
    path: str
    title: dict[str, str]
    subtitle: dict[str, str]
    vat_code: str
    groups: tuple[Group, ...]
    # Suborder mode: the trip in the invoice must touch one of these airports (iataCode).
    airports: tuple[str, ...] = ()
    currency: str = "RUB"

    def option(self, sku: str) -> tuple[Group, Option] | None:
        for group in self.groups:
            for option in group.options:
                if option.sku == sku:
                    return group, option
        return None


class SelectionError(ValueError):
    """The selection does not fit the catalogue (unknown sku, bad quantity, nothing chosen)."""


LOUNGE = Service(
    key="lounge",
    path="/",
    title=text("Бизнес-зал Sky Lounge", "Sky Lounge business lounge"),
    subtitle=text("Шереметьево, терминал B, после досмотра", "Sheremetyevo, terminal B, airside"),
    vat_code="RUS_VAT20",
    airports=("SVO",),
    groups=(
        Group(
            id="pass",
            kind="radio",
            title=text("Тариф", "Pass"),
            default="lounge-3h",
            quantity=Quantity(label=text("Гостей", "Guests"), min=1, max=6),
            options=(
                Option(
                    sku="lounge-3h",
                    name=text("Стандарт, 3 часа", "Standard, 3 hours"),
                    description=text("Буфет, напитки, Wi-Fi", "Buffet, drinks, Wi-Fi"),
                    price=Decimal("1200.00"),
                ),
                Option(
                    sku="lounge-6h",
                    name=text("Премиум, 6 часов", "Premium, 6 hours"),
                    description=text("Горячее меню, бар, тихая зона", "Hot meals, bar, quiet zone"),
                    price=Decimal("2700.00"),
                ),
            ),
        ),
        Group(
            id="extras",
            kind="stepper",
            title=text("Дополнительно", "Extras"),
            options=(
                Option(
                    sku="lounge-shower",
                    name=text("Душевая комната", "Shower room"),
                    description=text("30 минут, полотенце", "30 minutes, towel included"),
                    price=Decimal("600.00"),
                    max=6,
                ),
                Option(
                    sku="lounge-water",
                    name=text("Вода в дорогу", "Water to go"),
                    price=Decimal("150.00"),
                    max=6,
                ),
            ),
        ),
    ),
)

TAXI = Service(
    key="taxi",
    path="/taxi/",
    title=text("Такси в аэропорт", "Taxi to the airport"),
    subtitle=text(
        "Подача за 3 часа до вылета, ожидание 15 минут бесплатно",
        "Pickup 3 hours before departure, 15 minutes of free waiting",
    ),
    vat_code="RUS_VAT20",
    airports=("SVO", "VKO", "DME", "LED"),
    groups=(
        Group(
            id="class",
            kind="radio",
            title=text("Класс автомобиля", "Car class"),
            default="taxi-comfort",
            options=(
                Option(
                    sku="taxi-economy",
                    name=text("Эконом", "Economy"),
                    description=text("До 3 пассажиров", "Up to 3 passengers"),
                    price=Decimal("1500.00"),
                ),
                Option(
                    sku="taxi-comfort",
                    name=text("Комфорт", "Comfort"),
                    description=text("До 4 пассажиров, большой багажник", "Up to 4, large trunk"),
                    price=Decimal("2100.00"),
                ),
                Option(
                    sku="taxi-business",
                    name=text("Бизнес", "Business"),
                    description=text("Представительский седан", "Executive sedan"),
                    price=Decimal("3900.00"),
                ),
            ),
        ),
        Group(
            id="extras",
            kind="stepper",
            title=text("Дополнительно", "Extras"),
            options=(
                Option(
                    sku="taxi-child-seat",
                    name=text("Детское кресло", "Child seat"),
                    price=Decimal("300.00"),
                    max=2,
                ),
            ),
        ),
    ),
)

COFFEE = Service(
    key="coffee",
    path="/coffee/",
    title=text("Кофейня «Взлёт»", "Vzlyot coffee bar"),
    subtitle=text("Заберите у выхода на посадку", "Pick up at your gate"),
    vat_code="RUS_VAT10",
    airports=("SVO", "VKO"),
    groups=(
        Group(
            id="menu",
            kind="stepper",
            title=text("Меню", "Menu"),
            options=(
                Option(
                    sku="coffee-cappuccino",
                    name=text("Капучино", "Cappuccino"),
                    description=text("300 мл", "300 ml"),
                    price=Decimal("220.00"),
                ),
                Option(
                    sku="coffee-latte",
                    name=text("Латте", "Latte"),
                    description=text("400 мл", "400 ml"),
                    price=Decimal("275.00"),
                ),
                Option(
                    sku="coffee-raf",
                    name=text("Раф", "Raf"),
                    description=text("300 мл, ванильный", "300 ml, vanilla"),
                    price=Decimal("330.00"),
                ),
                Option(
                    sku="coffee-croissant",
                    name=text("Круассан", "Croissant"),
                    price=Decimal("165.00"),
                ),
                Option(
                    sku="coffee-sandwich",
                    name=text("Сэндвич с индейкой", "Turkey sandwich"),
                    price=Decimal("385.00"),
                ),
            ),
        ),
    ),
)

SERVICES: dict[str, Service] = {s.key: s for s in (LOUNGE, TAXI, COFFEE)}


@dataclasses.dataclass(frozen=True)
class Line:
    sku: str
    name: str
    quantity: int
    amount: Decimal  # unit price, VAT included
    amount_wo_vat: Decimal
    total_amount: Decimal
    total_vat_amount: Decimal
    vat_code: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "sku": self.sku,
            "name": self.name,
            "quantity": self.quantity,
            "amount": self.amount,
            "totalAmount": self.total_amount,
        }


def price_line(option: Option, quantity: int, vat_code: str, locale: str) -> Line:
    total = round2(option.price * quantity)
    rate = vat_rate(vat_code)
    total_vat = round2(total * rate / (100 + rate)) if rate else Decimal("0.00")
    return Line(
        sku=option.sku,
        name=pick(option.name, locale),
        quantity=quantity,
        amount=option.price,
        amount_wo_vat=round2((total - total_vat) / quantity),
        total_amount=total,
        total_vat_amount=total_vat,
        vat_code=vat_code,
    )


def price_selection(
    service: Service, items: Sequence[Mapping[str, Any]], locale: str
) -> list[Line]:
    """Priced lines for `[{"sku", "quantity"}, ...]`, checked against the catalogue."""
    quantities: dict[str, int] = {}
    for item in items:
        sku = item.get("sku")
        quantity = item.get("quantity")
        if not isinstance(sku, str) or service.option(sku) is None:
            raise SelectionError(f"unknown sku {sku!r}")
        if not isinstance(quantity, int) or isinstance(quantity, bool):
            raise SelectionError(f"quantity of {sku} must be an integer")
        if sku in quantities:
            raise SelectionError(f"{sku} is listed twice")
        quantities[sku] = quantity
    lines: list[Line] = []
    for group in service.groups:
        chosen = [o for o in group.options if quantities.get(o.sku, 0) != 0]
        if group.kind == "radio":
            if len(chosen) != 1:
                raise SelectionError(f"choose exactly one option in {group.id}")
            bounds = group.quantity or Quantity(label={}, min=1, max=1)
            quantity = quantities[chosen[0].sku]
            if not bounds.min <= quantity <= bounds.max:
                raise SelectionError(f"{group.id}: quantity {quantity} is out of range")
            lines.append(price_line(chosen[0], quantity, service.vat_code, locale))
            continue
        for option in group.options:
            quantity = quantities.get(option.sku, 0)
            if not option.min <= quantity <= option.max:
                raise SelectionError(f"{option.sku}: quantity {quantity} is out of range")
            if quantity:
                lines.append(price_line(option, quantity, service.vat_code, locale))
    if not lines:
        raise SelectionError("nothing chosen")
    return lines


def catalogue_json(service: Service) -> dict[str, Any]:
    """The public catalogue of one service (both languages; the frontend picks one)."""

    def option(o: Option) -> dict[str, Any]:
        return {
            "sku": o.sku,
            "name": o.name,
            "description": o.description,
            "price": o.price,
            "min": o.min,
            "max": o.max,
        }

    def group(g: Group) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": g.id,
            "kind": g.kind,
            "title": g.title,
            "options": [option(o) for o in g.options],
        }
        if g.kind == "radio":
            data["default"] = g.default or g.options[0].sku
            q = g.quantity or Quantity(label={}, min=1, max=1)
            data["quantity"] = {"label": q.label or None, "min": q.min, "max": q.max}
        return data

    return {
        "service": service.key,
        "title": service.title,
        "subtitle": service.subtitle,
        "currency": service.currency,
        "vatCode": service.vat_code,
        "airports": list(service.airports),
        "groups": [group(g) for g in service.groups],
    }
