"""IDTA AAS Part 2 v3.0 read profiles (AAS Repository SSP-002, Submodel Repository SSP-002), endpoint by endpoint."""

from __future__ import annotations

import io
import json

import httpx
import orjson
import pytest
from basyx.aas.adapter.json import read_aas_json_file

from aas_models import validate_environment
from tests.aadsys.part2.conftest import b64
from tests.aadsys.part2.environment import BLOB, ENVIRONMENT, NAMEPLATE_ID, SHELL_ID, STATIONS_ID
from tests.support.live_server import loopback_get

SHELL, NAMEPLATE, STATIONS = b64(SHELL_ID), b64(NAMEPLATE_ID), b64(STATIONS_ID)


def _error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    (message,) = response.json()["messages"]
    assert message["code"] == str(status) and message["messageType"] == "Error" and message["timestamp"]
    return str(message["text"])


def test_fixture_environment_is_valid_aas() -> None:
    validate_environment(ENVIRONMENT)


def test_description_names_both_profiles(api: httpx.Client) -> None:
    assert api.get("/description").json()["profiles"] == [
        "https://admin-shell.io/aas/API/3/0/AssetAdministrationShellRepositoryServiceSpecification/SSP-002",
        "https://admin-shell.io/aas/API/3/0/SubmodelRepositoryServiceSpecification/SSP-002"]


def test_shells_page_with_limit_and_cursor(api: httpx.Client) -> None:
    first = api.get("/shells", params={"limit": 1}).json()
    assert [s["id"] for s in first["result"]] == [SHELL_ID]
    second = api.get("/shells", params={"limit": 1, "cursor": first["paging_metadata"]["cursor"]}).json()
    assert [s["idShort"] for s in second["result"]] == ["Spare"] and second["paging_metadata"] == {}


def test_shells_filter_by_id_short_and_asset_ids(api: httpx.Client) -> None:
    assert [s["idShort"] for s in api.get("/shells", params={"idShort": "Spare"}).json()["result"]] == ["Spare"]
    wanted = b64(json.dumps({"name": "serialNumber", "value": "SN-42"}))
    assert [s["id"] for s in api.get("/shells", params={"assetIds": wanted}).json()["result"]] == [SHELL_ID]
    assert "SpecificAssetId" in _error(api.get("/shells", params={"assetIds": b64("[1]")}), 400)


def test_shell_and_its_parts(api: httpx.Client) -> None:
    shell = api.get(f"/shells/{SHELL}").json()
    assert shell == ENVIRONMENT["assetAdministrationShells"][0]
    read_aas_json_file(io.StringIO(json.dumps({"assetAdministrationShells": [shell]})), failsafe=False)
    assert api.get(f"/shells/{SHELL}/$reference").json() == {
        "type": "ModelReference", "keys": [{"type": "AssetAdministrationShell", "value": SHELL_ID}]}
    assert api.get(f"/shells/{SHELL}/asset-information").json()["globalAssetId"] == "urn:omis:line:L1"
    thumbnail = api.get(f"/shells/{SHELL}/asset-information/thumbnail")
    assert thumbnail.content == b"\x89PNG thumbnail" and thumbnail.headers["content-type"] == "image/png"
    refs = api.get(f"/shells/{SHELL}/submodel-refs", params={"limit": 1}).json()
    assert refs["result"][0]["keys"][0]["value"] == NAMEPLATE_ID and refs["paging_metadata"]["cursor"]
    _error(api.get(f"/shells/{b64('https://omis.example/ids/aas/line/L2')}/asset-information/thumbnail"), 404)


def test_submodel_through_its_shell(api: httpx.Client) -> None:
    via_shell = api.get(f"/shells/{SHELL}/submodels/{NAMEPLATE}").json()
    assert via_shell == api.get(f"/submodels/{NAMEPLATE}").json()
    assert api.get(f"/shells/{SHELL}/submodels/{NAMEPLATE}/submodel-elements/stations/$value").json() == 6
    spare = b64("https://omis.example/ids/aas/line/L2")
    assert "refers to no submodel" in _error(api.get(f"/shells/{spare}/submodels/{NAMEPLATE}"), 404)


def test_submodels_filter_by_semantic_id(api: httpx.Client) -> None:
    semantic = b64("https://omis.example/ids/sm/Nameplate/1/0")
    found = api.get("/submodels", params={"semanticId": semantic}).json()["result"]
    assert [s["id"] for s in found] == [NAMEPLATE_ID]
    assert [s["id"] for s in api.get("/submodels", params={"idShort": "Stations"}).json()["result"]] == [STATIONS_ID]


