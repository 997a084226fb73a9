"""Every JSON we emit reads back through basyx unchanged and satisfies the metamodel (aas-core3.0)."""

from __future__ import annotations

import orjson
import pytest

from aas_models import (
    ASSET_TYPES,
    AasInvalid,
    AasModelError,
    Owner,
    business_json,
    file_reference,
    instance_from_aas,
    map_file_references,
    referenced_digest,
    render_instance,
    type_environment,
    validate_environment,
)
from tests.aas_models.basyx_check import basyx_round_trip, sorted_refs
from tests.aas_models.records import RECORDS, record

PEC = Owner("pec", "https://pec.example")
SLUGS = sorted(RECORDS)


@pytest.mark.parametrize("slug", SLUGS)
def test_instance_json_reads_back_through_basyx_into_equal_objects(slug: str) -> None:
    rendered = render_instance(slug, record(slug), PEC)
    assert basyx_round_trip(rendered.aas_json) == sorted_refs(rendered.aas_json)


@pytest.mark.parametrize("slug", SLUGS)
def test_instance_json_satisfies_every_metamodel_constraint(slug: str) -> None:
    validate_environment(orjson.loads(render_instance(slug, record(slug), PEC).aas_json))


@pytest.mark.parametrize("slug", SLUGS)
def test_type_environment_is_templates_without_values_and_valid(slug: str) -> None:
    env = type_environment(slug, PEC)
    validate_environment(env)
    raw = orjson.dumps(env)
    assert basyx_round_trip(raw) == sorted_refs(raw)
    (shell,) = env["assetAdministrationShells"]
    assert shell["id"] == f"https://pec.example/ids/aas/type/{slug}"
    assert shell["assetInformation"]["assetKind"] == "Type"
    assert {sm["kind"] for sm in env["submodels"]} == {"Template"}
    assert not [p for p in _properties(env["submodels"]) if "value" in p]


def _properties(elements: list[dict]) -> list[dict]:
    found = []
    for element in elements:
        if element.get("modelType") == "Property":
            found.append(element)
        children = element.get("submodelElements") or element.get("value")
        if isinstance(children, list):
            found += _properties(children)
    return found


def test_large_order_with_label_image_and_unicode_round_trips_through_basyx() -> None:
    order = record("sales-order")
    item = order["items"][0]
    item["labelText"] = 'Selamat Hari Raya "Aina" \\ 🎉 \n'
    item["labelImage"] = {"sha256": "ab" * 32, "contentType": "image/png"}
    order["items"] = [item] * 120
    order["total"] = "3096.00"
    rendered = render_instance("sales-order", order, PEC)
    assert basyx_round_trip(rendered.aas_json) == sorted_refs(rendered.aas_json)
    validate_environment(orjson.loads(rendered.aas_json))
    element = orjson.loads(rendered.aas_json)["submodels"][0]["submodelElements"][5]["value"][0]["value"][-1]
    assert element == {"idShort": "labelImage", "modelType": "File", "contentType": "image/png",
                       "value": "nih:sha-256;" + "ab" * 32}
    assert rendered.file_digests == ("ab" * 32,)


def test_file_references_name_files_by_digest_and_map_to_where_a_server_serves_them() -> None:
    order = record("sales-order")
    order["items"][0]["labelImage"] = {"sha256": "cd" * 32, "contentType": "image/png"}
    rendered = render_instance("sales-order", order, PEC)
    assert referenced_digest(file_reference("cd" * 32)) == "cd" * 32
    assert referenced_digest("/files/" + "cd" * 32) is None and referenced_digest("nih:sha-256;CD") is None
    served = map_file_references(rendered.aas_json, lambda digest: f"/somewhere/{digest}")
    assert served == rendered.aas_json.replace(b"nih:sha-256;", b"/somewhere/") != rendered.aas_json
    assert map_file_references(b'{"value":"nih:sha-256;' + b"cd" * 31 + b'"}', str.upper) == (
        b'{"value":"nih:sha-256;' + b"cd" * 31 + b'"}')  # not a whole digest: not a reference
    assert business_json("sales-order", orjson.loads(rendered.aas_json)) == rendered.record
    with pytest.raises(AasModelError, match=r"must name a stored file by its sha256, nih:sha-256;<64"):
        business_json("sales-order", orjson.loads(served))


def test_canonical_example_keeps_its_field_names_and_ids() -> None:
    rendered = render_instance("sales-order", record("sales-order"), PEC)
    env = orjson.loads(rendered.aas_json)
    shell, submodel = env["assetAdministrationShells"][0], env["submodels"][0]
    assert rendered.key == "SO-1001"
    assert shell["id"] == "https://pec.example/ids/aas/sales-order/SO-1001"
    assert shell["assetInformation"]["globalAssetId"] == "urn:pec:sales-order:SO-1001"
    assert submodel["semanticId"]["keys"][0]["value"] == "https://pec.example/ids/sm/SalesOrder/1/0"
    assert [e["idShort"] for e in submodel["submodelElements"]] == [
        "orderId", "orderDate", "customer", "channel", "currency", "items", "total", "requestedDate"]
    assert rendered.record == record("sales-order")


@pytest.mark.parametrize("slug", SLUGS)
def test_business_json_comes_back_unchanged(slug: str) -> None:
    rendered = render_instance(slug, record(slug), PEC)
    assert business_json(slug, rendered.aas_json) == record(slug)


