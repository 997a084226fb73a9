"""Sales Order: what PEC's shop sends to OMIS for every order (DESIGN §3; the canonical example in issue 2)."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import Field, StrictInt, StrictStr, field_validator

from aas_models.records._shared import (
    BottleSize,
    Currency,
    Ingredient,
    Key,
    Money,
    Name,
    Record,
    TopRecord,
    mix_error,
    money_scale_error,
)
from aas_models.records._time import Day, Moment, utc

Channel = Literal["web", "mobile", "phone", "store", "marketplace"]
LabelMediaType = Literal["image/png", "image/jpeg", "image/webp", "image/svg+xml"]


class Customer(Record):
    """A reference to the customer, with no personal data beyond a display name."""

    id: Key
    display_name: StrictStr | None = Field(default=None, min_length=1, max_length=80)


class LabelImage(Record):
    """A label image stored on this AAdSys, referred to by its digest (the gateway's files endpoint takes it)."""

    sha256: StrictStr = Field(pattern=r"^[0-9a-f]{64}$", description="lower-case hex sha256 of the uploaded file")
    content_type: LabelMediaType


class OrderItem(Record):
    product: Name
    bottle_size_ml: BottleSize
    quantity: StrictInt = Field(gt=0, le=10_000)
    unit_price: Money
    ingredients: list[Ingredient] = Field(min_length=1, max_length=12)
    label_text: StrictStr | None = Field(default=None, max_length=500)
    label_image: LabelImage | None = None


class SalesOrder(TopRecord):
    order_id: Key
    order_date: Moment
    customer: Customer
    channel: Channel
    currency: Currency
    items: list[OrderItem] = Field(min_length=1, max_length=1000)
    total: Money
    requested_date: Day | None = None

    _utc = field_validator("order_date")(utc)

    def rule_errors(self) -> list[tuple[str, str]]:
        errors = []
        expected = Decimal(0)
        for index, item in enumerate(self.items):
            if problem := mix_error(item.ingredients):
                errors.append((f"items[{index}].ingredients", problem))
            if problem := money_scale_error(item.unit_price, self.currency):
                errors.append((f"items[{index}].unitPrice", problem))
            expected += item.unit_price * item.quantity
        if problem := money_scale_error(self.total, self.currency):
            errors.append(("total", problem))
        elif expected != self.total:
            errors.append(("total", f"{self.total} is not the sum of quantity x unitPrice over the items ({expected})"))
        return errors