def test_submodel_reads_back_through_basyx(api: httpx.Client) -> None:
    submodels = [api.get(f"/submodels/{i}", params={"extent": "withBlobValue"}).json() for i in (NAMEPLATE, STATIONS)]
    read_aas_json_file(io.StringIO(json.dumps({"submodels": submodels})), failsafe=False)
    assert submodels == ENVIRONMENT["submodels"]


def test_blob_values_only_with_extent_with_blob_value(api: httpx.Client) -> None:
    without = api.get(f"/submodels/{NAMEPLATE}/submodel-elements/firmware").json()
    assert "value" not in without
    assert api.get(f"/submodels/{NAMEPLATE}/submodel-elements/firmware",
                   params={"extent": "withBlobValue"}).json()["value"]


def test_level_core_keeps_direct_children_only(api: httpx.Client) -> None:
    core = api.get(f"/submodels/{STATIONS}", params={"level": "core"}).json()
    line = core["submodelElements"][0]
    assert line["idShort"] == "line" and "value" not in line
    deep = api.get(f"/submodels/{STATIONS}/submodel-elements/line", params={"level": "core"}).json()
    assert [e["idShort"] for e in deep["value"]] == ["name", "stations"] and "value" not in deep["value"][1]


def test_value_only_of_every_element_kind(api: httpx.Client) -> None:
    assert api.get(f"/submodels/{NAMEPLATE}/$value", params={"extent": "withBlobValue"}).json() == {
        "stations": 6, "running": True, "speed": 1.5, "maker": "OMIS",
        "motto": [{"en": "Fresh"}, {"ms": "Segar"}], "temperature": {"min": 2, "max": 8},
        "manual": {"contentType": "application/pdf", "value": "/api/v1/files/" + "ef" * 32},
        "firmware": {"contentType": "application/octet-stream",
                     "value": ENVIRONMENT["submodels"][0]["submodelElements"][7]["value"]},
        "operator": {"type": "ModelReference", "keys": [{"type": "Submodel", "value": STATIONS_ID}]},
    }
    stations = api.get(f"/submodels/{STATIONS}/$value").json()
    assert stations["line"] == {"name": "Line 1", "stations": [{"name": "filling"}, {"name": "capping"}]}
    assert stations["robot"] == {"statements": {"axes": 6}, "entityType": "SelfManagedEntity",
                                 "globalAssetId": "urn:omis:robot:R1"}
    assert set(stations["feeds"]) == {"first", "second"}


def test_metadata_leaves_values_out(api: httpx.Client) -> None:
    meta = api.get(f"/submodels/{NAMEPLATE}/$metadata").json()
    assert meta["id"] == NAMEPLATE_ID and "submodelElements" not in meta
    prop = api.get(f"/submodels/{NAMEPLATE}/submodel-elements/stations/$metadata").json()
    assert prop == {"idShort": "stations", "modelType": "Property", "valueType": "xs:int"}
    listed = api.get(f"/submodels/{NAMEPLATE}/submodel-elements/$metadata").json()["result"]
    assert all("value" not in e for e in listed)


def test_paths_and_references_of_elements(api: httpx.Client) -> None:
    assert api.get(f"/submodels/{STATIONS}/$path").json() == [
        "line", "line.name", "line.stations", "line.stations[0]", "line.stations[0].name", "line.stations[1]",
        "line.stations[1].name", "robot", "robot.axes", "feeds"]
    assert api.get(f"/submodels/{STATIONS}/$path", params={"level": "core"}).json() == ["line", "robot", "feeds"]
    reference = api.get(f"/submodels/{STATIONS}/submodel-elements/line.stations[1].name/$reference").json()
    assert reference["keys"] == [
        {"type": "Submodel", "value": STATIONS_ID}, {"type": "SubmodelElementCollection", "value": "line"},
        {"type": "SubmodelElementList", "value": "stations"}, {"type": "SubmodelElementCollection", "value": "1"},
        {"type": "Property", "value": "name"}]
    assert api.get(f"/submodels/{STATIONS}/submodel-elements/line.stations[1].name/$value").json() == "capping"
    assert api.get(f"/submodels/{STATIONS}/$reference").json()["keys"] == [{"type": "Submodel", "value": STATIONS_ID}]


