"""Each asset type's records have a JSON Schema: in the OpenAPI document, for the bodies of that type's own
operations, and at ``GET /api/v1/asset-types/{type}/schema``. A client generated from the document by a standard
generator (datamodel-code-generator) knows a Sales Order (issue 9)."""

from __future__ import annotations

import copy
import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import orjson
import pydantic
import pytest
from datamodel_code_generator import DataModelType, InputFileType, generate

from aas_models import ASSET_TYPES
from tests.aadsys.conftest import CANONICAL_ORDER, Gateway
from tests.aas_models.records import record

TYPES = "/api/v1/asset-types"


def test_each_type_serves_its_record_schema(gateway: Gateway) -> None:
    with gateway.client("read") as api:
        for slug, spec in ASSET_TYPES.items():
            r = api.get(f"{TYPES}/{slug}/schema")
            assert r.status_code == 200, r.text
            assert r.headers["content-type"] == "application/schema+json"
            schema = r.json()
            assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
            assert schema["title"] == spec.record_model.__name__
            assert spec.key_field in schema["required"] and schema["additionalProperties"] is False
        unknown = api.get(f"{TYPES}/purchase-order/schema")
    assert unknown.status_code == 404 and "sales-order" in unknown.json()["detail"]
    with gateway.client(None) as anonymous:
        assert anonymous.get(f"{TYPES}/sales-order/schema").status_code == 401


def test_the_document_gives_each_type_its_own_operations_and_bodies(gateway: Gateway) -> None:
    with gateway.client(None) as anonymous:
        document = anonymous.get("/openapi.json").json()
    paths = document["paths"]
    assert f"{TYPES}/{{type}}/instances" not in paths
    create = paths[f"{TYPES}/sales-order/instances"]["post"]
    assert create["operationId"] == "createSalesOrder"
    record_ref = {"$ref": "#/components/schemas/SalesOrder-Input"}
    one, many = create["requestBody"]["content"]["application/json"]["schema"]["oneOf"]
    assert one == record_ref  # one record, or an array of them (bulk), or NDJSON of them
    assert many["type"] == "array" and many["maxItems"] == gateway.ctx.settings.bulk_max_items
    assert many["items"]["anyOf"][0] == record_ref
    assert create["requestBody"]["content"]["application/x-ndjson"]["schema"] == many
    assert create["responses"]["201"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/InstanceReceipt"}
    assert create["responses"]["200"]["content"]["application/json"]["schema"]["oneOf"][1] == {
        "$ref": "#/components/schemas/BulkResult"}
    assert paths[f"{TYPES}/sales-order/instances/{{key}}"]["get"]["responses"]["200"]["content"][
        "application/json"]["schema"] == {"$ref": "#/components/schemas/SalesOrder-Output"}
    assert {"orderId", "items", "total"} <= set(document["components"]["schemas"]["SalesOrder-Input"]["required"])
    for status in ("401", "404", "422"):
        assert "application/problem+json" in create["responses"][status]["content"]


@pytest.fixture
def client_models(gateway: Gateway, tmp_path: Path) -> Iterator[ModuleType]:
    """Models generated from the served document, imported as a client would."""
    with gateway.client(None) as anonymous:
        document = anonymous.get("/openapi.json").text
    code = generate(document, input_file_type=InputFileType.OpenAPI,
                    output_model_type=DataModelType.PydanticV2BaseModel, formatters=[])
    assert isinstance(code, str)
    path = tmp_path / "aadsys_client_models.py"
    path.write_text(code)
    spec = importlib.util.spec_from_file_location("aadsys_client_models", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def test_a_generated_client_model_validates_the_sample_sales_order(client_models: ModuleType,
                                                                   gateway: Gateway) -> None:
    order = client_models.SalesOrderInput.model_validate(CANONICAL_ORDER)
    assert order.orderId == "SO-1001" and order.items[0].quantity == 2
    client_models.JuiceProductInput.model_validate(record("juice-product"))
    client_models.SalesOrderStatus.model_validate(record("sales-order-status"))

    missing_key = copy.deepcopy(CANONICAL_ORDER)
    del missing_key["orderId"]
    wrong_type = copy.deepcopy(CANONICAL_ORDER)
    wrong_type["items"][0]["quantity"] = "two"
    unknown_field = {**CANONICAL_ORDER, "discountCode": "X"}
    for bad in (missing_key, wrong_type, unknown_field):
        with pytest.raises(pydantic.ValidationError):
            client_models.SalesOrderInput.model_validate(bad)

    # What the generated model accepts, the server stores; what it reads back fits the generated read model.
    sent = client_models.SalesOrderInput.model_validate(CANONICAL_ORDER).model_dump(mode="json", exclude_none=True)
    with gateway.client("write") as api:
        assert api.post(f"{TYPES}/sales-order/instances", json=sent).status_code == 201
        page = api.get(f"{TYPES}/sales-order/instances").content
    listed = client_models.SalesOrderPage.model_validate(orjson.loads(page))
    assert listed.items[0].data.orderId == "SO-1001"


def test_a_generated_client_model_reads_a_bulk_answer(client_models: ModuleType, gateway: Gateway) -> None:
    bad = {**CANONICAL_ORDER, "orderId": "SO-1002", "total": "1.00"}
    with gateway.client() as api:
        answer = api.post("/api/v1/asset-types/sales-order/instances", json=[CANONICAL_ORDER, bad, CANONICAL_ORDER])
    assert answer.status_code == 200, answer.text
    result = client_models.BulkResult.model_validate(answer.json())
    assert result.errors is True and [item.status for item in result.items] == [201, 422, 200]
