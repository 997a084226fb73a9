"""The rules of the business records: each broken rule is refused, naming the field and the rule."""

from __future__ import annotations

from typing import Any

import pytest

from aas_models import Owner, RecordInvalid, UnknownAssetType, asset_type_metadata, render_instance
from tests.aas_models.records import record

PEC = Owner("pec", "https://pec.example")


def _errors(slug: str, payload: Any) -> list[dict[str, str]]:
    with pytest.raises(RecordInvalid) as caught:
        render_instance(slug, payload, PEC)
    return caught.value.errors


def _order(**changes: Any) -> dict[str, Any]:
    order = record("sales-order")
    for path, value in changes.items():
        target = order
        *parents, last = path.split("__")
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[int(last) if last.isdigit() else last] = value
    return order


@pytest.mark.parametrize(("changes", "field", "words"), [
    ({"items__0__ingredients__0__ratio": 0.5}, "items[0].ingredients", "sum to 1"),
    ({"items__0__ingredients__0__ratio": 0}, "items[0].ingredients[0].ratio", "greater than 0"),
    ({"items__0__ingredients__0__ratio": 1.2}, "items[0].ingredients[0].ratio", "less than or equal to 1"),
    ({"items__0__ingredients__1__ingredient": "orange", "items__0__ingredients__1__ratio": 0.4},
     "items[0].ingredients", "once per mix"),
    ({"items__0__bottleSizeMl": 600}, "items[0].bottleSizeMl", "250"),
    ({"items__0__quantity": 0}, "items[0].quantity", "greater than 0"),
    ({"items__0__quantity": "2"}, "items[0].quantity", "integer"),
    ({"items__0__unitPrice": "12.905", "total": "25.81"}, "items[0].unitPrice", "minor unit of MYR"),
    ({"currency": "XXY"}, "currency", "ISO 4217"),
    ({"total": "25.90"}, "total", "sum of quantity x unitPrice"),
    ({"orderId": "SO 1001/x"}, "orderId", "pattern"),
    ({"orderDate": "2026-11-22T10:15:00"}, "orderDate", "timezone"),
    ({"channel": "fax"}, "channel", "web"),
    ({"items": []}, "items", "at least 1"),
    ({"customer__email": "aina@example.com"}, "customer.email", "unknown field"),
])
def test_sales_order_rule_is_enforced_naming_the_field(changes: dict[str, Any], field: str, words: str) -> None:
    errors = _errors("sales-order", _order(**changes))
    assert any(e["field"] == field and words in e["message"] for e in errors), errors


def test_a_missing_field_is_named() -> None:
    order = record("sales-order")
    del order["customer"]
    assert {"field": "customer", "message": "is required"} in _errors("sales-order", order)


def test_malformed_json_is_a_record_error_on_the_body() -> None:
    (error,) = _errors("sales-order", b'{"orderId": ')
    assert error["field"] == "(body)" and "not valid JSON" in error["message"]


def test_yen_has_no_minor_unit_and_dinar_three() -> None:
    order = _order(currency="JPY", items__0__unitPrice="1200", total="2400")
    assert render_instance("sales-order", order, PEC).record["currency"] == "JPY"
    assert _errors("sales-order", _order(currency="JPY", items__0__unitPrice="1200.5", total="2401"))
    render_instance("sales-order", _order(currency="KWD", items__0__unitPrice="1.125", total="2.250"), PEC)


def test_station_visit_cannot_be_left_before_it_was_entered() -> None:
    status = record("sales-order-status")
    status["trace"][0]["left"] = "2026-11-22T10:59:00Z"
    assert any(e["field"] == "trace[0]" and "before entered" in e["message"]
               for e in _errors("sales-order-status", status))


def test_unknown_status_is_refused() -> None:
    status = record("sales-order-status")
    status["status"] = "lost"
    assert _errors("sales-order-status", status)[0]["field"] == "status"


def test_juice_product_rules() -> None:
    product = record("juice-product")
    product["nutritionFacts"]["sugarG"] = "30"
    assert _errors("juice-product", product)[0]["field"] == "nutritionFacts"
    product = record("juice-product")
    product["seasonalPricing"]["prices"][0]["validTo"] = "2026-10-01"
    assert _errors("juice-product", product)[0]["field"] == "seasonalPricing.prices[0]"


def test_unknown_asset_type_names_the_known_ones() -> None:
    with pytest.raises(UnknownAssetType, match="sales-order"):
        render_instance("purchase-order", {}, PEC)


def test_owner_refuses_ids_that_would_break_urns_and_iris() -> None:
    with pytest.raises(ValueError, match="org"):
        Owner("PEC Sdn Bhd", "https://pec.example")
    with pytest.raises(ValueError, match="base IRI"):
        Owner("pec", "https://pec.example/")


def test_metadata_for_the_portal_has_templates_and_semantic_ids_but_no_values() -> None:
    meta = asset_type_metadata("sales-order", PEC)
    assert meta["id"] == "https://pec.example/ids/aas/type/sales-order"
    assert meta["semanticIds"] == ["https://pec.example/ids/sm/SalesOrder/1/0"]
    assert meta["submodels"][0]["kind"] == "Template"
    assert meta["name"] == "Sales Order" and meta["owner"] == "pec"
