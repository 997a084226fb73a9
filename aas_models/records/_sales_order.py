"""Sales Order: what PEC's shop sends to OMIS for every order (DESIGN §3; the canonical example in issue 2)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Literal, Self

from pydantic import AwareDatetime, Field, StrictInt, StrictStr, field_validator, model_validator

from aas_models.records._shared import (
    BottleSize,
    Currency,
    Ingredient,
    Key,
    Money,
    Name,
    Record,
    check_mix,
    check_money_scale,
)
from aas_models.records._time import utc

Channel = Literal["web", "app", "phone", "store", "marketplace"]
LabelMediaType = Literal["image/png", "image/jpeg", "image/webp", "image/svg+xml"]


class Customer(Record):
    """A reference to the customer, with no personal data beyond a display name."""

    id: Key
    display_name: StrictStr | None = Field(default=None, min_length=1, max_length=80)


class LabelImage(Record):
    """A label image stored on this AAdSys (``POST /api/v1/files``), referred to by its digest."""

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

    @field_validator("ingredients")
    @classmethod
    def _mix(cls, ingredients: list[Ingredient]) -> list[Ingredient]:
        check_mix(ingredients)
        return ingredients


class SalesOrder(Record):
    order_id: Key
    order_date: AwareDatetime
    customer: Customer
    channel: Channel
    currency: Currency
    items: list[OrderItem] = Field(min_length=1, max_length=1000)
    total: Money
    requested_date: date | None = None

    _utc = field_validator("order_date")(utc)

    @model_validator(mode="after")
    def _money(self) -> Self:
        expected = Decimal(0)
        for index, item in enumerate(self.items):
            check_money_scale(item.unit_price, self.currency, f"items[{index}].unitPrice")
            expected += item.unit_price * item.quantity
        check_money_scale(self.total, self.currency, "total")
        if expected != self.total:
            raise ValueError(f"total {self.total} is not the sum of quantity x unitPrice over the items ({expected})")
        return self
