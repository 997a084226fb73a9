"""Building blocks shared by the records: keys, money, bottle sizes and ingredient mixes."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictStr
from pydantic.alias_generators import to_camel

from aas_models._currencies import MINOR_UNITS
from aas_models._ids import KEY_PATTERN

BOTTLE_SIZES_ML = (250, 330, 500, 750, 1000)
RATIO_TOLERANCE = 1e-9


class Record(BaseModel):
    """Every record: camelCase on the wire, unknown fields refused, values immutable once validated."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True,
                              str_strip_whitespace=True)


def _currency(code: str) -> str:
    if code not in MINOR_UNITS:
        raise ValueError(f"'{code}' is not an active ISO 4217 currency code (e.g. MYR, EUR, USD)")
    return code


Key = Annotated[StrictStr, Field(pattern=KEY_PATTERN, description="letters, digits, '.', '_' and '-', 1-64 long")]
Name = Annotated[StrictStr, Field(min_length=1, max_length=64)]
Currency = Annotated[StrictStr, AfterValidator(_currency)]
Money = Annotated[Decimal, Field(ge=0, max_digits=14, allow_inf_nan=False)]
BottleSize = Literal[250, 330, 500, 750, 1000]


_MINOR_UNIT_SCALES = {code: Decimal(10) ** places for code, places in MINOR_UNITS.items()}


def check_money_scale(amount: Decimal, currency: str, field: str) -> None:
    """Money may not be finer than the currency's minor unit (ISO 4217): 12.905 MYR is refused."""
    if (amount * _MINOR_UNIT_SCALES[currency]) % 1:
        raise ValueError(f"{field} {amount} has more than {MINOR_UNITS[currency]} decimal place(s), "
                         f"the minor unit of {currency}")


class Ingredient(Record):
    ingredient: Name
    ratio: float = Field(gt=0, le=1, allow_inf_nan=False, description="share of the bottle, in (0, 1]")


def check_mix(ingredients: list[Ingredient]) -> None:
    """Ratios of one mix sum to 1 (within 1e-9) and name each ingredient once."""
    total = math.fsum([i.ratio for i in ingredients])
    if abs(total - 1.0) > RATIO_TOLERANCE:
        raise ValueError(f"ingredient ratios sum to {total:.12g}; they must sum to 1")
    if len({i.ingredient for i in ingredients}) != len(ingredients):
        raise ValueError("each ingredient may appear once per mix; merge the duplicates into one ratio")
