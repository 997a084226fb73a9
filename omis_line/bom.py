"""Bill of materials of one Sales Order item: juice volumes per ingredient, bottles, caps and labels.

Rounding rule: volumes are whole millilitres. Each ingredient's exact share ``ratio / Σratios × bottleSizeMl ×
quantity`` is computed with exact fractions (ratios are read as the decimals the JSON spells, never as binary
floats), rounded down, and the millilitres still missing to the exact total are handed out one each to the
ingredients with the largest remainders (ties: the earlier ingredient) — the largest-remainder method. So the
volumes always add up to exactly ``bottleSizeMl × quantity`` and no ingredient is off by a whole millilitre or more.
"""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction
from typing import Any


def ingredient_volumes(ingredients: list[tuple[str, Decimal | str | float]], bottle_size_ml: int,
                       quantity: int) -> list[tuple[str, int]]:
    """(ingredient, ratio) pairs → (ingredient, volume in ml) by the rounding rule of the module docstring."""
    ratios = [Fraction(Decimal(str(ratio))) for _, ratio in ingredients]
    total_ratio = sum(ratios, Fraction(0))
    if total_ratio <= 0:
        raise ValueError("the ratios of an item must add up to more than 0")
    total_ml = bottle_size_ml * quantity
    exact = [ratio / total_ratio * total_ml for ratio in ratios]
    volumes = [math.floor(share) for share in exact]
    missing = total_ml - sum(volumes)
    by_remainder = sorted(range(len(exact)), key=lambda i: (-(exact[i] - volumes[i]), i))
    for i in by_remainder[:missing]:
        volumes[i] += 1
    return [(name, volume) for (name, _), volume in zip(ingredients, volumes, strict=True)]


def bill_of_materials(item: dict[str, Any]) -> dict[str, Any]:
    """The BOM of one Sales Order item (business JSON, ratios parsed as Decimal), as ``/api/orders`` shows it."""
    size, quantity = int(item["bottleSizeMl"]), int(item["quantity"])
    pairs = [(str(i["ingredient"]), i["ratio"]) for i in item["ingredients"]]
    return {
        "ingredients": [{"ingredient": name, "volumeMl": ml} for name, ml in ingredient_volumes(pairs, size, quantity)],
        "bottles": quantity,
        "caps": quantity,
        "labels": quantity,
    }