def test_path_lists_are_flat_and_paged_by_path(api: httpx.Client) -> None:
    """What the IDTA test engine expects: one list of idShortPath strings, a page being so many paths."""
    first = api.get(f"/submodels/{STATIONS}/submodel-elements/$path", params={"limit": 3}).json()
    assert first["result"] == ["line", "line.name", "line.stations"]
    rest = api.get(f"/submodels/{STATIONS}/submodel-elements/$path",
                   params={"cursor": first["paging_metadata"]["cursor"]}).json()
    assert first["result"] + rest["result"] == api.get(f"/submodels/{STATIONS}/$path").json()
    everything = api.get("/submodels/$path", params={"limit": 1000}).json()["result"]
    assert everything[:2] == ["stations", "running"] and "line.stations[1].name" in everything
    assert api.get("/submodels/$path", params={"limit": 1}).json()["result"] == ["stations"]
    for size in (1, 2, 3, 5, 8):  # pages cut inside and across submodels add up to the whole list
        walked: list[str] = []
        cursor = None
        while True:
            page = api.get("/submodels/$path", params={"limit": size, **({"cursor": cursor} if cursor else {})})
            assert page.status_code == 200 and len(page.json()["result"]) <= size, page.text
            walked += page.json()["result"]
            cursor = page.json()["paging_metadata"].get("cursor")
            if cursor is None:
                break
        assert walked == everything, size
    assert _error(api.get("/submodels/$path", params={"cursor": "bm9wZQ"}), 400)
    assert api.get(f"/submodels/{STATIONS}/submodel-elements/line.stations/$path").json()[:2] == [
        "line.stations", "line.stations[0]"]
    leaf = api.get(f"/submodels/{STATIONS}/submodel-elements/line.name/$path")
    assert leaf.status_code == 400 and "Property" in leaf.json()["messages"][0]["text"]


def test_submodel_elements_page(api: httpx.Client) -> None:
    first = api.get(f"/submodels/{NAMEPLATE}/submodel-elements", params={"limit": 4}).json()
    assert [e["idShort"] for e in first["result"]] == ["stations", "running", "speed", "maker"]
    rest = api.get(f"/submodels/{NAMEPLATE}/submodel-elements",
                   params={"limit": 100, "cursor": first["paging_metadata"]["cursor"]}).json()
    assert len(rest["result"]) == 5 and rest["paging_metadata"] == {}
    values = api.get(f"/submodels/{NAMEPLATE}/submodel-elements/$value", params={"limit": 2}).json()["result"]
    assert values == [{"stations": 6}, {"running": True}]


def test_attachments_of_file_and_blob(api: httpx.Client) -> None:
    manual = api.get(f"/submodels/{NAMEPLATE}/submodel-elements/manual/attachment")
    assert manual.content == b"%PDF-1.7 manual" and manual.headers["content-type"] == "application/pdf"
    assert api.get(f"/submodels/{NAMEPLATE}/submodel-elements/firmware/attachment").content == BLOB
    assert "only File and Blob" in _error(api.get(f"/submodels/{NAMEPLATE}/submodel-elements/maker/attachment"), 400)


@pytest.mark.parametrize(("path", "params", "status", "words"), [
    ("/shells/%%%not-base64", {}, 400, "base64url"),
    (f"/shells/{b64('urn:nothing')}", {}, 404, "urn:nothing"),
    (f"/submodels/{b64('urn:nothing')}/$value", {}, 404, "urn:nothing"),
    (f"/submodels/{NAMEPLATE}/submodel-elements/nope", {}, 404, "nope"),
    (f"/submodels/{NAMEPLATE}/submodel-elements/a..b", {}, 400, "malformed"),
    (f"/submodels/{STATIONS}/submodel-elements/line.stations[7]", {}, 404, "[7]"),
    ("/shells", {"limit": 0}, 400, "limit"),
    ("/shells", {"limit": "many"}, 400, "limit"),
    ("/shells", {"cursor": "garbage!"}, 400, "cursor"),
    (f"/submodels/{NAMEPLATE}", {"level": "shallow"}, 400, "level"),
    (f"/submodels/{NAMEPLATE}", {"extent": "all"}, 400, "extent"),
])
def test_bad_requests_get_a_result_body_naming_what_is_wrong(api: httpx.Client, path: str, params: dict,
                                                             status: int, words: str) -> None:
    assert words in _error(api.get(path, params=params), status)


def test_authentication_errors_are_result_bodies(api: httpx.Client) -> None:
    anonymous = loopback_get(str(api.base_url).rstrip("/") + "/shells")
    assert "X-API-Key" in _error(anonymous, 401)
    assert anonymous.headers["www-authenticate"].startswith("ApiKey")
    assert "read" in _error(api.get("/shells", headers={"X-API-Key": "writer-only"}), 403)


def test_openapi_lists_each_operation_once(api: httpx.Client) -> None:
    spec = orjson.loads(loopback_get(str(api.base_url).rstrip("/").removesuffix("/api/v3.0") + "/openapi.json").content)
    operations = [op["operationId"] for item in spec["paths"].values() for op in item.values()]
    assert len(operations) == len(set(operations)) >= 40
