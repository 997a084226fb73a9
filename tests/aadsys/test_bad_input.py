"""Every bad request gets a 4xx problem+json that names what to fix, and leaves nothing behind."""

from __future__ import annotations

import httpx
import pytest
from sqlmodel import func, select

from aadsys.core.tables import FileRow, InstanceRow
from tests.aadsys.conftest import CANONICAL_ORDER, Gateway, order

BASE = "/api/v1/asset-types/sales-order/instances"


def _nothing_stored(gateway: Gateway) -> bool:
    with gateway.ctx.db.session() as s:
        instances = s.exec(select(func.count()).select_from(InstanceRow)).one()
        files = s.exec(select(func.count()).select_from(FileRow)).one()
    stray = [p for p in gateway.ctx.settings.files_dir.rglob("*") if p.is_file()]
    return instances == 0 and files == 0 and not stray


def _problem(r: httpx.Response, status: int) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["status"] == status and body["title"] and body["detail"] and body["type"]
    return body


def test_malformed_json_is_400(api: httpx.Client, gateway: Gateway) -> None:
    body = _problem(api.post(BASE, content=b'{"orderId": ', headers={"Content-Type": "application/json"}), 400)
    assert "not valid JSON" in body["detail"]
    assert _nothing_stored(gateway)


@pytest.mark.parametrize("body", [b'"an order"', b"5", b"null"])
def test_json_that_is_neither_an_object_nor_an_array_is_400(api: httpx.Client, body: bytes) -> None:
    answer = api.post(BASE, content=body, headers={"Content-Type": "application/json"})
    assert "JSON object" in _problem(answer, 400)["detail"]


def test_an_array_is_a_bulk_body_whose_non_object_records_are_refused_one_by_one(api: httpx.Client,
                                                                                 gateway: Gateway) -> None:
    answer = api.post(BASE, json=[1, 2])
    assert answer.status_code == 200, answer.text
    assert [(i["status"], i["problem"]["status"]) for i in answer.json()["items"]] == [(400, 400)] * 2
    assert _nothing_stored(gateway)


def test_an_aas_environment_is_one_object_never_a_bulk_array(api: httpx.Client) -> None:
    _problem(api.post(BASE, content=b"[{}]", headers={"Content-Type": "application/aas+json"}), 400)


@pytest.mark.parametrize(("change", "field"), [
    ({"items": [{**CANONICAL_ORDER["items"][0], "quantity": "two"}]}, "quantity"),
    ({"items": [{**CANONICAL_ORDER["items"][0], "quantity": 0}]}, "quantity"),
    ({"items": [{**CANONICAL_ORDER["items"][0], "bottleSizeMl": 333}]}, "bottleSizeMl"),
    ({"items": [{**CANONICAL_ORDER["items"][0], "ingredients": [
        {"ingredient": "orange", "ratio": 0.6}, {"ingredient": "carrot", "ratio": 0.3}]}]}, "ingredients"),
    ({"currency": "XYZ"}, "currency"),
    ({"total": "99.00"}, "total"),
])
def test_model_rule_violation_is_422_naming_the_field(api: httpx.Client, gateway: Gateway, change: dict,
                                                      field: str) -> None:
    body = _problem(api.post(BASE, json=order("SO-1", **change)), 422)
    assert field in body["detail"]
    assert any(field in e["field"] for e in body["errors"])
    assert _nothing_stored(gateway)


def test_unknown_asset_type_is_404(api: httpx.Client) -> None:
    body = _problem(api.post("/api/v1/asset-types/purchase-order/instances", json=CANONICAL_ORDER), 404)
    assert "sales-order" in body["detail"]


def test_oversized_body_is_413(api: httpx.Client, gateway: Gateway) -> None:
    big = order("SO-BIG", items=[{**CANONICAL_ORDER["items"][0], "labelText": "x" * 3_000_000}])
    _problem(api.post(BASE, json=big), 413)
    assert _nothing_stored(gateway)


def test_wrong_content_type_is_415(api: httpx.Client) -> None:
    body = _problem(api.post(BASE, content=b"orderId=1", headers={"Content-Type": "text/plain"}), 415)
    assert "application/json" in body["detail"]


def test_invalid_aas_json_is_422(api: httpx.Client, gateway: Gateway) -> None:
    r = api.post(BASE, json={"assetAdministrationShells": [{"id": "x"}], "submodels": []},
                 headers={"Content-Type": "application/aas+json"})
    _problem(r, 422)
    assert _nothing_stored(gateway)


def test_aas_json_of_any_shape_is_judged_not_crashed_on(api: httpx.Client, gateway: Gateway) -> None:
    """The gateway reads posted AAS JSON for file links before the record's model judges it: no shape breaks that."""
    shell = [{"id": "x"}]
    collection = {"idShort": "c", "modelType": "SubmodelElementCollection"}
    for submodels in (5, "x", [7], [{"modelType": "Submodel", "submodelElements": {"a": 1}}],
                      [{"modelType": "Submodel", "submodelElements": [{**collection, "value": "text"}, 3]}],
                      [{"modelType": "Submodel", "submodelElements": [{**collection, "value": [{"modelType": "File",
                                                                                              "value": 9}]}]}]):
        r = api.post(BASE, json={"assetAdministrationShells": shell, "submodels": submodels},
                     headers={"Content-Type": "application/aas+json"})
        _problem(r, 422)
    assert _nothing_stored(gateway)


def test_invalid_base64url_id_in_aas_api_is_400(api: httpx.Client) -> None:
    r = api.get("/api/v3.0/shells/%%%not-base64")
    assert r.status_code == 400
    assert r.json()["messages"][0]["messageType"] == "Error"


def test_bad_query_parameter_is_422_naming_it(api: httpx.Client) -> None:
    body = _problem(api.get(BASE, params={"limit": 0}), 422)
    assert "limit" in body["detail"]
    _problem(api.get(BASE, params={"from": "yesterday"}), 422)


def test_foreign_cursor_is_400(api: httpx.Client) -> None:
    _problem(api.get(BASE, params={"cursor": "bm90LW91cnM"}), 400)


def test_missing_instance_is_404(api: httpx.Client) -> None:
    _problem(api.get(f"{BASE}/SO-404"), 404)
