"""Juice product: the paper's example shell, with Ingredients, NutritionFacts and SeasonalPricing."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Self

from pydantic import Field, StrictInt, StrictStr, model_validator

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
from aas_models.records._time import Day

Amount = Annotated[Decimal, Field(ge=0, max_digits=10, decimal_places=3, allow_inf_nan=False)]


class NutritionFacts(Record):
    serving_size_ml: StrictInt = Field(gt=0, le=5000)
    energy_kcal: Amount
    carbohydrate_g: Amount
    sugar_g: Amount
    protein_g: Amount
    fat_g: Amount
    vitamin_c_mg: Amount | None = None

    @model_validator(mode="after")
    def _sugar(self) -> Self:
        if self.sugar_g > self.carbohydrate_g:
            raise ValueError("sugarG is more than carbohydrateG; sugar is part of the carbohydrates")
        return self


class SeasonalPrice(Record):
    season: StrictStr = Field(min_length=1, max_length=40)
    valid_from: Day
    valid_to: Day
    bottle_size_ml: BottleSize
    unit_price: Money

    @model_validator(mode="after")
    def _range(self) -> Self:
        if self.valid_to < self.valid_from:
            raise ValueError("validTo is before validFrom")
        return self


class SeasonalPricing(Record):
    currency: Currency
    prices: list[SeasonalPrice] = Field(min_length=1, max_length=100)


class JuiceProduct(TopRecord):
    product_id: Key
    product_name: Name
    ingredients: list[Ingredient] = Field(min_length=1, max_length=12)
    nutrition_facts: NutritionFacts
    seasonal_pricing: SeasonalPricing

    def rule_errors(self) -> list[tuple[str, str]]:
        errors = []
        if problem := mix_error(self.ingredients):
            errors.append(("ingredients", problem))
        pricing = self.seasonal_pricing
        for index, price in enumerate(pricing.prices):
            if problem := money_scale_error(price.unit_price, pricing.currency):
                errors.append((f"seasonalPricing.prices[{index}].unitPrice", problem))
        return errors