def test_equal_records_render_to_equal_bytes_whatever_the_input_form() -> None:
    as_dict = render_instance("sales-order", record("sales-order"), PEC)
    as_bytes = render_instance("sales-order", orjson.dumps(record("sales-order")), PEC)
    shifted = record("sales-order")
    shifted["orderDate"] = "2026-11-22T18:15:00+08:00"  # the same moment, in Kuala Lumpur time
    assert as_dict.aas_json == as_bytes.aas_json == render_instance("sales-order", shifted, PEC).aas_json


def test_a_new_revision_changes_administration_and_digest_only() -> None:
    first = render_instance("sales-order-status", record("sales-order-status"), PEC)
    second = render_instance("sales-order-status", record("sales-order-status"), PEC, revision=2)
    assert first.sha256 != second.sha256
    env = orjson.loads(second.aas_json)
    assert env["submodels"][0]["administration"] == {"version": "1", "revision": "2"}
    assert business_json("sales-order-status", second.aas_json) == first.record


@pytest.mark.parametrize("slug", SLUGS)
def test_aas_json_input_gives_the_same_instance_as_business_json(slug: str) -> None:
    rendered = render_instance(slug, record(slug), PEC)
    assert instance_from_aas(slug, rendered.aas_json, PEC) == rendered


def test_aas_input_with_an_element_the_template_lacks_names_its_path() -> None:
    env = orjson.loads(render_instance("sales-order", record("sales-order"), PEC).aas_json)
    env["submodels"][0]["submodelElements"].append(
        {"idShort": "discount", "modelType": "Property", "valueType": "xs:string", "value": "10%"})
    with pytest.raises(AasInvalid) as caught:
        instance_from_aas("sales-order", env, PEC)
    assert caught.value.errors[0]["path"] == "submodels[0].submodelElements[8].idShort"


def test_aas_input_breaking_the_metamodel_is_refused_with_a_path() -> None:
    env = orjson.loads(render_instance("sales-order", record("sales-order"), PEC).aas_json)
    env["assetAdministrationShells"][0]["idShort"] = "1-not-an-id-short"
    with pytest.raises(AasInvalid) as caught:
        instance_from_aas("sales-order", env, PEC)
    assert "id_short" in caught.value.errors[0]["path"]


@pytest.mark.parametrize("payload", [b"{not json", b"[]", b'{"assetAdministrationShells": []}'])
def test_malformed_aas_input_is_refused(payload: bytes) -> None:
    with pytest.raises(AasInvalid):
        instance_from_aas("sales-order", payload, PEC)


def test_every_asset_type_is_registered() -> None:
    assert set(ASSET_TYPES) == {"sales-order", "sales-order-status", "juice-product"}
    assert ASSET_TYPES["sales-order-status"].versioned and not ASSET_TYPES["sales-order"].versioned


@pytest.mark.parametrize("slug", SLUGS)
def test_the_parts_written_with_a_record_are_what_parsing_its_environment_gives(slug: str) -> None:
    """Reads serve slices of stored bytes (issue 10): each must be exactly the object a parser finds there."""
    from aas_models.serialization import value_only

    changed = {**record(slug)}
    if slug == "sales-order":  # multi-byte UTF-8 before the submodel: offsets are bytes, not characters
        changed["items"] = [{**changed["items"][0], "labelText": "Grüße ☀ 果汁"}]
    rendered = render_instance(slug, changed, PEC)
    env = orjson.loads(rendered.aas_json)
    assert orjson.loads(rendered.aas_json[slice(*rendered.spans[0])]) == env["assetAdministrationShells"][0]
    assert [orjson.loads(sm) for sm in rendered.submodel_json] == env["submodels"]
    values, spans = rendered.value_json
    assert values == orjson.dumps([value_only(sm) for sm in env["submodels"]])
    assert [orjson.loads(values[start:end]) for start, end in spans] == [value_only(sm) for sm in env["submodels"]]
    assert orjson.loads(rendered.business_bytes) == business_json(slug, rendered.aas_json)
    assert rendered.business_bytes == orjson.dumps(business_json(slug, rendered.aas_json))


ODD_TEXT = 'quote " backslash \\ tab \t newline \n nul \x00 \x1f del \x7f \u2028 Grüße ☀ 果汁 😀'


@pytest.mark.parametrize("seed", range(12))
def test_the_value_form_written_from_the_record_is_byte_for_byte_what_parsing_its_submodels_gives(seed: int) -> None:
    """ValueOnly is written by the templates, not parsed back out of the AAS JSON: the two must never differ."""
    from aadsys.samples import sales_order
    from aas_models.serialization import value_only

    order = sales_order(f"SO-{seed}", target_bytes=(2_000, 20_000, 100_000)[seed % 3], seed=seed)
    order["customer"]["displayName"] = ODD_TEXT[: 8 + seed * 4]
    order["items"][0]["labelText"] = ODD_TEXT
    status = {**record("sales-order-status"), "rfidTag": f"E200-{seed}"}
    product = record("juice-product")
    product["nutritionFacts"] |= {"sugarG": ("21", "0.5", "7.25", "26.500")[seed % 4]}
    for slug, business in (("sales-order", order), ("sales-order-status", status), ("juice-product", product)):
        rendered = render_instance(slug, business, PEC)
        parsed = [value_only(orjson.loads(sm)) for sm in rendered.submodel_json]
        values, spans = rendered.value_json
        assert values == orjson.dumps(parsed), slug
        assert [values[start:end] for start, end in spans] == [orjson.dumps(v) for v in parsed], slug
