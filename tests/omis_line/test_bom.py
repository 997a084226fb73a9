"""Bills of materials: exact volumes per ingredient, whole millilitres by the largest-remainder rule."""

from __future__ import annotations

from decimal import Decimal

from omis_line.bom import bill_of_materials, ingredient_volumes
from omis_line.erp import parse_record
from tests.omis_line.conftest import sales_order


def test_mixed_order_of_three_ingredients_gives_exact_volumes_and_one_bottle_cap_label_each() -> None:
    item = {"bottleSizeMl": 500, "quantity": 4, "ingredients": [
        {"ingredient": "orange", "ratio": Decimal("0.5")}, {"ingredient": "carrot", "ratio": Decimal("0.3")},
        {"ingredient": "ginger", "ratio": Decimal("0.2")}]}

    bom = bill_of_materials(item)

    assert bom == {"ingredients": [{"ingredient": "orange", "volumeMl": 1000},
                                   {"ingredient": "carrot", "volumeMl": 600},
                                   {"ingredient": "ginger", "volumeMl": 400}],
                   "bottles": 4, "caps": 4, "labels": 4}


def test_thirds_round_by_largest_remainder_and_add_up_to_the_whole_volume() -> None:
    third = 1 / 3  # 0.3333333333333333 as JSON writes it

    volumes = ingredient_volumes([("apple", third), ("pear", third), ("kiwi", third)], 500, 1)

    assert volumes == [("apple", 167), ("pear", 167), ("kiwi", 166)]
    assert sum(ml for _, ml in volumes) == 500


def test_ratios_read_from_json_are_exact_decimals_not_binary_floats() -> None:
    record = parse_record(sales_order("SO-D", quantity=3, size=330,
                                      ratios=(("lime", "0.1"), ("apple", "0.2"), ("mango", "0.7"))))

    bom = bill_of_materials(record["items"][0])

    assert [i["volumeMl"] for i in bom["ingredients"]] == [99, 198, 693]  # 990 ml, no float drift


def test_ratios_that_sum_to_one_only_within_tolerance_still_fill_the_bottles_exactly() -> None:
    volumes = ingredient_volumes([("a", "0.3333333333"), ("b", "0.6666666667")], 750, 2)

    assert volumes == [("a", 500), ("b", 1000)]
